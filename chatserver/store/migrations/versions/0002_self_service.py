"""Self-service and the customer in view: articles, views, ratings, contact details.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_CONTACT_COLUMNS = (
    sa.Column("external_id", sa.String(200)),
    sa.Column("locale", sa.String(8)),
    sa.Column("page_url", sa.Text),
    sa.Column("page_title", sa.Text),
    sa.Column("referrer", sa.Text),
    sa.Column("user_agent", sa.Text),
    sa.Column("last_seen_at", sa.BigInteger),
)


def upgrade() -> None:
    with op.batch_alter_table("contacts") as contacts:
        for column in _CONTACT_COLUMNS:
            contacts.add_column(column)
    op.create_index("uq_contacts_external_id", "contacts", ["site_id", "external_id"], unique=True)
    with op.batch_alter_table("conversations") as conversations:
        conversations.add_column(sa.Column("resolution", sa.String(16)))
    op.create_table(
        "articles",
        sa.Column("locale", sa.String(8), primary_key=True),
        sa.Column("slug", sa.String(200), primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("synonyms", sa.JSON, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_articles_updated_at", "articles", ["updated_at"])
    op.create_table(
        "article_views",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("contact_id", sa.String(32), sa.ForeignKey("contacts.id"), nullable=False),
        sa.Column("conversation_id", sa.String(32), sa.ForeignKey("conversations.id")),
        sa.Column("locale", sa.String(8), nullable=False),
        sa.Column("slug", sa.String(200), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_article_views_contact_id", "article_views", ["contact_id"])
    op.create_table(
        "ratings",
        sa.Column(
            "conversation_id", sa.String(32), sa.ForeignKey("conversations.id"), primary_key=True
        ),
        sa.Column("score", sa.String(8), nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in ("ratings", "article_views", "articles"):
        op.drop_table(table)
    with op.batch_alter_table("conversations") as conversations:
        conversations.drop_column("resolution")
    op.drop_index("uq_contacts_external_id", "contacts")
    with op.batch_alter_table("contacts") as contacts:
        for column in _CONTACT_COLUMNS:
            contacts.drop_column(column.name)
