"""Telemetry storage under concurrency, on SQLite and PostgreSQL: writers racing on the same groups and
the same event ids lose no count and double none."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import text

from sqlmodel import select

from models.db import engine_for, session_scope
from models.telemetry import TelemetryGroup
from tasks.telemetry_event import BrowserError, record_from_browser
from tasks.telemetry_store import IngestBatcher, Pending, store_now

T0 = datetime(2026, 12, 2, 8, 0, tzinfo=timezone.utc)


def record(event_id: str, kind: int, minute: int):
    report = BrowserError(eventId=event_id, message=f"failure kind {'abcdefghij'[kind]}", type="Error")
    return record_from_browser(report, received_at=T0 + timedelta(minutes=minute), correlation_id="c")


def counts(url):
    with engine_for(url).connect() as conn:
        events = conn.execute(text("SELECT count(*) FROM telemetry_event")).scalar_one()
        groups = [row[0] for row in conn.execute(text("SELECT count FROM telemetry_group"))]
    return events, groups


def test_racing_writers_count_each_event_id_once(database_url):
    ids = [uuid.uuid4().hex for _ in range(400)]
    records = [record(eid, i % 4, i % 60) for i, eid in enumerate(ids)]
    errors = []

    def writer(offset: int) -> None:
        try:  # every writer sends every event (in its own order and batches): 4 racing copies of each
            mine = records[offset:] + records[:offset]
            for i in range(0, len(mine), 37):
                store_now(database_url, [Pending(r) for r in mine[i:i + 37]])
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k * 100,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    events, groups = counts(database_url)
    assert events == 400
    assert sorted(groups) == [100, 100, 100, 100]


def test_group_keeps_earliest_first_seen_and_latest_last_seen(database_url):
    late, early = record(uuid.uuid4().hex, 0, 50), record(uuid.uuid4().hex, 0, 5)
    store_now(database_url, [Pending(late)])
    store_now(database_url, [Pending(early)])
    with session_scope(database_url) as s:
        group = s.exec(select(TelemetryGroup)).one()
    first, last, count = group.first_seen, group.last_seen, group.count

    def as_utc(moment):  # SQLite answers naive UTC times
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)

    assert (as_utc(first), as_utc(last), count) == (early.received_at, late.received_at, 2)


def test_batcher_acknowledges_after_commit_and_reports_repeats(database_url):
    batcher = IngestBatcher(database_url, linger=0.01)
    try:
        r = record(uuid.uuid4().hex, 1, 0)
        futures = [batcher.submit(Pending(r)) for _ in range(3)]
        # the first is new, the others repeats (one fingerprint goes to one writer, in the order submitted)
        assert [f.result(10) for f in futures] == [True, False, False]
        assert counts(database_url)[0] == 1  # acknowledged means committed: visible to another connection
    finally:
        batcher.close()


def test_batcher_fails_every_waiting_request_when_the_write_fails(tmp_path):
    url = f"sqlite:///{tmp_path / 'lost-its-table.db'}"
    with engine_for(url).begin() as conn:  # migrated on first use, then the events table goes: the write fails
        conn.execute(text("DROP TABLE telemetry_event"))
    batcher = IngestBatcher(url, linger=0.01)
    try:
        futures = [batcher.submit(Pending(record(uuid.uuid4().hex, 2, 0))) for _ in range(2)]
        assert all(f.exception(10) is not None for f in futures)
    finally:
        batcher.close()
