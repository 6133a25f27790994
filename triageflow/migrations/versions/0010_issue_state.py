"""incremental issue state and pass marks

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    when = lambda name, nullable=False: sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)  # noqa: E731
    op.create_table(
        "issue_state",
        sa.Column("issue_id", sa.String(50), primary_key=True),
        sa.Column("project", sa.String(100), nullable=False),
        sa.Column("level", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("culprit", sa.String(500), nullable=False),
        sa.Column("exception_type", sa.String(200), nullable=False),
        sa.Column("exception_value", sa.String(1000), nullable=False),
        sa.Column("fingerprint", sa.String(300), nullable=False),
        when("first_seen"), when("last_seen"),
        sa.Column("count", sa.Integer(), nullable=False),
        when("counted_at"),
        sa.Column("components", sa.JSON(), nullable=True),
        sa.Column("services", sa.JSON(), nullable=True),
        sa.Column("mix_events", sa.Integer(), nullable=False),
        sa.Column("report_count", sa.Integer(), nullable=True),
        when("report_last_seen", True), when("report_counted_at", True),
        sa.Column("resolution", sa.JSON(), nullable=True),
        when("resolution_at", True), when("swept_last_seen", True),
        when("updated_at"),
    )
    op.create_index("ix_issue_state_status", "issue_state", ["status"])
    op.create_index("ix_issue_state_fingerprint", "issue_state", ["fingerprint"])
    op.create_index("ix_issue_state_last_seen", "issue_state", ["last_seen"])
    op.create_table(
        "issue_pass_mark",
        sa.Column("name", sa.String(200), primary_key=True),
        when("high_water"), when("finished_at"),
        sa.Column("listed", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("issue_pass_mark")
    op.drop_table("issue_state")
