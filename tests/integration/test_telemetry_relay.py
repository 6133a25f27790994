"""The relay to GlitchTip: redacted events reach the sandbox's ingest as issues, wait in the outbox while it
is down, and are forwarded once."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlmodel import select

from models.db import session_scope
from models.telemetry import TelemetryRelay
from tasks.telemetry_event import BrowserError, record_from_browser
from tasks.telemetry_relay import relay_event, relay_pending
from tasks.telemetry_store import Pending, close_batchers, store_now
from triageflow.clients.glitchtip_ingest import EventIngest
from triageflow.sandbox.server import LoopbackServer
from triageflow.service.app import create_service
from triageflow.settings import reset_settings

PROJECT_KEY = f"{1:032x}"  # the sandbox's DSN key of project 1 ("api")


def dsn(sandbox) -> str:
    return f"http://{PROJECT_KEY}@127.0.0.1:{sandbox.port}/1"


def record(message="card 4111 1111 1111 1111 declined for ann@example.com"):
    report = BrowserError(eventId=uuid.uuid4().hex, message=message, type="PaymentError",
                          stack="Error\n    at pay (https://shop.example/app.js:3:1)", url="https://shop.example/pay")
    return record_from_browser(report, received_at=datetime.now(timezone.utc), correlation_id="corr-1")


def outbox(url):
    with session_scope(url) as s:
        return list(s.exec(select(TelemetryRelay)))


def received(control):
    return httpx.get(f"{control.url}/_sandbox/ingest").json()


def test_relay_forwards_the_redacted_event_once(database_url, sandbox, control, glitchtip):
    r = record()
    store_now(database_url, [Pending(r, relay_event(r))])
    with EventIngest(dsn(sandbox)) as sender:
        first = relay_pending(database_url, sender)
        again = relay_pending(database_url, sender, now=datetime.now(timezone.utc) + timedelta(hours=1))
    assert (first.sent, again.sent) == (1, 0)
    [row] = outbox(database_url)
    assert row.status == "sent" and row.attempts == 1
    [got] = received(control)
    assert got["event_id"] == r.event_id
    text = str(got["event"])
    assert "4111" not in text and "ann@example.com" not in text and "[card]" in text
    issue = glitchtip.issue(got["issue_id"])
    assert issue.title.startswith("PaymentError: card [card] declined")


def test_relay_keeps_events_while_glitchtip_is_down_and_sends_them_later(database_url, sandbox, control):
    r = record("timeout")
    store_now(database_url, [Pending(r, relay_event(r))])
    control.fault("/api/1/envelope/", "error", times=2, status=503)
    with EventIngest(dsn(sandbox)) as sender:
        down = relay_pending(database_url, sender)
        [row] = outbox(database_url)
        assert (down.failed, row.status, row.attempts) == (1, "pending", 1) and "503" in row.last_error
        not_yet = relay_pending(database_url, sender)  # backing off: not due yet
        assert (not_yet.sent, not_yet.failed) == (0, 0)
        later = datetime.now(timezone.utc) + timedelta(minutes=20)
        relay_pending(database_url, sender, now=later)  # the second injected 503
        up = relay_pending(database_url, sender, now=later + timedelta(minutes=20))
    assert up.sent == 1
    assert [g["event_id"] for g in received(control)] == [r.event_id]


def test_a_send_whose_answer_was_lost_is_resent_with_the_same_id_and_dropped_by_glitchtip(database_url, sandbox,
                                                                                           control):
    r = record("lost answer")
    store_now(database_url, [Pending(r, relay_event(r))])
    with EventIngest(dsn(sandbox)) as sender:
        sender.send(relay_event(r))  # as if a sender posted it and died before marking it sent
        relay_pending(database_url, sender)
    assert [g["event_id"] for g in received(control)] == [r.event_id]
    assert [row.status for row in outbox(database_url)] == ["sent"]


class CountingSender:
    """The real ingest client, with every post it made written down (what crosses the wire, per sender)."""

    def __init__(self, ingest: EventIngest, posts: list[str]) -> None:
        self.ingest, self.posts = ingest, posts

    def send(self, payload):
        self.posts.append(payload["event_id"])
        return self.ingest.send(payload)


def test_two_senders_racing_over_one_outbox_post_each_row_once(database_url, sandbox, control):
    """Two services' relays waking at once: each row is claimed by one of them, posted once, marked sent."""
    records = [record(f"race {i}") for i in range(40)]
    store_now(database_url, [Pending(r, relay_event(r)) for r in records])
    posts: list[str] = []
    start = threading.Barrier(2)

    def relay() -> None:
        with EventIngest(dsn(sandbox)) as ingest:
            start.wait()
            relay_pending(database_url, CountingSender(ingest, posts))

    threads = [threading.Thread(target=relay) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(posts) == sorted(r.event_id for r in records)  # every row posted, none twice
    assert {row.status for row in outbox(database_url)} == {"sent"}
    assert len(received(control)) == 40


def test_service_with_relay_on_forwards_what_it_accepts(database_url, sandbox, control, monkeypatch, tmp_path):
    for k, v in {"TRIAGE_DATABASE_URL": database_url, "TELEMETRY_RELAY": "true", "GLITCHTIP_DSN": dsn(sandbox),
                 "TELEMETRY_PROJECT_KEYS": "7:publickey123"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(tmp_path)
    reset_settings()
    try:
        with LoopbackServer(create_service(), lifespan="on") as svc:  # shut down as `triage serve` is
            event_id = uuid.uuid4().hex
            answer = httpx.post(f"{svc.url}/api/telemetry/error", json={
                "eventId": event_id, "message": "Checkout failed for bob@example.org", "type": "CheckoutError"})
            assert answer.status_code == 200
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not received(control):
                time.sleep(0.2)
    finally:
        close_batchers()
        reset_settings()
    [got] = received(control)
    assert got["event_id"] == event_id and "bob@example.org" not in str(got["event"])
    assert not [t for t in threading.enumerate() if t.name == "telemetry-relay"], "the service stopped its relay"


def test_dsn_that_cannot_work_is_refused():
    from triageflow.clients.errors import Refused

    with pytest.raises(Refused, match="GLITCHTIP_DSN"):
        EventIngest("not a dsn")
