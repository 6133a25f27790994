"""monitoring alerts, known issues (seeded), remediation attempts

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-02
"""
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "alert_event",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("received_at", TZ, nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("fingerprint", sa.String(100), nullable=False),
        sa.Column("starts_at", TZ, nullable=False),
        sa.Column("ends_at", TZ, nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("severity", sa.String(30), nullable=False),
        sa.Column("service", sa.String(100), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("annotations", sa.JSON(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("triage_state", sa.String(20), nullable=False),
        sa.Column("triage_started", sa.String(100), nullable=True),
        sa.Column("decision", sa.JSON(), nullable=True),
        sa.Column("remediation", sa.String(500), nullable=True),
        sa.Column("issue_number", sa.Integer(), nullable=True),
        sa.Column("issue_url", sa.String(500), nullable=True),
        sa.Column("issue_action", sa.String(30), nullable=True),
        sa.Column("slack_channel", sa.String(100), nullable=True),
        sa.Column("slack_ts", sa.String(50), nullable=True),
        sa.Column("resolved_at", TZ, nullable=True),
        sa.Column("resolution_told", sa.Boolean(), nullable=False),
        sa.Column("issue_closed_at", TZ, nullable=True),
        sa.Column("false_positive", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("fingerprint", "starts_at", name="uq_alert_event_fingerprint_start"),
    )
    op.create_index("ix_alert_event_received_at", "alert_event", ["received_at"])
    op.create_index("ix_alert_event_fingerprint", "alert_event", ["fingerprint"])
    op.create_index("ix_alert_event_name", "alert_event", ["name"])
    op.create_index("ix_alert_event_triage_state", "alert_event", ["triage_state"])
    known = op.create_table(
        "known_issue",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("pattern", sa.String(2000), nullable=False),
        sa.Column("real", sa.Boolean(), nullable=False),
        sa.Column("category", sa.String(30), nullable=False),
        sa.Column("severity", sa.String(20), nullable=True),
        sa.Column("action", sa.String(50), nullable=True),
        sa.Column("action_args", sa.JSON(), nullable=False),
        sa.Column("mode", sa.String(10), nullable=False),
        sa.Column("recommendation", sa.Text(), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("last_seen", TZ, nullable=True),
        sa.Column("fix_attempts", sa.Integer(), nullable=False),
        sa.Column("fix_successes", sa.Integer(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "remediation_attempt",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("fingerprint", sa.String(100), nullable=False),
        sa.Column("alert_event_id", sa.Integer(), nullable=False),
        sa.Column("known_issue_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("mode", sa.String(10), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("finished_at", TZ, nullable=True),
        sa.Column("outcome", sa.String(30), nullable=False),
        sa.Column("check", sa.String(300), nullable=False),
        sa.Column("output", sa.Text(), nullable=False),
    )
    op.create_index("ix_remediation_attempt_fingerprint", "remediation_attempt", ["fingerprint"])
    op.create_index("ix_remediation_attempt_alert_event_id", "remediation_attempt", ["alert_event_id"])
    op.create_index("ix_remediation_attempt_started_at", "remediation_attempt", ["started_at"])

    from models.alerts import SEED_KNOWN_ISSUES

    now = datetime.now(timezone.utc)
    op.bulk_insert(known, [
        {"name": k["name"], "title": k["title"], "pattern": k["pattern"], "real": k.get("real", True),
         "category": k["category"], "severity": k.get("severity"), "action": k.get("action"),
         "action_args": k.get("action_args", {}), "mode": k["mode"], "recommendation": k["recommendation"],
         "occurrences": 0, "last_seen": None, "fix_attempts": 0, "fix_successes": 0, "created_at": now,
         "updated_at": now}
        for k in SEED_KNOWN_ISSUES])


def downgrade() -> None:
    op.drop_table("remediation_attempt")
    op.drop_table("known_issue")
    op.drop_table("alert_event")
