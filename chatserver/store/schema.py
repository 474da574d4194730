"""The tables, as SQLAlchemy Core objects; migrations/ creates and changes them."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# Times are integer milliseconds since the epoch: one portable type on SQLite and PostgreSQL,
# and exactly what the JavaScript clients use.

instance = Table(
    "instance",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

sites = Table(
    "sites",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("public_key", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("allowed_origins", JSON, nullable=False),
    Column("settings", JSON, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

agents = Table(
    "agents",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("role", String(16), nullable=False),
    Column("max_chats", Integer, nullable=False),
    Column("availability", String(16), nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

agent_sites = Table(
    "agent_sites",
    metadata,
    Column("agent_id", String(32), ForeignKey("agents.id"), primary_key=True),
    Column("site_id", String(32), ForeignKey("sites.id"), primary_key=True),
)

agent_sessions = Table(
    "agent_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("agent_id", String(32), ForeignKey("agents.id"), nullable=False, index=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
)

# One row per live agent socket, refreshed by the process that holds it; a row whose
# process died stops counting once seen_at is older than the presence TTL.
presence = Table(
    "presence",
    metadata,
    Column("socket_id", String(32), primary_key=True),
    Column("agent_id", String(32), ForeignKey("agents.id"), nullable=False, index=True),
    Column("process_id", String(32), nullable=False, index=True),
    Column("seen_at", BigInteger, nullable=False),
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("site_id", String(32), ForeignKey("sites.id"), nullable=False, index=True),
    Column("name", String(200)),
    Column("email", String(320)),
    Column("created_at", BigInteger, nullable=False),
)

conversations = Table(
    "conversations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("site_id", String(32), ForeignKey("sites.id"), nullable=False),
    Column("contact_id", String(32), ForeignKey("contacts.id"), nullable=False, index=True),
    Column("status", String(16), nullable=False),
    Column("agent_id", String(32), ForeignKey("agents.id")),
    # The visitor's client id for the first message: a resent start opens no second chat.
    Column("client_id", String(64), nullable=False),
    Column("last_seq", Integer, nullable=False),
    Column("visitor_delivered_seq", Integer, nullable=False),
    Column("visitor_read_seq", Integer, nullable=False),
    Column("agent_delivered_seq", Integer, nullable=False),
    Column("agent_read_seq", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("queued_at", BigInteger),
    Column("assigned_at", BigInteger),
    Column("closed_at", BigInteger),
    UniqueConstraint("contact_id", "client_id", name="uq_conversations_client_id"),
    Index("ix_conversations_site_status", "site_id", "status"),
    Index("ix_conversations_agent_status", "agent_id", "status"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("conversation_id", String(32), ForeignKey("conversations.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("author_kind", String(16), nullable=False),
    Column("author_id", String(32), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("conversation_id", "seq", name="uq_messages_seq"),
    # A resend of the same client message id by the same author is the same message.
    UniqueConstraint(
        "conversation_id", "author_kind", "author_id", "client_id", name="uq_messages_client_id"
    ),
)
