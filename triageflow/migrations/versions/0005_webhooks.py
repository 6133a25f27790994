"""webhook deliveries and issue alerts

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_delivery",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(30), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("issue_ids", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(2000), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_webhook_delivery_received_at", "webhook_delivery", ["received_at"])
    op.create_index("ix_webhook_delivery_status", "webhook_delivery", ["status"])
    op.create_table(
        "issue_alert",
        sa.Column("issue_id", sa.String(50), primary_key=True),
        sa.Column("alerted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.String(50), nullable=True),
        sa.Column("investigation", sa.String(100), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("issue_alert")
    op.drop_table("webhook_delivery")
