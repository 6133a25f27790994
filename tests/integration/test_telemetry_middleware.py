"""The ASGI capture middleware: a Starlette app's exceptions and 5xx answers reach triageflow with their
correlation id; its other answers are untouched apart from the echoed id."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlmodel import select
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from models.db import session_scope
from models.telemetry import TelemetryEvent, TelemetryGroup
from tasks.telemetry_store import close_batchers
from triageflow.sandbox.server import LoopbackServer
from triageflow.service.app import create_service
from triageflow.service.telemetry_capture import ErrorCapture, ReportSender
from triageflow.settings import reset_settings


def charge(request):
    amount = int(request.query_params.get("amount", "0"))
    raise ZeroDivisionError(f"cannot split {amount} between 0 people") if amount else None


def upstream(request):
    return PlainTextResponse("upstream down", status_code=503)


def fine(request):
    return PlainTextResponse("ok")


@pytest.fixture
def wrapped_app(database_url, monkeypatch, tmp_path):
    monkeypatch.setenv("TRIAGE_DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    reset_settings()
    with LoopbackServer(create_service()) as triage:
        sender = ReportSender(triage.url)
        app = Starlette(routes=[Route("/charge", charge), Route("/upstream", upstream), Route("/health", fine)])
        with LoopbackServer(ErrorCapture(app, sender=sender, project_id="booking-api", release="1.4.2")) as served:
            yield served, sender
        sender.close()
    close_batchers()
    reset_settings()


def events(url):
    with session_scope(url) as s:
        return list(s.exec(select(TelemetryEvent).order_by(TelemetryEvent.id)))


def wait_for(predicate, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def test_exceptions_and_5xx_are_reported_with_their_correlation_id(wrapped_app, database_url):
    served, sender = wrapped_app
    crashed = httpx.get(f"{served.url}/charge?amount=12", headers={"x-correlation-id": "req-crash-1"})
    down = httpx.get(f"{served.url}/upstream")
    ok = httpx.get(f"{served.url}/health")
    assert crashed.status_code == 500 and down.status_code == 503 and ok.status_code == 200
    assert ok.headers["x-correlation-id"] and down.headers["x-correlation-id"]
    rows = wait_for(lambda: (r := events(database_url)) and len(r) >= 2 and r)
    time.sleep(0.5)  # nothing more arrives: the 200 is not reported
    rows = events(database_url)
    by_type = {r.exception_type: r for r in rows}
    assert sorted(by_type) == ["HTTPError", "ZeroDivisionError"]
    crash = by_type["ZeroDivisionError"]
    assert crash.correlation_id == "req-crash-1" and "in charge" in crash.stack
    assert crash.project_id == "booking-api" and crash.release == "1.4.2"
    assert by_type["HTTPError"].correlation_id == down.headers["x-correlation-id"]
    assert by_type["HTTPError"].message == "HTTP 503 from GET /upstream"
    with session_scope(database_url) as s:
        crash_group = s.exec(select(TelemetryGroup).where(TelemetryGroup.fingerprint == crash.fingerprint)).one()
    assert crash_group.count == 1 and any(f["function"] == "charge" and f["in_app"] for f in crash_group.sample["frames"])


def test_an_odd_correlation_id_is_replaced_once_and_never_stops_reporting(wrapped_app, database_url):
    """The app echoes the id the service stores (one rule for both), and an id httpx cannot send as a header
    (non-ASCII) is replaced rather than killing the thread that sends every later report."""
    served, sender = wrapped_app
    spaced = httpx.get(f"{served.url}/charge?amount=1", headers={"x-correlation-id": "req 42; drop"})
    accented = httpx.get(f"{served.url}/charge?amount=2", headers={"x-correlation-id": "req-caf\u00e9".encode("latin-1")})
    later = httpx.get(f"{served.url}/charge?amount=3", headers={"x-correlation-id": "req-later-3"})
    assert spaced.status_code == accented.status_code == later.status_code == 500
    echoed = [r.headers["x-correlation-id"] for r in (spaced, accented)]
    assert all(e not in ("req 42; drop", "req-caf\u00e9") and len(e) == 32 for e in echoed)
    rows = wait_for(lambda: (r := events(database_url)) and len(r) >= 3 and r)
    stored = {r.message: r.correlation_id for r in rows}
    assert stored["cannot split 1 between 0 people"] == echoed[0]
    assert stored["cannot split 2 between 0 people"] == echoed[1]
    assert stored["cannot split 3 between 0 people"] == "req-later-3"
    assert sender.dropped == 0
