"""Accepted webhooks stored in batches: the request path's only database work.

Every concurrent request's delivery goes into one transaction of a writer thread
(`models.batch_writer`), and each request is answered with its delivery id only after that COMMIT. One
commit per request capped the webhook at the disk's fsync rate (about 86 a second here); one per batch
does not. A failed batch fails each of its requests, which then keep their webhook in the local spool.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Connection

from models.audit import utcnow
from models.batch_writer import BatchWriter
from models.webhooks import WebhookDelivery

from ..scrub import scrub_data


def delivery_row(source: str, body: Any, issue_ids: list[str], total: int) -> WebhookDelivery:
    return WebhookDelivery(source=source, body={"payload": scrub_data(body), "total": total}, issue_ids=issue_ids)


def delivery_values(source: str, body: Any, issue_ids: list[str], total: int) -> dict[str, Any]:
    """The row of one accepted webhook (personal data scrubbed), as plain values: building the model object
    costs more than the insert."""
    return {"received_at": utcnow(), "source": source, "body": {"payload": scrub_data(body), "total": total},
            "issue_ids": list(issue_ids), "status": "pending", "attempts": 0}


def insert_deliveries(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert `rows` inside the caller's transaction; their ids, in the order given."""
    table = WebhookDelivery.__table__
    statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return [row[0] for row in conn.execute(statement, list(rows))]


class DeliveryWriter(BatchWriter[dict[str, Any], int]):
    """Each future answers the stored delivery's id. Two writers on PostgreSQL (while one waits for its
    fsync the other writes; inserts of new rows never wait for each other), one on SQLite."""

    def __init__(self, database_url: str, *, max_batch: int = 200) -> None:
        super().__init__(database_url, insert_deliveries, max_batch=max_batch, name="webhook-writer",
                         writers=2 if database_url.startswith("postgres") else 1)


_writers: dict[str, DeliveryWriter] = {}
_writers_lock = threading.Lock()


def delivery_writer_for(database_url: str) -> DeliveryWriter:
    """The process-wide writer for `database_url`, started on first use."""
    with _writers_lock:
        writer = _writers.get(database_url)
        if writer is None or writer.closed:
            writer = _writers[database_url] = DeliveryWriter(database_url)
        return writer


def close_delivery_writers() -> None:
    """Write what is queued, then stop (the service's shutdown)."""
    with _writers_lock:
        for writer in _writers.values():
            writer.close()
        _writers.clear()
