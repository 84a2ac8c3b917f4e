"""workshops: a data version of attendance (kept by triggers), so dosage is computed once per
change of what it is computed from

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

from rlc_shared.versions import create_data_version, create_data_version_table, drop_data_version

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: What dosage and attendance lists are computed from.
ATTENDANCE_TABLES = (
    "attendance",
    "attendee",
    "cohort_session",
    "enrolment",
    "compliance_rule",
    "threshold_setting",
)


def upgrade() -> None:
    create_data_version_table(op)
    create_data_version(op, group="attendance", tables=ATTENDANCE_TABLES)


def downgrade() -> None:
    drop_data_version(op, group="attendance", tables=ATTENDANCE_TABLES)
    op.drop_table("data_version")
