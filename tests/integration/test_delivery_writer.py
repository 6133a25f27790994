"""The webhook path's batched writer, on SQLite and PostgreSQL: a request is answered only after its
delivery is committed, concurrent requests share a transaction, and a failed batch acknowledges nothing."""

from __future__ import annotations

import asyncio
import threading

import pytest
from sqlalchemy import func, select, text

from models.batch_writer import BatchWriter, BatcherClosed
from models.db import engine_for
from models.webhooks import WebhookDelivery
from triageflow.service.alerting import store_delivery
from triageflow.service.delivery_store import DeliveryWriter, delivery_values

BODY = {"text": "GlitchTip Alert (1 issues)", "attachments": [{"title": "call 415-555-2671 or mail ann@example.com"}]}


def stored(url) -> dict[int, WebhookDelivery]:
    with engine_for(url).connect() as conn:
        return {row.id: row for row in conn.execute(select(WebhookDelivery.__table__))}


def test_each_request_gets_its_own_committed_row_and_concurrent_ones_share_a_batch(database_url):
    writer = DeliveryWriter(database_url)
    answers: list[int] = []
    lock = threading.Lock()

    def request(n: int) -> None:
        delivery_id = writer.submit(delivery_values("glitchtip", {**BODY, "n": n}, [str(n)], 1)).result(timeout=30)
        rows = stored(database_url)  # a fresh connection: only committed rows are visible
        assert rows[delivery_id].issue_ids == [str(n)], "answered with another request's delivery"
        with lock:
            answers.append(delivery_id)

    try:
        threads = [threading.Thread(target=request, args=(n,)) for n in range(200)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        writer.close()
    rows = stored(database_url)
    assert sorted(answers) == sorted(rows) and len(rows) == 200
    assert all(rows[i].body["payload"]["n"] == int(rows[i].issue_ids[0]) for i in rows)
    assert "415-555-2671" not in str([r.body for r in rows.values()])  # scrubbed before it is stored
    assert writer.batches < 200, "every request paid a commit of its own"


def test_a_request_on_an_event_loop_is_answered_after_the_commit(database_url):
    writer = DeliveryWriter(database_url)

    async def requests() -> list[int]:
        return list(await asyncio.gather(*(writer.write(delivery_values("glitchtip", BODY, [str(n)], 1))
                                           for n in range(50))))

    try:
        ids = asyncio.run(requests())
    finally:
        writer.close()
    assert len(set(ids)) == 50 and set(ids) <= set(stored(database_url))


def test_a_failed_batch_fails_every_request_in_it_and_stores_none(database_url):
    store_delivery(database_url, "glitchtip", BODY, ["1"], 1)
    engine_for(database_url)

    def store_then_fail(conn, items):
        conn.execute(text("UPDATE webhook_delivery SET attempts = 99"))
        raise RuntimeError("disk full")

    writer = BatchWriter(database_url, store_then_fail, linger=0.05)
    try:
        futures = [writer.submit({"n": n}) for n in range(5)]
        for future in futures:
            with pytest.raises(RuntimeError, match="disk full"):
                future.result(timeout=30)
    finally:
        writer.close()
    with engine_for(database_url).connect() as conn:
        assert conn.execute(select(func.max(WebhookDelivery.attempts))).scalar_one() == 0  # rolled back


def test_a_closed_writer_takes_nothing_and_writes_what_was_queued_first(database_url):
    writer = DeliveryWriter(database_url)
    queued = [writer.submit(delivery_values("glitchtip", BODY, [str(n)], 1)) for n in range(20)]
    writer.close()
    assert len({f.result(timeout=30) for f in queued}) == 20
    with pytest.raises(BatcherClosed):
        writer.submit(delivery_values("glitchtip", BODY, ["x"], 1))
