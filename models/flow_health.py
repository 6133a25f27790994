"""What triageflow remembers about itself: its runs, the alerts it sent about them, snoozes, escalation
state, uptime probes and canary runs — kept here so reports do not depend on Prefect's retention."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime
from sqlmodel import Field, SQLModel

from .audit import utcnow


def _when(nullable: bool = False, index: bool = False) -> Column:
    return Column(DateTime(timezone=True), nullable=nullable, index=index)


class FlowHealth(SQLModel, table=True):
    """One finished run of one of our flows (written by its state hook, so a crash is recorded too)."""

    __tablename__ = "flow_health"

    id: int | None = Field(default=None, primary_key=True)
    flow_run_id: str = Field(max_length=64, unique=True)
    flow_name: str = Field(max_length=100, index=True)
    run_name: str | None = Field(default=None, max_length=200)
    deployment_id: str | None = Field(default=None, max_length=64)
    state: str = Field(max_length=20, description="Completed, Failed, Crashed, Cancelled")
    started_at: datetime | None = Field(default=None, sa_column=_when(nullable=True))
    finished_at: datetime = Field(default_factory=utcnow, sa_column=_when(index=True))
    duration_s: float | None = None
    summary: str = Field(default="", max_length=500, description='one line, e.g. "3 files, 2 commits"')
    error: str | None = Field(default=None, max_length=2000)


class HealthAlert(SQLModel, table=True):
    """An alert triageflow sent about itself; `subject` is what it is about (a flow, a deployment, a URL)."""

    __tablename__ = "health_alert"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=30, index=True, description="failure, critical, late, starved, down, up, canary")
    subject: str = Field(max_length=300, index=True)
    sent_at: datetime = Field(default_factory=utcnow, sa_column=_when(index=True))
    flow_run_id: str | None = Field(default=None, max_length=64)
    text: str = Field(max_length=2000)
    delivery: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class IssueSnooze(SQLModel, table=True):
    """A person said: no alerts about this issue until `until` (GlitchTip has no snooze of its own)."""

    __tablename__ = "issue_snooze"

    issue_id: str = Field(primary_key=True, max_length=50)
    until: datetime = Field(sa_column=_when())
    actor: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_when())


class EscalationState(SQLModel, table=True):
    """Each open issue's counts at the last escalation pass, and whether it is currently escalated."""

    __tablename__ = "escalation_state"

    issue_id: str = Field(primary_key=True, max_length=50)
    events: int
    users: int
    checked_at: datetime = Field(sa_column=_when())
    hourly_rate: float = 0.0
    escalated_at: datetime | None = Field(default=None, sa_column=_when(nullable=True))


class UptimeProbe(SQLModel, table=True):
    """One check of one URL."""

    __tablename__ = "uptime_probe"

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=500, index=True)
    checked_at: datetime = Field(default_factory=utcnow, sa_column=_when(index=True))
    up: bool
    status: int | None = None
    latency_ms: int | None = None
    error: str | None = Field(default=None, max_length=500)


class UptimeState(SQLModel, table=True):
    """Whether a URL is down now, and since when (an outage is alerted once, its recovery once)."""

    __tablename__ = "uptime_state"

    url: str = Field(primary_key=True, max_length=500)
    up: bool
    since: datetime = Field(sa_column=_when())
    checked_at: datetime = Field(sa_column=_when())


class CanaryRun(SQLModel, table=True):
    """One GlitchTip canary: a test error sent through sentry-sdk and found again through the API."""

    __tablename__ = "canary_run"

    id: int | None = Field(default=None, primary_key=True)
    started_at: datetime = Field(default_factory=utcnow, sa_column=_when(index=True))
    canary_id: str = Field(max_length=64)
    outcome: str = Field(max_length=20, description="ok, late, mangled, not sent")
    latency_s: float | None = None
    issue_id: str | None = Field(default=None, max_length=50)
    detail: str = Field(default="", max_length=2000)
