"""Inbound webhooks, stored before they are acted on, and the alerts they led to (for de-duplication)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime
from sqlmodel import Field, SQLModel

from .audit import utcnow


class WebhookDelivery(SQLModel, table=True):
    """One accepted webhook. `pending` until every issue in it was handled; a sweep retries the rest."""

    __tablename__ = "webhook_delivery"

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    source: str = Field(max_length=30)
    body: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    issue_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="pending", max_length=20, index=True)
    attempts: int = 0
    error: str | None = Field(default=None, max_length=2000)
    finished_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


class IssueAlert(SQLModel, table=True):
    """The last alert sent for an issue: the same issue firing again within the window alerts nobody."""

    __tablename__ = "issue_alert"

    issue_id: str = Field(primary_key=True, max_length=50)
    alerted_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    delivery_id: int | None = None
    message_id: str | None = Field(default=None, max_length=50)
    investigation: str | None = Field(default=None, max_length=100, description="how the investigation was started")
