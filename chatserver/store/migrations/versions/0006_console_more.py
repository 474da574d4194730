"""The console, continued: private notes in chats, visitors' searches, visitors' time zones.

Revision ID: 0006
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_notes",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "conversation_id", sa.String(32), sa.ForeignKey("conversations.id"), nullable=False,
            index=True,
        ),
        sa.Column("agent_id", sa.String(32), sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint(
            "conversation_id", "agent_id", "client_id", name="uq_chat_notes_client_id"
        ),
    )
    op.create_table(
        "visitor_searches",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "contact_id", sa.String(32), sa.ForeignKey("contacts.id"), nullable=False, index=True
        ),
        sa.Column("query", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    # An IANA zone like Europe/Amsterdam, from the visitor's browser; NULL when unknown.
    op.add_column("contacts", sa.Column("timezone", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("contacts") as batch:  # SQLite drops columns by copying the table
        batch.drop_column("timezone")
    op.drop_table("visitor_searches")
    op.drop_table("chat_notes")
