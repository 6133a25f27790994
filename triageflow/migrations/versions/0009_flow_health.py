"""flow health: runs, health alerts, snoozes, escalation state, uptime, canary

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "flow_health",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("flow_run_id", sa.String(64), nullable=False, unique=True),
        sa.Column("flow_name", sa.String(100), nullable=False),
        sa.Column("run_name", sa.String(200), nullable=True),
        sa.Column("deployment_id", sa.String(64), nullable=True),
        sa.Column("state", sa.String(20), nullable=False),
        _when("started_at", nullable=True),
        _when("finished_at"),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("summary", sa.String(500), nullable=False),
        sa.Column("error", sa.String(2000), nullable=True),
    )
    op.create_index("ix_flow_health_flow_name", "flow_health", ["flow_name"])
    op.create_index("ix_flow_health_finished_at", "flow_health", ["finished_at"])
    op.create_table(
        "health_alert",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        _when("sent_at"),
        sa.Column("flow_run_id", sa.String(64), nullable=True),
        sa.Column("text", sa.String(2000), nullable=False),
        sa.Column("delivery", sa.JSON(), nullable=False),
    )
    op.create_index("ix_health_alert_kind", "health_alert", ["kind"])
    op.create_index("ix_health_alert_subject", "health_alert", ["subject"])
    op.create_index("ix_health_alert_sent_at", "health_alert", ["sent_at"])
    op.create_table(
        "issue_snooze",
        sa.Column("issue_id", sa.String(50), primary_key=True),
        _when("until"),
        sa.Column("actor", sa.String(200), nullable=False),
        _when("created_at"),
    )
    op.create_table(
        "escalation_state",
        sa.Column("issue_id", sa.String(50), primary_key=True),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("users", sa.Integer(), nullable=False),
        _when("checked_at"),
        sa.Column("hourly_rate", sa.Float(), nullable=False),
        _when("escalated_at", nullable=True),
    )
    op.create_table(
        "uptime_probe",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("url", sa.String(500), nullable=False),
        _when("checked_at"),
        sa.Column("up", sa.Boolean(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(500), nullable=True),
    )
    op.create_index("ix_uptime_probe_url", "uptime_probe", ["url"])
    op.create_index("ix_uptime_probe_checked_at", "uptime_probe", ["checked_at"])
    op.create_table(
        "uptime_state",
        sa.Column("url", sa.String(500), primary_key=True),
        sa.Column("up", sa.Boolean(), nullable=False),
        _when("since"),
        _when("checked_at"),
    )
    op.create_table(
        "canary_run",
        sa.Column("id", sa.Integer(), primary_key=True),
        _when("started_at"),
        sa.Column("canary_id", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("latency_s", sa.Float(), nullable=True),
        sa.Column("issue_id", sa.String(50), nullable=True),
        sa.Column("detail", sa.String(2000), nullable=False),
    )
    op.create_index("ix_canary_run_started_at", "canary_run", ["started_at"])


def downgrade() -> None:
    for table in ("canary_run", "uptime_state", "uptime_probe", "escalation_state", "issue_snooze", "health_alert",
                  "flow_health"):
        op.drop_table(table)
