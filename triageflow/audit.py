"""Writes the audit log: a row before a mutating action (record first), completed with its outcome after."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import select

from models.audit import AuditLog
from models.db import session_scope

from .scrub import scrub, scrub_data

current_actor: contextvars.ContextVar[str] = contextvars.ContextVar("triage_actor", default="triageflow")


@dataclass
class AuditEntry:
    """What the action adds while it runs: its outcome (default ok) and details."""

    outcome: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@contextmanager
def acting_as(actor: str) -> Iterator[None]:
    token = current_actor.set(actor)
    try:
        yield
    finally:
        current_actor.reset(token)


@contextmanager
def audited(database_url: str, system: str, action: str, target: str, *, dry_run: bool,
            detail: dict[str, Any] | None = None, actor: str | None = None) -> Iterator[AuditEntry]:
    """Audit one action. The row exists (outcome `pending`) before the action runs, so a crash leaves a trace."""
    entry = AuditEntry(detail=dict(detail or {}))
    with session_scope(database_url) as session:
        row = AuditLog(actor=actor or current_actor.get(), system=system, action=action, target=target,
                       dry_run=dry_run, outcome="pending", detail=scrub_data(entry.detail))
        session.add(row)
        session.flush()
        row_id = row.id
    try:
        yield entry
    except BaseException as exc:
        _finish(database_url, row_id, "error", entry.detail, error=scrub(f"{exc.__class__.__name__}: {exc}")[:2000])
        raise
    _finish(database_url, row_id, entry.outcome or ("dry-run" if dry_run else "ok"), entry.detail)


def _finish(database_url: str, row_id: int, outcome: str, detail: dict[str, Any], error: str | None = None) -> None:
    with session_scope(database_url) as session:
        row = session.get(AuditLog, row_id)
        row.outcome = outcome
        row.error = error
        row.detail = scrub_data(detail)
        session.add(row)


def recent(database_url: str, limit: int = 50, system: str | None = None) -> list[AuditLog]:
    with session_scope(database_url) as session:
        query = select(AuditLog).order_by(AuditLog.id.desc()).limit(limit)
        if system:
            query = query.where(AuditLog.system == system)
        return list(session.exec(query))
