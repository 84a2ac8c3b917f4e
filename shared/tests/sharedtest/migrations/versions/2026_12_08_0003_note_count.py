"""sharedtest: a second data version group over the same table (groups are independent)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08
"""

from collections.abc import Sequence

from alembic import op

from rlc_shared.versions import create_data_version, drop_data_version

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_data_version(op, group="note_count", tables=["note"])


def downgrade() -> None:
    drop_data_version(op, group="note_count", tables=["note"])
