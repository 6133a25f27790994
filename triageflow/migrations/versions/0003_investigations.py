"""investigation log

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "investigation_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issue_id", sa.String(50), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=True),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("cached", sa.Boolean(), nullable=False),
        sa.Column("comment_id", sa.String(50), nullable=True),
        sa.Column("comment_status", sa.String(50), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("flow_run_id", sa.String(64), nullable=True),
        sa.Column("helpful", sa.Boolean(), nullable=True),
    )
    op.create_index("ix_investigation_log_created_at", "investigation_log", ["created_at"])
    op.create_index("ix_investigation_log_issue_id", "investigation_log", ["issue_id"])


def downgrade() -> None:
    op.drop_table("investigation_log")
