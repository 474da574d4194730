"""The chat core: sites, agents, sessions, presence, contacts, conversations, messages.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "instance",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "sites",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("public_key", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("allowed_origins", sa.JSON, nullable=False),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "agents",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("max_chats", sa.Integer, nullable=False),
        sa.Column("availability", sa.String(16), nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "agent_sites",
        sa.Column("agent_id", sa.String(32), sa.ForeignKey("agents.id"), primary_key=True),
        sa.Column("site_id", sa.String(32), sa.ForeignKey("sites.id"), primary_key=True),
    )
    op.create_table(
        "agent_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("agent_id", sa.String(32), sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_agent_sessions_agent_id", "agent_sessions", ["agent_id"])
    op.create_table(
        "presence",
        sa.Column("socket_id", sa.String(32), primary_key=True),
        sa.Column("agent_id", sa.String(32), sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("process_id", sa.String(32), nullable=False),
        sa.Column("seen_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_presence_agent_id", "presence", ["agent_id"])
    op.create_index("ix_presence_process_id", "presence", ["process_id"])
    op.create_table(
        "contacts",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("site_id", sa.String(32), sa.ForeignKey("sites.id"), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("email", sa.String(320)),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_contacts_site_id", "contacts", ["site_id"])
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("site_id", sa.String(32), sa.ForeignKey("sites.id"), nullable=False),
        sa.Column("contact_id", sa.String(32), sa.ForeignKey("contacts.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("agent_id", sa.String(32), sa.ForeignKey("agents.id")),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("last_seq", sa.Integer, nullable=False),
        sa.Column("visitor_delivered_seq", sa.Integer, nullable=False),
        sa.Column("visitor_read_seq", sa.Integer, nullable=False),
        sa.Column("agent_delivered_seq", sa.Integer, nullable=False),
        sa.Column("agent_read_seq", sa.Integer, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("queued_at", sa.BigInteger),
        sa.Column("assigned_at", sa.BigInteger),
        sa.Column("closed_at", sa.BigInteger),
        sa.UniqueConstraint("contact_id", "client_id", name="uq_conversations_client_id"),
    )
    op.create_index("ix_conversations_contact_id", "conversations", ["contact_id"])
    op.create_index("ix_conversations_site_status", "conversations", ["site_id", "status"])
    op.create_index("ix_conversations_agent_status", "conversations", ["agent_id", "status"])
    op.create_table(
        "messages",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "conversation_id", sa.String(32), sa.ForeignKey("conversations.id"), nullable=False
        ),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("author_kind", sa.String(16), nullable=False),
        sa.Column("author_id", sa.String(32), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("conversation_id", "seq", name="uq_messages_seq"),
        sa.UniqueConstraint(
            "conversation_id", "author_kind", "author_id", "client_id",
            name="uq_messages_client_id",
        ),
    )


def downgrade() -> None:
    for table in (
        "messages", "conversations", "contacts", "presence", "agent_sessions",
        "agent_sites", "agents", "sites", "instance",
    ):
        op.drop_table(table)
