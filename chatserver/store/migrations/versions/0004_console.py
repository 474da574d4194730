"""The agent console: sign-in attempts, site secrets, canned responses, agents' language.

Revision ID: 0004
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_attempts",
        sa.Column("key_hash", sa.String(64), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("first_failed_at", sa.BigInteger, nullable=False),
        sa.Column("locked_until", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "site_secrets",
        sa.Column("site_id", sa.String(32), sa.ForeignKey("sites.id"), primary_key=True),
        sa.Column("identity_secret", sa.Text),
        sa.Column("identity_enforced", sa.Boolean, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "canned_responses",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("site_id", sa.String(32), sa.ForeignKey("sites.id"), nullable=False),
        sa.Column("shortcut", sa.String(32), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("site_id", "shortcut", name="uq_canned_responses_shortcut"),
    )
    # NULL: follow the browser's language.
    op.add_column("agents", sa.Column("locale", sa.String(8)))


def downgrade() -> None:
    with op.batch_alter_table("agents") as batch:  # SQLite drops columns by copying the table
        batch.drop_column("locale")
    for table in ("canned_responses", "site_secrets", "login_attempts"):
        op.drop_table(table)
