"""allocation statement: where the randomisation log holds each school's allocation

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
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
    with op.batch_alter_table("school", schema=None) as batch_op:
        batch_op.add_column(sa.Column("randomisation_log_index", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "randomisation_entry_hash",
                sqlmodel.sql.sqltypes.AutoString(length=64),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("school", schema=None) as batch_op:
        batch_op.drop_column("randomisation_entry_hash")
        batch_op.drop_column("randomisation_log_index")
