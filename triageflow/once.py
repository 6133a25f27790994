"""Exactly once: a claim in the database, taken atomically before a side effect and marked after it.

    with once(database_url, f"comment:{marker}:issue:{issue_id}") as claim:
        if claim:                      # False: already done, or another live holder is doing it now
            post_the_comment()
            claim.detail["comment_id"] = ...   # kept on the claim row when it is marked done

A claim is a row keyed by what must happen once (`alert:issue:9:window:...`, `comment:<marker>:issue:9`,
`report:<day>:<part>:<channel>`, `github:fingerprint:<F>`). Taking it is one atomic statement
(`INSERT … ON CONFLICT DO NOTHING`, then a conditional `UPDATE` for a retake), so of any number of
concurrent callers, on SQLite or PostgreSQL, in one process or many, exactly one gets it.

- `done`: never taken again; the block ran to its end.
- `failed`: the block raised; the next caller may take it again (the exception still propagates).
- `held` with a lease: someone is at it. A live holder keeps it (`claim.renew()` for long work); when
  the lease runs out (the holder was killed) the next caller retakes it.

The one window left is a crash between the side effect and the `done` mark (milliseconds): after the
lease the effect is repeated once. Call `claim.release()` when nothing was done (dry-run) so a real
run later still may.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, bindparam, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

from models.audit import utcnow
from models.claims import Claim
from models.db import engine_for

DEFAULT_LEASE_SECONDS = 300.0
_table = Claim.__table__


def _now_ms() -> int:
    return int(time.time() * 1000)


def new_holder() -> str:
    """Who takes a claim: host, process and a random part, so two threads of one process differ too."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class Hold:
    """The answer to `take`: truthy when this caller holds the claim and must act."""

    database_url: str
    key: str
    holder: str
    state: str  # "taken" (first time), "retaken" (after a failure or an expired lease), "done", "busy"
    detail: dict[str, Any] = field(default_factory=dict)
    finished: bool = False

    def __bool__(self) -> bool:
        return self.state in ("taken", "retaken")

    def renew(self, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> bool:
        """Extend the lease; False when this holder lost it (it ran out and someone else took it)."""
        return _run(self.database_url, update(_table).where(
            _table.c.key == self.key, _table.c.holder == self.holder, _table.c.status == "held",
        ).values(lease_until_ms=_now_ms() + int(lease_seconds * 1000), updated_at=utcnow()), None) == 1

    def done(self, detail: dict[str, Any] | None = None, *, session=None) -> None:
        """Mark it done (the effect happened, whoever holds it now); `session` to commit it with other rows."""
        if detail:
            self.detail.update(detail)
        stmt = update(_table).where(_table.c.key == self.key).values(
            status="done", error=None, updated_at=utcnow(), detail=self.detail)
        _run(self.database_url, stmt, session)
        self.finished = session is None  # in the caller's transaction it counts once that commits

    def failed(self, error: str) -> None:
        """Give it back as failed: the next caller retakes it. A claim already done stays done."""
        _run(self.database_url, update(_table).where(
            _table.c.key == self.key, _table.c.holder == self.holder, _table.c.status == "held",
        ).values(status="failed", error=error[:2000], updated_at=utcnow()), None)
        self.finished = True

    def release(self) -> None:
        """Forget the claim, as if never taken: nothing was done (a dry-run), a later run may act."""
        _run(self.database_url, delete(_table).where(
            _table.c.key == self.key, _table.c.holder == self.holder, _table.c.status == "held"), None)
        self.finished = True


def _run(database_url: str, stmt, session) -> int:
    if session is not None:
        return session.execute(stmt).rowcount

    def run() -> int:
        with engine_for(database_url).begin() as conn:
            return conn.execute(stmt).rowcount

    return patiently(run)


def patiently(fn, *, seconds: float = 30.0):
    """`fn()`, tried again while SQLite says "database is locked" (a busy machine can hold its one writer
    past the busy timeout); any other error, or a lock longer than `seconds`, is raised."""
    deadline, pause = time.monotonic() + seconds, 0.02
    while True:
        try:
            return fn()
        except OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 1.0)


def _insert(dialect: str):
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(_table)


def take(database_url: str, key: str, *, lease_seconds: float = DEFAULT_LEASE_SECONDS,
         holder: str | None = None, detail: dict[str, Any] | None = None) -> Hold:
    """Take the claim `key` if nobody has it, it failed, or its holder's lease ran out. Atomic."""
    return patiently(lambda: _take(database_url, key, lease_seconds, holder or new_holder(), detail))


def _take(database_url: str, key: str, lease_seconds: float, holder: str, detail: dict[str, Any] | None) -> Hold:
    engine = engine_for(database_url)
    now = _now_ms()
    lease_until = now + int(lease_seconds * 1000)
    with engine.begin() as conn:
        stmt = _insert(engine.dialect.name).values(
            key=key, status="held", holder=holder, lease_until_ms=lease_until, attempts=1, created_at=utcnow(),
            updated_at=utcnow(), detail=dict(detail or {}),
        ).on_conflict_do_nothing(index_elements=["key"]).returning(_table.c.key)
        if conn.execute(stmt).first() is not None:
            return Hold(database_url, key, holder, "taken", dict(detail or {}))
    with engine.begin() as conn:
        retaken = conn.execute(update(_table).where(
            _table.c.key == key,
            or_(_table.c.status == "failed", and_(_table.c.status == "held", _table.c.lease_until_ms < now)),
        ).values(status="held", holder=holder, lease_until_ms=lease_until, attempts=_table.c.attempts + 1,
                 updated_at=utcnow(), error=None))
        row = conn.execute(select(_table.c.status, _table.c.detail).where(_table.c.key == key)).first()
    stored = dict(row.detail or {}) if row else {}
    if retaken.rowcount == 1:
        return Hold(database_url, key, holder, "retaken", {**stored, **(detail or {})})
    return Hold(database_url, key, holder, "done" if row and row.status == "done" else "busy", stored)


def take_many(database_url: str, keys: list[str], *, lease_seconds: float = DEFAULT_LEASE_SECONDS,
              holder: str | None = None) -> dict[str, Hold]:
    """`take` for several keys under one holder: the ones nobody took yet in one INSERT; any that exist
    (done, failed, held) through `take`, so retaking and refusing work exactly as there."""
    holder = holder or new_holder()
    keys = list(dict.fromkeys(keys))

    def insert() -> set[str]:
        engine = engine_for(database_url)
        now, lease_until = utcnow(), _now_ms() + int(lease_seconds * 1000)
        rows = [dict(key=k, status="held", holder=holder, lease_until_ms=lease_until, attempts=1, created_at=now,
                     updated_at=now, detail={}) for k in keys]
        stmt = _insert(engine.dialect.name).on_conflict_do_nothing(index_elements=["key"]).returning(_table.c.key)
        with engine.begin() as conn:  # executemany: one cached statement, sent as multi-row INSERTs
            return set(conn.execute(stmt, rows).scalars())

    inserted = patiently(insert) if keys else set()
    return {k: Hold(database_url, k, holder, "taken") if k in inserted
            else take(database_url, k, lease_seconds=lease_seconds, holder=holder) for k in keys}


def renew_many(holds: list[Hold], lease_seconds: float = DEFAULT_LEASE_SECONDS) -> None:
    """Extend the leases of several holds of one holder in one statement (those it lost stay lost)."""
    if not holds:
        return
    first = holds[0]
    _run(first.database_url, update(_table).where(
        _table.c.key.in_([h.key for h in holds]), _table.c.holder == first.holder, _table.c.status == "held",
    ).values(lease_until_ms=_now_ms() + int(lease_seconds * 1000), updated_at=utcnow()), None)


def done_many(conn, holds: list[Hold]) -> None:
    """Mark several holds done, each with its own detail, in the caller's transaction `conn`."""
    if not holds:
        return
    conn.execute(update(_table).where(_table.c.key == bindparam("claim_key")).values(
        status="done", error=None, updated_at=utcnow(), detail=bindparam("claim_detail")),
        [{"claim_key": h.key, "claim_detail": h.detail} for h in holds])


@contextmanager
def once(database_url: str, key: str, *, lease_seconds: float = DEFAULT_LEASE_SECONDS,
         detail: dict[str, Any] | None = None) -> Iterator[Hold]:
    """Take `key`; the block acts only `if claim:`. Done when the block ends, failed when it raises."""
    hold = take(database_url, key, lease_seconds=lease_seconds, detail=detail)
    if not hold:
        yield hold
        return
    try:
        yield hold
    except BaseException as exc:
        if not hold.finished:
            hold.failed(f"{exc.__class__.__name__}: {exc}")
        raise
    if not hold.finished:
        hold.done()


def claim_status(database_url: str, key: str) -> str | None:
    """`held`, `done`, `failed`, or None when nobody ever took it."""
    with engine_for(database_url).connect() as conn:
        return conn.execute(select(_table.c.status).where(_table.c.key == key)).scalar()


def retakeable(database_url: str, prefix: str, *, max_attempts: int = 5, limit: int = 100) -> list[tuple[str, dict]]:
    """Claims under `prefix` that failed or whose holder's lease ran out: work a crash or an error left undone."""
    with engine_for(database_url).connect() as conn:
        rows = conn.execute(select(_table.c.key, _table.c.detail).where(
            _table.c.key.startswith(prefix, autoescape=True), _table.c.attempts < max_attempts,
            or_(_table.c.status == "failed", and_(_table.c.status == "held", _table.c.lease_until_ms < _now_ms())),
        ).limit(limit)).all()
    return [(r.key, dict(r.detail or {})) for r in rows]
