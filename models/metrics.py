"""History of the daily (and weekly) reports: counts per day and component, issue statuses, deliveries."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Date, DateTime, UniqueConstraint
from sqlmodel import Field, SQLModel

from .audit import utcnow


class ComponentDay(SQLModel, table=True):
    """One row per (period, day, component). Re-running a day replaces its rows in one transaction."""

    __tablename__ = "metrics_component_day"
    __table_args__ = (UniqueConstraint("period", "day", "component", name="uq_metrics_period_day_component"),)

    id: int | None = Field(default=None, primary_key=True)
    period: str = Field(max_length=10, description="daily or weekly")
    day: date = Field(sa_column=Column(Date, nullable=False, index=True))
    component: str = Field(max_length=100)
    error_count: int
    issue_count: int
    new_issue_count: int = 0
    resolved_count: int = 0
    top_issues: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    backfilled: bool = Field(default=False, description="rebuilt from events, not reported on the day")
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class IssueStatusSnapshot(SQLModel, table=True):
    """Each issue's status as the last report saw it: how resolutions and reopenings are counted."""

    __tablename__ = "metrics_issue_status"

    issue_id: str = Field(primary_key=True, max_length=50)
    status: str = Field(max_length=20)
    seen_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class ReportDelivery(SQLModel, table=True):
    """A report sent to a channel. A day is sent once per channel; a re-run sends again only when forced."""

    __tablename__ = "metrics_report_delivery"
    __table_args__ = (UniqueConstraint("period", "day", "channel", name="uq_report_delivery"),)

    id: int | None = Field(default=None, primary_key=True)
    period: str = Field(max_length=10)
    day: date = Field(sa_column=Column(Date, nullable=False))
    channel: str = Field(max_length=20)
    status: str = Field(max_length=20, description="sending, sent, failed")
    detail: str | None = Field(default=None, max_length=1000)
    sent_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
