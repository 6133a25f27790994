"""Runbook patterns as indexed on each sweep (the files stay the source of truth) and human unlinks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, UniqueConstraint
from sqlmodel import Field, SQLModel

from .audit import utcnow


class RunbookPattern(SQLModel, table=True):
    """One pattern (or exclude) of one runbook, so the service and reports can query what is known."""

    __tablename__ = "runbook_pattern"

    id: int | None = Field(default=None, primary_key=True)
    runbook_id: str = Field(max_length=200, index=True)
    title: str = Field(max_length=300)
    path: str = Field(max_length=500)
    component: str | None = Field(default=None, max_length=100)
    priority: int
    auto_link: bool
    fields: str = Field(max_length=200, description="comma-separated fields the pattern applies to")
    kind: str = Field(max_length=10, description="match or exclude")
    pattern: str = Field(max_length=2000)
    indexed_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class RunbookUnlink(SQLModel, table=True):
    """A human said this issue must never be linked to a runbook again."""

    __tablename__ = "runbook_unlink"
    __table_args__ = (UniqueConstraint("issue_id", name="uq_runbook_unlink_issue"),)

    id: int | None = Field(default=None, primary_key=True)
    issue_id: str = Field(max_length=50, index=True)
    runbook_id: str | None = Field(default=None, max_length=200)
    actor: str = Field(max_length=200)
    reason: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
