"""Channels: each conversation and ticket keeps the channel it came from.

Conversations so far all came from the widget (chat). Tickets made from a mail say so in
their source; every other ticket was handed over from a chat.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("conversations", "tickets"):
        op.add_column(
            table, sa.Column("channel", sa.String(64), nullable=False, server_default="chat")
        )
    tickets = sa.table("tickets", sa.column("source", sa.String), sa.column("channel", sa.String))
    op.execute(tickets.update().where(tickets.c.source == "email").values(channel="email"))


def downgrade() -> None:
    for table in ("tickets", "conversations"):
        with op.batch_alter_table(table) as batch:  # SQLite drops columns by copying the table
            batch.drop_column("channel")
