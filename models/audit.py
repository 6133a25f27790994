"""The audit log: every mutating action on an outside system, sent or dry-run, with its outcome."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, Column, DateTime
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    actor: str = Field(max_length=200, description="who or what acted: a flow run, a CLI command, a bot user")
    system: str = Field(max_length=50, index=True, description="glitchtip, telegram, slack, github, ...")
    action: str = Field(max_length=100, index=True, description="comment.add, issue.status, message.send, ...")
    target: str = Field(max_length=300, index=True, description="what was acted on, e.g. issue:42")
    dry_run: bool = False
    outcome: str = Field(max_length=50, description="ok, skipped, error")
    error: str | None = Field(default=None, max_length=2000)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
