"""A local, durable spool for webhooks accepted while the database is unreachable.

Each webhook is one JSON line appended to `spool.jsonl` and fsync'd before the answer goes out; the file
is bounded (`WEBHOOK_SPOOL_MAX_BYTES`: beyond it the webhook is refused with 503, never silently dropped).
`drain` moves the file aside and stores each line as a delivery; each line carries an id whose claim
(`spool:<id>`) is marked done in the same transaction as the stored row, so a crash mid-drain stores
nothing twice.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from pathlib import Path
from typing import Any

from models.db import session_scope

from ..once import take

_lock = threading.Lock()


class SpoolFull(RuntimeError):
    """The spool holds its maximum: the webhook cannot be kept."""


class Spool:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.path = directory / "spool.jsonl"
        self.draining = directory / "spool.draining.jsonl"

    def size(self) -> int:
        return sum(p.stat().st_size for p in (self.path, self.draining) if p.exists())

    def append(self, source: str, body: Any, issue_ids: list[str], total: int) -> str:
        """Keep one webhook on disk (fsync'd); its spool id."""
        entry_id = uuid.uuid4().hex
        line = (json.dumps({"id": entry_id, "source": source, "body": body, "issue_ids": issue_ids,
                            "total": total}, separators=(",", ":")) + "\n").encode()
        with _lock:
            if self.size() + len(line) > self.max_bytes:
                raise SpoolFull(f"the local spool is full ({self.max_bytes} bytes)")
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
            _fsync_dir(self.directory)
        return entry_id

    def pending(self) -> int:
        return sum(len(p.read_bytes().splitlines()) for p in (self.path, self.draining) if p.exists())

    def drain(self, database_url: str) -> list[int]:
        """Store every spooled webhook as a delivery (the database is back); the new delivery ids."""
        from .delivery_store import delivery_row

        with _lock:
            if not self.draining.exists():
                if not self.path.exists():
                    return []
                os.replace(self.path, self.draining)
                _fsync_dir(self.directory)
        stored: list[int] = []
        leftover: list[bytes] = []
        for raw in self.draining.read_bytes().splitlines():
            try:
                entry = json.loads(raw)
            except ValueError:
                continue  # a line cut short by a crash during its append was never acknowledged
            hold = take(database_url, f"spool:{entry['id']}")
            if not hold:
                if hold.state != "done":
                    leftover.append(raw)  # another drainer is storing it now: keep it until that is certain
                continue
            with session_scope(database_url) as session:
                row = delivery_row(entry["source"], entry["body"], entry["issue_ids"], entry["total"])
                session.add(row)
                session.flush()
                hold.done({"delivery": row.id}, session=session)
                stored.append(row.id)
        with _lock:
            if leftover:
                keep = self.draining.with_suffix(".tmp")
                keep.write_bytes(b"\n".join(leftover) + b"\n")
                os.replace(keep, self.draining)
            else:
                self.draining.unlink(missing_ok=True)
        return stored


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
