"""AlertEvent rows: stored once per fingerprint and `startsAt`, claimed by one triage run, read back as history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from models.alerts import AlertEvent
from models.db import session_scope
from triageflow.scrub import scrub_data

from .alert_payloads import InboundAlert


@dataclass(frozen=True)
class Stored:
    event_id: int
    change: str  # new (firing, triage it) | resolved (was firing) | unchanged | late-resolved (never seen firing)
    fingerprint: str
    status: str


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else (value if value.tzinfo else value.replace(tzinfo=timezone.utc))


def _find(session, fingerprint: str, starts_at: datetime) -> AlertEvent | None:
    # compared in Python too: SQLite keeps the text it was given, PostgreSQL an instant
    rows = session.exec(select(AlertEvent).where(AlertEvent.fingerprint == fingerprint)).all()
    return next((r for r in rows if _utc(r.starts_at) == starts_at), None)


def store_alert(database_url: str, alert: InboundAlert) -> Stored:
    """Insert the alert, or update its row: a re-sent, retried or HA peer's copy changes nothing but a counter."""
    starts_at = alert.starts_at.astimezone(timezone.utc)
    row = AlertEvent(source=alert.source, fingerprint=alert.fingerprint, starts_at=starts_at,
                     ends_at=alert.ends_at, status=alert.status, name=alert.name[:200], severity=alert.severity[:30],
                     service=alert.service[:100], labels=scrub_data(alert.labels),
                     annotations=scrub_data(alert.annotations), payload=scrub_data(alert.raw),
                     triage_state="pending" if alert.status == "firing" else "skipped",
                     resolved_at=datetime.now(timezone.utc) if alert.status == "resolved" else None)
    try:
        with session_scope(database_url) as session:
            if _find(session, alert.fingerprint, starts_at) is None:
                session.add(row)
                session.flush()
                return Stored(row.id, "new" if alert.status == "firing" else "late-resolved", alert.fingerprint,
                              alert.status)
    except IntegrityError:
        pass  # an HA peer's copy won the race: it is the same alert
    with session_scope(database_url) as session:
        existing = _find(session, alert.fingerprint, starts_at)
        event_id = existing.id
        # atomic in SQL: HA peers and retries arrive at once, and each must count and none may resolve twice
        session.exec(update(AlertEvent).where(AlertEvent.id == event_id)
                     .values(deliveries=AlertEvent.deliveries + 1))
        change = "unchanged"
        if alert.status == "resolved":
            result = session.exec(update(AlertEvent).where(AlertEvent.id == event_id)
                                  .where(AlertEvent.status == "firing")
                                  .values(status="resolved", ends_at=alert.ends_at,
                                          resolved_at=datetime.now(timezone.utc),
                                          payload=dict(existing.payload, resolved=scrub_data(alert.raw))))
            change = "resolved" if result.rowcount == 1 else change
        return Stored(event_id, change, existing.fingerprint, "resolved" if change == "resolved" else existing.status)


def claim_triage(database_url: str, event_id: int) -> bool:
    """Exactly one run triages an alert: pending (or failed, for a rerun) → running."""
    with session_scope(database_url) as session:
        result = session.exec(update(AlertEvent).where(AlertEvent.id == event_id)
                              .where(col(AlertEvent.triage_state).in_(["pending", "failed"]))
                              .values(triage_state="running"))
        return result.rowcount == 1


def claim_resolution(database_url: str, event_id: int) -> bool:
    """The resolution is told once, and only after triage finished (a running triage tells it itself)."""
    with session_scope(database_url) as session:
        result = session.exec(update(AlertEvent).where(AlertEvent.id == event_id)
                              .where(AlertEvent.status == "resolved").where(AlertEvent.triage_state == "done")
                              .where(AlertEvent.resolution_told.is_(False)).values(resolution_told=True))
        return result.rowcount == 1


def finish_triage(database_url: str, event_id: int, state: str) -> None:
    with session_scope(database_url) as session:
        row = session.get(AlertEvent, event_id)
        row.triage_state = state
        session.add(row)


def load_event(database_url: str, event_id: int) -> AlertEvent:
    with session_scope(database_url) as session:
        row = session.get(AlertEvent, event_id)
        if row is None:
            raise LookupError(f"alert event {event_id} not found")
        return row


def update_event(database_url: str, event_id: int, **values) -> None:
    with session_scope(database_url) as session:
        row = session.get(AlertEvent, event_id)
        for key, value in values.items():
            setattr(row, key, value)
        session.add(row)


def earlier_events(database_url: str, event: AlertEvent, *, limit: int = 50) -> list[AlertEvent]:
    """Earlier alerts of the same fingerprint or name, newest first."""
    with session_scope(database_url) as session:
        query = (select(AlertEvent).where(AlertEvent.id != event.id)
                 .where((AlertEvent.fingerprint == event.fingerprint) | (AlertEvent.name == event.name))
                 .where(AlertEvent.id < event.id).order_by(col(AlertEvent.id).desc()).limit(limit))
        return list(session.exec(query))


def issues_created_since(database_url: str, since: datetime) -> int:
    with session_scope(database_url) as session:
        rows = session.exec(select(AlertEvent.received_at).where(AlertEvent.issue_action == "created")).all()
        return sum(1 for r in rows if _utc(r) >= since)


def history(database_url: str, *, limit: int = 50, name: str | None = None,
            fingerprint: str | None = None) -> list[AlertEvent]:
    with session_scope(database_url) as session:
        query = select(AlertEvent).order_by(col(AlertEvent.id).desc()).limit(limit)
        if name:
            query = query.where(AlertEvent.name == name)
        if fingerprint:
            query = query.where(AlertEvent.fingerprint == fingerprint)
        return list(session.exec(query))


def resolved_longer_than(database_url: str, hours: float, now: datetime | None = None) -> list[AlertEvent]:
    """Alerts with an open issue whose resolution is older than `hours` (the auto-close candidates)."""
    now = now or datetime.now(timezone.utc)
    with session_scope(database_url) as session:
        rows = session.exec(select(AlertEvent).where(AlertEvent.status == "resolved")
                            .where(col(AlertEvent.issue_number).is_not(None))
                            .where(col(AlertEvent.issue_closed_at).is_(None))).all()
        return [r for r in rows if _utc(r.resolved_at) and now - _utc(r.resolved_at) >= timedelta(hours=hours)]


def untriaged(database_url: str, *, older_than: timedelta, now: datetime | None = None,
              limit: int = 100) -> list[int]:
    """Firing alerts stored but whose triage never started: the process ended between its 202 and the start,
    or the start failed (the Prefect server was down). Oldest first."""
    cutoff = (now or datetime.now(timezone.utc)) - older_than
    with session_scope(database_url) as session:
        rows = session.exec(select(AlertEvent.id, AlertEvent.triage_started)
                            .where(AlertEvent.triage_state == "pending").where(AlertEvent.received_at <= cutoff)
                            .order_by(col(AlertEvent.id)).limit(limit)).all()
    return [event_id for event_id, started in rows if not started or "not started" in started]

