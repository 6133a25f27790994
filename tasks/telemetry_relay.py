"""The relay: redacted events forwarded to GlitchTip (`GLITCHTIP_DSN`) from the `telemetry_relay` outbox.

An outbox row is written in the same transaction as its event, so an accepted event is never lost. A
sender claims a due row (`pending` → `sending`, with a lease) before posting it, so two senders never
post one row at the same time; it is marked `sent` after GlitchTip's 200 and never posted again. If the
process dies between the post and the mark, the lease runs out and the row is posted once more with
the same `event_id`, which the receiver (GlitchTip, Sentry, the sandbox) drops as a repeat. A failure
puts the row back with exponential backoff; nothing gives up on it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import and_, or_, select, update

from models.db import engine_for
from models.telemetry import TelemetryRelay
from triageflow.audit import audited
from triageflow.clients.errors import ClientError

from .telemetry_event import TelemetryRecord

log = logging.getLogger("triageflow.telemetry.relay")
LEASE = timedelta(seconds=60)
MAX_BACKOFF = timedelta(minutes=10)


def relay_event(record: TelemetryRecord) -> dict[str, Any]:
    """The Sentry event GlitchTip receives: only the record's fields, already scrubbed and clipped."""
    frames = [{"filename": f.filename, "function": f.function, "module": f.module or None, "lineno": f.lineno,
               "in_app": f.in_app, "context_line": f.context_line or None} for f in record.frames]
    event: dict[str, Any] = {
        "event_id": record.event_id, "timestamp": record.received_at.isoformat(), "level": record.level,
        "platform": "javascript" if record.source == "json" else "python", "release": record.release,
        "environment": record.environment, "tags": dict(record.tags, triageflow_fingerprint=record.fingerprint[:16]),
        "fingerprint": [record.fingerprint],
    }
    if record.exception_type:
        event["exception"] = {"values": [{"type": record.exception_type, "value": record.message,
                                          "stacktrace": {"frames": frames} if frames else None}]}
    else:
        event["message"] = {"formatted": record.message}
    if record.url or record.user_agent:
        event["request"] = {"url": record.url, "headers": {"User-Agent": record.user_agent} if record.user_agent else {}}
    if record.correlation_id:
        event["tags"]["correlation_id"] = record.correlation_id
    return {k: v for k, v in event.items() if v is not None}


def backoff(attempts: int) -> timedelta:
    return min(MAX_BACKOFF, timedelta(seconds=2 ** min(attempts, 10)))


@dataclass
class RelayReport:
    sent: int = 0
    failed: int = 0
    error: str | None = None


def _claim(conn, event_id: str, now: datetime) -> bool:
    table = TelemetryRelay.__table__
    claimable = or_(table.c.status == "pending", table.c.status == "sending")
    result = conn.execute(update(table).where(and_(table.c.event_id == event_id, claimable,
                                                   table.c.next_attempt_at <= now))
                          .values(status="sending", next_attempt_at=now + LEASE))
    return result.rowcount == 1


def relay_pending(database_url: str, sender, *, now: datetime | None = None, limit: int = 200,
                  dry_run: bool = False) -> RelayReport:
    """Post the due outbox rows once each; what fails waits for a later run."""
    table = TelemetryRelay.__table__
    now = now or datetime.now(timezone.utc)
    engine = engine_for(database_url)
    with engine.connect() as conn:
        due = [r[0] for r in conn.execute(select(table.c.event_id).where(
            and_(table.c.status.in_(("pending", "sending")), table.c.next_attempt_at <= now))
            .order_by(table.c.next_attempt_at).limit(limit))]
    report = RelayReport()
    if not due:
        return report
    with audited(database_url, "glitchtip-ingest", "relay", f"{len(due)} events", dry_run=dry_run) as entry:
        for event_id in due:
            if dry_run:
                continue
            with engine.begin() as conn:
                if not _claim(conn, event_id, now):
                    continue  # another sender has it
                payload, attempts = conn.execute(select(table.c.payload, table.c.attempts)
                                                 .where(table.c.event_id == event_id)).one()
            try:
                sender.send(payload)
            except ClientError as exc:
                report.failed += 1
                report.error = str(exc)
                with engine.begin() as conn:
                    conn.execute(update(table).where(table.c.event_id == event_id).values(
                        status="pending", attempts=attempts + 1, last_error=str(exc)[:500],
                        next_attempt_at=datetime.now(timezone.utc) + backoff(attempts + 1)))
                continue
            with engine.begin() as conn:
                conn.execute(update(table).where(table.c.event_id == event_id).values(
                    status="sent", attempts=attempts + 1, sent_at=datetime.now(timezone.utc), last_error=None))
            report.sent += 1
        entry.detail.update(sent=report.sent, failed=report.failed)
        if report.failed:
            entry.outcome = "partial" if report.sent else "failed"
    return report


class RelayWorker:
    """Runs `relay_pending` every `interval` seconds in a background thread of the service."""

    def __init__(self, database_url: str, dsn: str, *, interval: float = 2.0) -> None:
        from triageflow.clients.glitchtip_ingest import EventIngest

        self.database_url = database_url
        self.sender = EventIngest(dsn)
        self.interval = interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="telemetry-relay", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                relay_pending(self.database_url, self.sender)
            except Exception:  # noqa: BLE001 - the outbox keeps the events; the next round retries
                log.exception("telemetry relay round failed; the events stay in the outbox")
            self._wake.wait(self.interval)
            self._wake.clear()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(10)
        self.sender.close()
