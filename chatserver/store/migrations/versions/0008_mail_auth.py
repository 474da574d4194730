"""Held mail says why in words too: quarantine.detail (e.g. "DKIM signature did not verify").

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("quarantine", sa.Column("detail", sa.Text()))


def downgrade() -> None:
    with op.batch_alter_table("quarantine") as table:
        table.drop_column("detail")
