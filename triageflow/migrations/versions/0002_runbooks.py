"""runbook patterns and unlinks

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runbook_pattern",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("runbook_id", sa.String(200), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("path", sa.String(500), nullable=False),
        sa.Column("component", sa.String(100), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("auto_link", sa.Boolean(), nullable=False),
        sa.Column("fields", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("pattern", sa.String(2000), nullable=False),
        sa.Column("indexed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_runbook_pattern_runbook_id", "runbook_pattern", ["runbook_id"])
    op.create_table(
        "runbook_unlink",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("issue_id", sa.String(50), nullable=False),
        sa.Column("runbook_id", sa.String(200), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("issue_id", name="uq_runbook_unlink_issue"),
    )
    op.create_index("ix_runbook_unlink_issue_id", "runbook_unlink", ["issue_id"])


def downgrade() -> None:
    op.drop_table("runbook_unlink")
    op.drop_table("runbook_pattern")
