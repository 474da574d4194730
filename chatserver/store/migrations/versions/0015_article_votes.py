"""The help centre: articles in categories, and "Was this helpful?" votes.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("articles") as articles:
        articles.add_column(sa.Column("category", sa.String(80), nullable=False, server_default=""))
    op.create_table(
        "article_votes",
        sa.Column("site_id", sa.String(32), sa.ForeignKey("sites.id"), primary_key=True),
        sa.Column("locale", sa.String(8), primary_key=True),
        sa.Column("slug", sa.String(200), primary_key=True),
        sa.Column("voter", sa.String(64), primary_key=True),
        sa.Column("helpful", sa.Boolean, nullable=False),
        sa.Column("network", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_article_votes_network", "article_votes",
                    ["site_id", "locale", "slug", "network", "created_at"])
    op.create_index("ix_article_votes_updated_at", "article_votes", ["site_id", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_article_votes_updated_at", "article_votes")
    op.drop_index("ix_article_votes_network", "article_votes")
    op.drop_table("article_votes")
    with op.batch_alter_table("articles") as articles:
        articles.drop_column("category")
