"""Files and images in chats: the files table, and the files a message carries.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("site_id", sa.String(32), sa.ForeignKey("sites.id"), nullable=False),
        sa.Column("conversation_id", sa.String(32), sa.ForeignKey("conversations.id"),
                  nullable=False),
        sa.Column("uploader_kind", sa.String(16), nullable=False),
        sa.Column("uploader_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(127), nullable=False),
        sa.Column("inline", sa.Boolean, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_files_conversation_id", "files", ["conversation_id"])
    op.add_column("messages", sa.Column("files", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:  # SQLite drops columns by copying the table
        batch.drop_column("files")
    op.drop_index("ix_files_conversation_id", "files")
    op.drop_table("files")
