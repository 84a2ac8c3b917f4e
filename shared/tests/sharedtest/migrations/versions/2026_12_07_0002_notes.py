"""sharedtest: notes, tracked by a data version

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from rlc_shared.versions import create_data_version, create_data_version_table, drop_data_version

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_data_version_table(op)
    op.create_table(
        "note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("text", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_note")),
    )
    create_data_version(op, group="notes", tables=["note"])


def downgrade() -> None:
    drop_data_version(op, group="notes", tables=["note"])
    op.drop_table("note")
    op.drop_table("data_version")
