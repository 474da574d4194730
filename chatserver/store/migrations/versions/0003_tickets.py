"""Tickets: tickets, tags, entries, attachments, the mail outbox and quarantine.

Revision ID: 0003
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tickets",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("site_id", sa.String(32), sa.ForeignKey("sites.id"), nullable=False),
        sa.Column("contact_id", sa.String(32), sa.ForeignKey("contacts.id"), nullable=False),
        sa.Column(
            "conversation_id", sa.String(32), sa.ForeignKey("conversations.id"), unique=True
        ),
        sa.Column("client_id", sa.String(64)),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("assignee_id", sa.String(32), sa.ForeignKey("agents.id")),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("follow_up_of", sa.String(32)),
        sa.Column("thread_id", sa.String(255), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("solved_at", sa.BigInteger),
        sa.UniqueConstraint("contact_id", "client_id", name="uq_tickets_client_id"),
    )
    op.create_index("ix_tickets_contact_id", "tickets", ["contact_id"])
    op.create_index("ix_tickets_site_status", "tickets", ["site_id", "status", "updated_at"])
    op.create_table(
        "ticket_tags",
        sa.Column("ticket_id", sa.String(32), sa.ForeignKey("tickets.id"), primary_key=True),
        sa.Column("tag", sa.String(40), primary_key=True),
    )
    op.create_index("ix_ticket_tags_tag", "ticket_tags", ["tag"])
    op.create_table(
        "ticket_entries",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("ticket_id", sa.String(32), sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("author_id", sa.String(32)),
        sa.Column("client_id", sa.String(64)),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("message_id", sa.String(255)),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("ticket_id", "message_id", name="uq_ticket_entries_message_id"),
        sa.UniqueConstraint(
            "ticket_id", "author_id", "client_id", name="uq_ticket_entries_client_id"
        ),
    )
    op.create_index("ix_ticket_entries_ticket_id", "ticket_entries", ["ticket_id"])
    op.create_table(
        "attachments",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "entry_id", sa.String(32), sa.ForeignKey("ticket_entries.id"), nullable=False
        ),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(127), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_attachments_entry_id", "attachments", ["entry_id"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("ticket_id", sa.String(32), sa.ForeignKey("tickets.id")),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False, unique=True),
        sa.Column("sender", sa.String(320), nullable=False),
        sa.Column("recipients", sa.JSON, nullable=False),
        sa.Column("raw", sa.LargeBinary, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger, nullable=False),
        sa.Column("claimed_until", sa.BigInteger),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("sent_at", sa.BigInteger),
    )
    op.create_index("ix_outbox_ticket_id", "outbox", ["ticket_id"])
    op.create_index("ix_outbox_due", "outbox", ["status", "next_attempt_at"])
    op.create_table(
        "quarantine",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("ticket_id", sa.String(32)),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("sender", sa.String(320), nullable=False),
        sa.Column("recipients", sa.JSON, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("raw", sa.LargeBinary, nullable=False),
        sa.Column("received_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_quarantine_received_at", "quarantine", ["received_at"])


def downgrade() -> None:
    for table in ("quarantine", "outbox", "attachments", "ticket_entries", "ticket_tags", "tickets"):
        op.drop_table(table)
