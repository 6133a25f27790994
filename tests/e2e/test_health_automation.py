"""The Prefect automation on Failed/Crashed runs calls the service, which records and alerts runs no hook saw."""

from __future__ import annotations

import time

import httpx
import pytest
from prefect import flow
from sqlmodel import select

from models.db import session_scope
from models.flow_health import FlowHealth
from triageflow.health_automation import AUTOMATION_NAME, install_automation
from triageflow.sandbox.server import LoopbackServer
from triageflow.service.app import create_service
from triageflow.settings import reset_settings

SECRET = "s3cret-webhook-token-0123"


@flow(name="unwatched-probe")
def unwatched_probe() -> None:
    """A flow without the health hooks, as a process killed outright would leave it: only the server sees it."""
    raise RuntimeError("disk full on worker-3")


@pytest.fixture
def service(triage_env, monkeypatch):
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    reset_settings()
    with LoopbackServer(create_service()) as server:
        yield server


@pytest.fixture
def automation(prefect_harness, service):
    """Installed for this test only: later tests' runs must not call a service that is gone."""
    from prefect.client.orchestration import get_client

    install_automation(service.url, SECRET)
    yield
    with get_client(sync_client=True) as client:
        for a in client.read_automations_by_name(AUTOMATION_NAME):
            client.delete_automation(a.id)


def _wait_for_row(url: str, flow_name: str, seconds: float = 60) -> FlowHealth:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with session_scope(url) as session:
            row = session.exec(select(FlowHealth).where(FlowHealth.flow_name == flow_name)).first()
        if row:
            return row
        time.sleep(0.25)
    raise AssertionError(f"no {flow_name} run recorded within {seconds} s")


def test_a_failed_run_without_hooks_is_recorded_and_alerted_through_the_automation(triage_env, service, automation,
                                                                                      control):
    from prefect.client.orchestration import get_client

    install_automation(service.url, SECRET)  # a second install replaces the first
    with get_client(sync_client=True) as client:
        assert len(client.read_automations_by_name(AUTOMATION_NAME)) == 1
    state = unwatched_probe(return_state=True)
    assert state.is_failed()
    row = _wait_for_row(triage_env["TRIAGE_DATABASE_URL"], "unwatched-probe")
    assert row.state == "Failed" and "disk full on worker-3" in row.error and row.duration_s is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not [m for m in control.outbox("slack") if "unwatched-probe" in m["text"]]:
        time.sleep(0.25)
    (text,) = [m["text"] for m in control.outbox("telegram") if "unwatched-probe" in m["text"]]
    assert "Flow unwatched-probe failed" in text and "disk full on worker-3" in text


def test_the_endpoint_refuses_a_wrong_secret_and_names_a_bad_field(triage_env, service):
    assert httpx.post(f"{service.url}/health/flow-runs", json={}).status_code == 401
    bad = httpx.post(f"{service.url}/health/flow-runs", json={"flow_run_id": "nope"},
                     headers={"X-Triage-Token": SECRET})
    assert bad.status_code == 422 and bad.json()["detail"]["field"] == "flow_run_id"


def _actions_executed() -> int:
    """How many automation actions the Prefect server reports as executed (its own events)."""
    from prefect.settings import PREFECT_API_URL

    response = httpx.post(f"{PREFECT_API_URL.value()}/events/filter", timeout=10,
                          json={"filter": {"event": {"name": ["prefect.automation.action.executed"]}}, "limit": 50})
    response.raise_for_status()
    return len(response.json()["events"])


def test_a_watched_run_reported_by_both_paths_alerts_once(triage_env, service, automation, control):
    from flows.investigate import investigate_issue

    before = _actions_executed()
    control.fault("/api/0/issues/9", "error", status=403, times=100)
    assert investigate_issue("9", return_state=True).is_failed()
    deadline = time.monotonic() + 60
    while _actions_executed() == before and time.monotonic() < deadline:
        time.sleep(0.5)  # until the automation has called the service too
    assert _actions_executed() > before, "the automation did not call the service"
    with session_scope(triage_env["TRIAGE_DATABASE_URL"]) as session:
        assert len(list(session.exec(select(FlowHealth)))) == 1
    texts = [m["text"] for m in control.outbox("telegram") if "investigate-issue" in m["text"]]
    assert len(texts) == 1
