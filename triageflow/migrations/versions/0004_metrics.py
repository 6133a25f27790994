"""metrics history, issue status snapshots, report deliveries

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metrics_component_day",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("period", sa.String(10), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("component", sa.String(100), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("issue_count", sa.Integer(), nullable=False),
        sa.Column("new_issue_count", sa.Integer(), nullable=False),
        sa.Column("resolved_count", sa.Integer(), nullable=False),
        sa.Column("top_issues", sa.JSON(), nullable=False),
        sa.Column("backfilled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("period", "day", "component", name="uq_metrics_period_day_component"),
    )
    op.create_index("ix_metrics_component_day_day", "metrics_component_day", ["day"])
    op.create_table(
        "metrics_issue_status",
        sa.Column("issue_id", sa.String(50), primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "metrics_report_delivery",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("period", sa.String(10), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("detail", sa.String(1000), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("period", "day", "channel", name="uq_report_delivery"),
    )


def downgrade() -> None:
    op.drop_table("metrics_report_delivery")
    op.drop_table("metrics_issue_status")
    op.drop_table("metrics_component_day")
