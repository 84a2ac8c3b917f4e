"""teacher staff: the recruitment staff records (hashed ids) a teacher's respondent email
matched, re-checked for later withdrawals

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "teacher_staff",
        sa.Column("teacher_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("staff_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("urn", sa.Integer(), nullable=False),
        sa.Column("found_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("teacher_key", "staff_hash", name=op.f("pk_teacher_staff")),
    )


def downgrade() -> None:
    op.drop_table("teacher_staff")
