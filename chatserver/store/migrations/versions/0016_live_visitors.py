"""Live visitors: one row per widget socket, for the console's list of who is on a site now.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "live_visitors",
        sa.Column("socket_id", sa.String(32), primary_key=True),
        sa.Column("site_id", sa.String(32), sa.ForeignKey("sites.id"), nullable=False),
        sa.Column("contact_id", sa.String(32), nullable=False),
        sa.Column("process_id", sa.String(32), nullable=False),
        sa.Column("arrived_at", sa.BigInteger, nullable=False),
        sa.Column("seen_at", sa.BigInteger, nullable=False),
        sa.Column("left_at", sa.BigInteger),
    )
    op.create_index("ix_live_visitors_contact_id", "live_visitors", ["contact_id"])
    op.create_index("ix_live_visitors_process_id", "live_visitors", ["process_id"])
    op.create_index("ix_live_visitors_site", "live_visitors", ["site_id", "seen_at"])


def downgrade() -> None:
    for name in ("ix_live_visitors_site", "ix_live_visitors_process_id", "ix_live_visitors_contact_id"):
        op.drop_index(name, "live_visitors")
    op.drop_table("live_visitors")
