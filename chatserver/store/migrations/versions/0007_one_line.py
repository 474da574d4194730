"""Join the feature branches (0002-0006, all children of 0001) into one line of history.

Nothing changes in the schema; from here each migration has exactly one parent.

Revision ID: 0007
Revises: 0002, 0003, 0004, 0005, 0006
"""

revision = "0007"
down_revision = ("0002", "0003", "0004", "0005", "0006")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
