"""Stores telemetry records: events once per event id, groups upserted, relay outbox rows, in batched writes.

One batch is one transaction: `INSERT … ON CONFLICT (event_id) DO NOTHING RETURNING event_id` tells which
events are new, and only those are counted into their groups by `INSERT … ON CONFLICT (fingerprint) DO
UPDATE SET count = count + excluded.count`. Rows are written in key order, so concurrent writers (threads
or several service processes) on PostgreSQL take row locks in one order and cannot deadlock; SQLite
serialises writers itself. Either way no count is lost or doubled.

`IngestBatcher` gathers records from many requests (all that arrived while the last batch was written,
plus what arrives in the next 2 ms) and writes them together. Its `submit` (threads) and `write` (event
loops) answer a future that resolves only after the batch's COMMIT: an acknowledged event is in the
database (a crash before the commit fails the future, and the request answers 503 so the SDK retries).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import case
from sqlalchemy.engine import Connection

from models.batch_writer import BatchWriter
from models.db import engine_for
from models.telemetry import TelemetryEvent, TelemetryGroup, TelemetryRelay

from .telemetry_event import TelemetryRecord


@dataclass(frozen=True)
class Pending:
    record: TelemetryRecord
    relay_payload: dict[str, Any] | None = None


def _event_row(r: TelemetryRecord) -> dict[str, Any]:
    return {"event_id": r.event_id, "fingerprint": r.fingerprint, "project_id": r.project_id,
            "received_at": r.received_at, "source": r.source, "level": r.level, "exception_type": r.exception_type,
            "message": r.message, "stack": r.stack, "url": r.url, "user_agent": r.user_agent, "release": r.release,
            "environment": r.environment, "session_id": r.session_id, "correlation_id": r.correlation_id,
            "tags": r.tags}


def _group_rows(records: Iterable[TelemetryRecord]) -> list[dict[str, Any]]:
    groups: dict[str, dict[str, Any]] = {}
    for r in records:
        fp = r.fingerprint
        g = groups.get(fp)
        if g is None:
            groups[fp] = {"fingerprint": fp, "project_id": r.project_id, "title": r.title,
                          "exception_type": r.exception_type, "level": r.level, "count": 1,
                          "first_seen": r.received_at, "last_seen": r.received_at, "sample": r.sample(),
                          "status": "new"}
        else:
            g["count"] += 1
            g["first_seen"] = min(g["first_seen"], r.received_at)
            g["last_seen"] = max(g["last_seen"], r.received_at)
    return [groups[fp] for fp in sorted(groups)]


def _statements(dialect: str):
    """The three statements, built once per dialect; SQLAlchemy caches their compiled form."""
    if dialect not in _STATEMENTS:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        elif dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:  # pragma: no cover - the project supports these two
            raise RuntimeError(f"telemetry storage supports SQLite and PostgreSQL, not {dialect}")
        events, groups = TelemetryEvent.__table__, TelemetryGroup.__table__
        add_events = insert(events).on_conflict_do_nothing(index_elements=["event_id"]).returning(events.c.event_id)
        upsert = insert(groups)
        excluded = upsert.excluded
        upsert_groups = upsert.on_conflict_do_update(index_elements=["fingerprint"], set_={
            "count": groups.c.count + excluded.count,
            "last_seen": case((excluded.last_seen > groups.c.last_seen, excluded.last_seen), else_=groups.c.last_seen),
            "first_seen": case((excluded.first_seen < groups.c.first_seen, excluded.first_seen),
                               else_=groups.c.first_seen),
        })
        add_relay = insert(TelemetryRelay.__table__).on_conflict_do_nothing(index_elements=["event_id"])
        _STATEMENTS[dialect] = (add_events, upsert_groups, add_relay)
    return _STATEMENTS[dialect]


_STATEMENTS: dict[str, tuple] = {}


_EVENT_COLUMNS = ("event_id", "fingerprint", "project_id", "received_at", "source", "level", "exception_type", "message",
                  "stack", "url", "user_agent", "release", "environment", "session_id", "correlation_id", "tags")
_GROUP_COLUMNS = ("fingerprint", "project_id", "title", "exception_type", "level", "count", "first_seen", "last_seen",
                  "sample", "status")
_TEXT_COLUMNS = tuple(c for c in _EVENT_COLUMNS if c not in ("received_at", "tags"))
_GROUP_FIELDS = ("fingerprint", "project_id", "title", "exception_type", "level", "sample")
# One statement, one round trip per batch, its text the same whatever the batch size (so prepared once):
# the batch arrives as one array per column. New events are those the insert RETURNS (a repeat of a stored
# event id conflicts and is not), and only those are counted into their groups and put in the relay outbox.
# Rows are inserted in key order (event id, then fingerprint), so concurrent batches lock in one order.
_PG_BATCH = f"""
WITH batch AS (
    SELECT * FROM unnest({", ".join(f"%({c})b::text[]" for c in _TEXT_COLUMNS)}, %(received_at)b::timestamptz[],
                         %(tags)b::text[], %(relay)b::text[]) WITH ORDINALITY
        AS b({", ".join(_TEXT_COLUMNS)}, received_at, tags, relay, ord)
), new AS (
    INSERT INTO telemetry_event ({", ".join(_EVENT_COLUMNS)})
    SELECT {", ".join(c if c != "tags" else "tags::json" for c in _EVENT_COLUMNS)} FROM batch ORDER BY ord
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id, fingerprint, received_at
), counted AS (
    SELECT fingerprint, count(*) AS n, min(received_at) AS first_seen, max(received_at) AS last_seen
    FROM new GROUP BY fingerprint
), grouped AS (
    INSERT INTO telemetry_group ({", ".join(_GROUP_COLUMNS)})
    SELECT c.fingerprint, g.project_id, g.title, g.exception_type, g.level, c.n, c.first_seen, c.last_seen,
           g.sample::json, 'new'
    FROM counted c
    JOIN unnest({", ".join(f"%(group_{c})b::text[]" for c in _GROUP_FIELDS)}) AS g({", ".join(_GROUP_FIELDS)})
        USING (fingerprint)
    ORDER BY c.fingerprint
    ON CONFLICT (fingerprint) DO UPDATE SET
        count = telemetry_group.count + excluded.count,
        last_seen = greatest(telemetry_group.last_seen, excluded.last_seen),
        first_seen = least(telemetry_group.first_seen, excluded.first_seen)
), relayed AS (
    INSERT INTO telemetry_relay (event_id, payload, status, attempts, next_attempt_at)
    SELECT b.event_id, b.relay::json, 'pending', 0, b.received_at
    FROM new JOIN batch b USING (event_id) WHERE b.relay IS NOT NULL ORDER BY b.event_id
    ON CONFLICT (event_id) DO NOTHING
)
SELECT event_id FROM new
"""


def _json_text(value: Any) -> str:
    """JSON text for a json column: orjson (several times faster than the standard library's encoder), and the
    standard library for what orjson refuses (a non-string key, say), so no row fails on it."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value)


def _store_batch_postgresql(conn: Connection, ordered: list[Pending]) -> set[str]:
    """The whole batch in one statement (`_PG_BATCH`): no per-row round trips, and no pipeline, whose sync
    mode polls the socket for as long as the server works (CPU and GIL the requests needed)."""
    records = [p.record for p in ordered]
    params: dict[str, list] = {c: [getattr(r, c) for r in records] for c in _TEXT_COLUMNS}
    params["received_at"] = [r.received_at for r in records]
    params["tags"] = [_json_text(r.tags) for r in records]
    params["relay"] = [None if p.relay_payload is None else _json_text(p.relay_payload) for p in ordered]
    candidates: dict[str, TelemetryRecord] = {}
    for r in records:
        candidates.setdefault(r.fingerprint, r)  # a group's sample is its first event in this batch
    groups = [candidates[fp] for fp in sorted(candidates)]
    for c in _GROUP_FIELDS:
        params[f"group_{c}"] = [_json_text(r.sample()) if c == "sample" else getattr(r, c) for r in groups]
    with conn.connection.driver_connection.cursor() as cursor:
        return {row[0] for row in cursor.execute(_PG_BATCH, params)}


def store_batch(conn: Connection, items: Sequence[Pending]) -> set[str]:
    """Write `items` inside the caller's transaction; answer the event ids that were new."""
    unique: dict[str, Pending] = {}
    for item in items:
        unique.setdefault(item.record.event_id, item)  # the same id twice in one batch counts once
    if not unique:
        return set()
    ordered = [unique[k] for k in sorted(unique)]
    if conn.dialect.name == "postgresql":
        return _store_batch_postgresql(conn, ordered)
    add_events, upsert_groups, add_relay = _statements(conn.dialect.name)
    # executemany: one round trip per few hundred rows ("insertmanyvalues"), RETURNING the rows inserted
    new_ids = {row[0] for row in conn.execute(add_events, [_event_row(p.record) for p in ordered])}
    if not new_ids:
        return new_ids
    fresh = [p for p in ordered if p.record.event_id in new_ids]
    conn.execute(upsert_groups, _group_rows(p.record for p in fresh))
    relay = [{"event_id": p.record.event_id, "payload": p.relay_payload, "status": "pending", "attempts": 0,
              "next_attempt_at": p.record.received_at} for p in fresh if p.relay_payload is not None]
    if relay:
        conn.execute(add_relay, relay)
    return new_ids


def store_now(database_url: str, items: Sequence[Pending]) -> set[str]:
    """One transaction, committed before returning."""
    with engine_for(database_url).begin() as conn:
        return store_batch(conn, items)


def _per_item(conn: Connection, items: Sequence[Pending]) -> list[bool]:
    """Whether each item was new: the first of an event id in this batch, and not stored before."""
    new_ids = store_batch(conn, items)
    seen: set[str] = set()
    answers = []
    for item in items:
        eid = item.record.event_id
        answers.append(eid in new_ids and eid not in seen)
        seen.add(eid)
    return answers


class IngestBatcher(BatchWriter[Pending, bool]):
    """The telemetry writer (`models.batch_writer`): each future answers `True` (new) or `False` (a repeat).

    One writer thread, lingering 2 ms for more before each batch. A batch's fixed cost (transaction,
    statement, COMMIT, waking its requests) outweighs its rows' cost, so fewer, larger batches serve more
    events per second: measured with 32 SDK clients on PostgreSQL, two writers without a linger wrote 3.5
    events a batch and answered 2,300 events/s; one writer lingering 2 ms wrote 21 and answered 3,500/s
    (p99 15 ms, against 25). A slow disk needs no second writer: what queues behind a long COMMIT makes the
    next batch larger. With `writers` > 1 each takes its own share of the fingerprints, so no two batches of
    one process wait for each other's group rows; writers of other processes (`triage serve --workers`)
    share groups with this one and cannot deadlock: each batch inserts its events, then upserts its groups,
    each in key order (see `_PG_BATCH`).
    """

    def __init__(self, database_url: str, *, linger: float = 0.002, max_batch: int = 500, writers: int = 1) -> None:
        super().__init__(database_url, _per_item, linger=linger, max_batch=max_batch, name="telemetry-writer",
                         writers=writers, route=lambda item: int(item.record.fingerprint[:8], 16))


_batchers: dict[str, IngestBatcher] = {}
_batchers_lock = threading.Lock()


def batcher_for(database_url: str) -> IngestBatcher:
    """The process-wide writer for `database_url`, started on first use."""
    with _batchers_lock:
        b = _batchers.get(database_url)
        if b is None or b.closed:
            b = _batchers[database_url] = IngestBatcher(database_url)
        return b


def close_batchers() -> None:
    with _batchers_lock:
        for b in _batchers.values():
            b.close()
        _batchers.clear()
