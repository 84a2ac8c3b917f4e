"""recruitment: a data version of the schools, their GIAS emails and staff (kept by triggers),
so a school's record is read from the database once per change, not once per request

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08
"""

from collections.abc import Sequence

from alembic import op

from rlc_shared.versions import create_data_version, create_data_version_table, drop_data_version

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHOOL_TABLES = ("school", "school_email", "staff_member")


def upgrade() -> None:
    create_data_version_table(op)
    create_data_version(op, group="schools", tables=SCHOOL_TABLES)


def downgrade() -> None:
    drop_data_version(op, group="schools", tables=SCHOOL_TABLES)
    op.drop_table("data_version")
