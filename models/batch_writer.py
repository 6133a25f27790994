"""Writer threads that commit what many requests submitted, one transaction per batch.

A COMMIT waits for the disk (on PostgreSQL here an fsync of 10 ms and more). One commit per request caps a
service at a few dozen requests a second whatever else it does; one commit per batch does not. A batch is
what was queued when a writer became free: with many concurrent requests it fills up while the previous
one is written. `linger` (off by default) makes a writer, once it has taken what is queued, wait that
long once for more before writing a batch that is not full: fewer, larger batches, each costing one
transaction's fixed work (begin, statement, COMMIT, waking the waiting requests).

Each item's future resolves only after its batch's COMMIT, so a request answered "stored" is stored; a
failed batch fails every future of it (nothing is acknowledged that is not in the database). Requests on an
event loop (`write`) are answered once per batch and loop (one `call_soon_threadsafe`), not once per item.

Each writer keeps its own connection (no pool checkout and ping per batch); a connection the database
dropped is replaced and the batch written once more, so `store` must be safe to repeat after a rollback
(it is: the rolled-back transaction wrote nothing).
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from .db import engine_for

Item = TypeVar("Item")
Result = TypeVar("Result")

# what waits for an item's write: a thread's Future, or an asyncio future with the loop it belongs to
Waiter = Future | tuple[asyncio.AbstractEventLoop, asyncio.Future]


class BatcherClosed(RuntimeError):
    """The writer is shutting down and takes nothing more."""


def _settle(outcomes: list[tuple[asyncio.Future, object, BaseException | None]]) -> None:
    """On the requests' event loop: every waiting request of one batch answered in one wake-up."""
    for future, result, exc in outcomes:
        if future.cancelled():  # the client went away; the write stands
            continue
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)


class BatchWriter(Generic[Item, Result]):
    """`store(conn, items)` writes a batch inside the writer's transaction and answers one result per item,
    in order. `route(item)` picks an item's writer when there are several (items that touch the same rows
    should share a writer, so two writers never wait for each other's row locks)."""

    def __init__(self, database_url: str, store: Callable[[Connection, Sequence[Item]], Sequence[Result]], *,
                 writers: int = 1, route: Callable[[Item], int] | None = None, linger: float = 0.0,
                 max_batch: int = 500, name: str = "batch-writer") -> None:
        self.database_url = database_url
        self.linger = linger
        self.max_batch = max_batch
        self.writers = max(1, writers)
        self._store_items = store
        self._route = route
        self._queues: list[queue.SimpleQueue[tuple[Item, Waiter] | None]] = [
            queue.SimpleQueue() for _ in range(self.writers)]
        self._next = 0  # round robin when there is no route
        self._closed = False
        self._local = threading.local()  # each writer's own connection
        self._threads = [threading.Thread(target=self._run, args=(own,), name=f"{name}-{i}", daemon=True)
                         for i, own in enumerate(self._queues)]
        for thread in self._threads:
            thread.start()
        self.batches = 0

    @property
    def closed(self) -> bool:
        return self._closed

    def submit(self, item: Item) -> Future:
        """A future of the item's result, set once its batch is committed."""
        if self._closed:
            raise BatcherClosed("the database writer is closed")
        future: Future = Future()
        self._queue_of(item).put((item, future))
        return future

    def write(self, item: Item) -> asyncio.Future:
        """From a coroutine: an asyncio future of the item's result, set once its batch is committed."""
        if self._closed:
            raise BatcherClosed("the database writer is closed")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue_of(item).put((item, (loop, future)))
        return future

    def _queue_of(self, item: Item) -> queue.SimpleQueue:
        if len(self._queues) == 1:
            return self._queues[0]
        if self._route is not None:
            return self._queues[self._route(item) % len(self._queues)]
        self._next = (self._next + 1) % len(self._queues)
        return self._queues[self._next]

    def _drain(self, own: queue.SimpleQueue, batch: list, stop: list[bool]) -> None:
        while len(batch) < self.max_batch:
            try:
                nxt = own.get_nowait()
            except queue.Empty:
                return
            if nxt is None:
                stop[0] = True
                return
            batch.append(nxt)

    def _take_batch(self, own: queue.SimpleQueue) -> tuple[list[tuple[Item, Waiter]], bool]:
        """What is queued (waiting for the first item), and whether the writer was told to stop."""
        stop = [False]
        first = own.get()
        if first is None:
            return [], True
        batch = [first]
        self._drain(own, batch, stop)
        if not stop[0] and len(batch) < self.max_batch and self.linger > 0:
            time.sleep(self.linger)  # one wait for stragglers, not one timed wait per item
            self._drain(own, batch, stop)
        return batch, stop[0]

    def _run(self, own: queue.SimpleQueue) -> None:
        while True:
            batch, stop = self._take_batch(own)
            if batch:
                self._write(batch)
            if stop:
                self._drop_connection()
                return

    def _store(self, items: list[Item]) -> Sequence[Result]:
        for attempt in (1, 2):
            conn = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._local.conn = engine_for(self.database_url).connect()
            try:
                with conn.begin():
                    results = self._store_items(conn, items)
                if len(results) != len(items):
                    raise RuntimeError(f"a batch of {len(items)} answered {len(results)} results")
                return results
            except DBAPIError as exc:
                self._drop_connection()
                if not exc.connection_invalidated or attempt == 2:
                    raise
            except BaseException:
                self._drop_connection()
                raise
        raise AssertionError("unreachable")

    def _drop_connection(self) -> None:
        conn, self._local.conn = getattr(self._local, "conn", None), None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - it is being thrown away
                pass

    def _write(self, batch: list[tuple[Item, Waiter]]) -> None:
        try:
            results: Sequence[Result | None] = self._store([item for item, _ in batch])
            failure: BaseException | None = None
        except BaseException as exc:  # noqa: BLE001 - handed to every waiting request, none is acknowledged
            results, failure = [None] * len(batch), exc
        else:
            self.batches += 1
        by_loop: dict[asyncio.AbstractEventLoop, list] = {}
        for (_item, waiter), result in zip(batch, results):
            if isinstance(waiter, Future):
                if failure is not None:
                    waiter.set_exception(failure)
                else:
                    waiter.set_result(result)
            else:
                loop, future = waiter
                by_loop.setdefault(loop, []).append((future, result, failure))
        for loop, outcomes in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, outcomes)
            except RuntimeError:  # that loop is closed: nobody is waiting any more
                pass

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop."""
        if not self._closed:
            self._closed = True
            for own in self._queues:
                own.put(None)  # each writer stops after what is queued for it
            deadline = time.monotonic() + timeout
            for thread in self._threads:
                thread.join(max(0.0, deadline - time.monotonic()))
