"""surveys: a data version of the rounds and their codebooks (kept by triggers), so a round is
read from the database once per change, not once per request

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08
"""

from collections.abc import Sequence

from alembic import op

from rlc_shared.versions import create_data_version, drop_data_version

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROUND_TABLES = ("survey_round", "codebook_version")


def upgrade() -> None:
    create_data_version(op, group="rounds", tables=ROUND_TABLES)


def downgrade() -> None:
    drop_data_version(op, group="rounds", tables=ROUND_TABLES)
