"""uptime_check against a loopback URL that goes down and comes back: one alert each way, history kept."""

from __future__ import annotations

import socket

import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from sqlmodel import select

from flows.uptime import uptime_check
from models.db import session_scope
from models.flow_health import UptimeProbe
from triageflow.sandbox.server import LoopbackServer


@pytest.fixture
def service():
    app = FastAPI()
    app.state.status = 200

    @app.get("/health")
    def health():
        return PlainTextResponse("ok" if app.state.status == 200 else "broken", status_code=app.state.status)

    with LoopbackServer(app) as server:
        server.app_state = app.state
        yield server


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _uptime_alerts(control) -> list[str]:
    return [m["text"] for m in control.outbox("telegram") if "DOWN" in m["text"] or "RECOVERED" in m["text"]]


def test_down_and_recovery_alert_once_each(prefect_harness, triage_env, control, service):
    target = {"url": f"{service.url}/health", "expect": 200, "timeout": 2}
    assert uptime_check([target])[target["url"]]["up"] and _uptime_alerts(control) == []

    service.app_state.status = 503
    assert uptime_check([target])[target["url"]]["alert"] == "down"
    assert uptime_check([target])[target["url"]]["alert"] is None
    (down,) = _uptime_alerts(control)
    assert f"DOWN: {target['url']}" in down and "answered 503, expected 200" in down

    service.app_state.status = 200
    assert uptime_check([target])[target["url"]]["alert"] == "up"
    down_again, recovered = _uptime_alerts(control)
    assert f"RECOVERED: {target['url']}" in recovered and "back up after" in recovered
    assert [m for m in control.outbox("slack") if "RECOVERED" in m.get("text", "")]

    with session_scope(triage_env["TRIAGE_DATABASE_URL"]) as session:
        history = [(p.up, p.status) for p in session.exec(select(UptimeProbe).order_by(UptimeProbe.id))]
    assert history == [(True, 200), (False, 503), (False, 503), (True, 200)]


def test_a_url_that_refuses_connections_is_down(prefect_harness, triage_env, control):
    url = f"http://127.0.0.1:{_closed_port()}/"
    result = uptime_check([{"url": url, "timeout": 1}])[url]
    assert not result["up"] and result["alert"] == "down" and "ConnectError" in result["error"]


def test_no_targets_completes_quietly_and_says_so(prefect_harness, triage_env, control, caplog):
    state = uptime_check(return_state=True)
    assert state.is_completed() and state.result() == {}
    assert "no URLs to check" in caplog.text
    assert control.outbox() == []  # an unconfigured check alerts nobody (it runs every minute)
