"""surveys: a data version of the responses (kept by triggers), so counts per school are made
once per change of the responses

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

from rlc_shared.versions import create_data_version, create_data_version_table, drop_data_version

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RESPONSE_TABLES = ("survey_response",)


def upgrade() -> None:
    create_data_version_table(op)
    create_data_version(op, group="responses", tables=RESPONSE_TABLES)


def downgrade() -> None:
    drop_data_version(op, group="responses", tables=RESPONSE_TABLES)
    op.drop_table("data_version")
