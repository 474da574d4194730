"""Reports, SLAs and proactive chat: recorded breaches, proactive rules and shows, schedules.

Revision ID: 0005
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sla_breaches",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("site_id", sa.String(32), sa.ForeignKey("sites.id"), nullable=False),
        sa.Column("subject_kind", sa.String(8), nullable=False),
        sa.Column("subject_id", sa.String(32), nullable=False),
        sa.Column("metric", sa.String(16), nullable=False),
        sa.Column("target_seconds", sa.Integer, nullable=False),
        sa.Column("due_at", sa.BigInteger, nullable=False),
        sa.Column("agent_id", sa.String(32)),
        sa.Column("recorded_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("subject_kind", "subject_id", "metric", name="uq_sla_breaches_subject"),
    )
    op.create_index("ix_sla_breaches_site", "sla_breaches", ["site_id", "due_at"])
    op.create_table(
        "proactive_rules",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("site_id", sa.String(32), sa.ForeignKey("sites.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("trigger", sa.String(8), nullable=False),
        sa.Column("value", sa.String(500), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("cap", sa.Integer, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_proactive_rules_site_id", "proactive_rules", ["site_id"])
    op.create_table(
        "proactive_shows",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("rule_id", sa.String(32), sa.ForeignKey("proactive_rules.id"), nullable=False),
        sa.Column("site_id", sa.String(32), sa.ForeignKey("sites.id"), nullable=False),
        sa.Column("contact_id", sa.String(32), sa.ForeignKey("contacts.id"), nullable=False),
        sa.Column("nth", sa.Integer, nullable=False),
        sa.Column("shown_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("rule_id", "contact_id", "nth", name="uq_proactive_shows_nth"),
    )
    op.create_index("ix_proactive_shows_site", "proactive_shows", ["site_id", "shown_at"])
    op.create_table(
        "staffing_schedule",
        sa.Column("site_id", sa.String(32), sa.ForeignKey("sites.id"), primary_key=True),
        sa.Column("weekday", sa.Integer, primary_key=True),
        sa.Column("hour", sa.Integer, primary_key=True),
        sa.Column("agents", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_index("ix_proactive_shows_site", "proactive_shows")
    op.drop_index("ix_proactive_rules_site_id", "proactive_rules")
    op.drop_index("ix_sla_breaches_site", "sla_breaches")
    for table in ("staffing_schedule", "proactive_shows", "proactive_rules", "sla_breaches"):
        op.drop_table(table)
