"""Telemetry received from apps and browsers: events (bounded, scrubbed), their groups, and the relay outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Text
from sqlmodel import Field, SQLModel

from .audit import utcnow


class TelemetryGroup(SQLModel, table=True):
    """Every event with one fingerprint. `count` counts distinct event ids; `status` is `new` until triaged."""

    __tablename__ = "telemetry_group"

    fingerprint: str = Field(primary_key=True, max_length=64)
    project_id: str = Field(max_length=40)
    title: str = Field(max_length=300)
    exception_type: str = Field(default="", max_length=200)
    level: str = Field(default="error", max_length=20)
    count: int = 0
    first_seen: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    last_seen: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    sample: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="new", max_length=20, index=True)
    issue_number: int | None = None
    issue_url: str | None = Field(default=None, max_length=500)
    triaged_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


class TelemetryEvent(SQLModel, table=True):
    """One accepted event, once per event id, every field clipped (see tasks/telemetry_event.py LIMITS)."""

    __tablename__ = "telemetry_event"

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=32, unique=True)
    fingerprint: str = Field(max_length=64, index=True)
    project_id: str = Field(max_length=40)
    received_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    source: str = Field(max_length=20, description="sentry-envelope, sentry-store or json")
    level: str = Field(default="error", max_length=20)
    exception_type: str = Field(default="", max_length=200)
    message: str = Field(default="", sa_column=Column(Text, nullable=False))
    stack: str = Field(default="", sa_column=Column(Text, nullable=False))
    url: str | None = Field(default=None, max_length=2000)
    user_agent: str | None = Field(default=None, max_length=500)
    release: str | None = Field(default=None, max_length=200)
    environment: str | None = Field(default=None, max_length=64)
    session_id: str | None = Field(default=None, max_length=128)
    correlation_id: str | None = Field(default=None, max_length=128)
    tags: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class TelemetryRelay(SQLModel, table=True):
    """The outbox of events to forward to GlitchTip: written with the event, sent later, marked `sent` once."""

    __tablename__ = "telemetry_relay"

    event_id: str = Field(primary_key=True, max_length=32)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="pending", max_length=20, index=True)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    last_error: str | None = Field(default=None, max_length=500)
    sent_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
