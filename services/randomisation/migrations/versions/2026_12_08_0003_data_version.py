"""randomisation: a data version of the log (kept by a trigger), so a page of the log is read
and parsed once per new entry, not once per request

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08
"""

from collections.abc import Sequence

from alembic import op

from rlc_shared.versions import create_data_version, create_data_version_table, drop_data_version

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOG_TABLES = ("log_entry",)


def upgrade() -> None:
    create_data_version_table(op)
    create_data_version(op, group="log", tables=LOG_TABLES)


def downgrade() -> None:
    drop_data_version(op, group="log", tables=LOG_TABLES)
    op.drop_table("data_version")
