"""Limits and blocks (issue 15): blocked visitors and networks, proven email addresses,
and the network a visitor's token was issued to.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blocks",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("site_id", sa.String(32), sa.ForeignKey("sites.id"), nullable=False, index=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(64), nullable=False),
        sa.Column("note", sa.String(200)),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("hits", sa.BigInteger, nullable=False),
        sa.Column("last_hit_at", sa.BigInteger),
        sa.UniqueConstraint("site_id", "kind", "value", name="uq_blocks_target"),
    )
    op.create_table(
        "email_proofs",
        sa.Column("contact_id", sa.String(32), sa.ForeignKey("contacts.id"), primary_key=True),
        sa.Column("email", sa.String(320), primary_key=True),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("tries_left", sa.Integer, nullable=False),
        sa.Column("proven_at", sa.BigInteger),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.add_column("contacts", sa.Column("last_address", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("contacts") as batch:  # SQLite drops columns by copying the table
        batch.drop_column("last_address")
    op.drop_table("email_proofs")
    op.drop_table("blocks")
