"""Late and starved schedules are reported by check-integrations, once an hour per deployment."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import DeploymentScheduleCreate
from prefect.client.schemas.schedules import CronSchedule
from prefect.states import Scheduled

from flows.health import check_integrations


@flow(name="watched-probe")
def probe() -> None:
    """Only its deployment's schedule matters here; it never runs."""


def _deployment(paused: bool) -> tuple[str, str]:
    name = f"probe-{uuid.uuid4().hex[:8]}"
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow(probe)
        deployment_id = client.create_deployment(
            flow_id, name, entrypoint="tests/e2e/test_schedule_watch.py:probe", paused=paused,
            schedules=[DeploymentScheduleCreate(schedule=CronSchedule(cron="0 0 1 1 *"), active=True)])
    return f"watched-probe/{name}", str(deployment_id)


def _texts(control, deployment: str) -> list[str]:
    return [m["text"] for m in control.outbox("telegram") if deployment in (m.get("text") or "")]


def test_a_paused_scheduled_deployment_is_reported_starved_once(prefect_harness, triage_env, control):
    name, _ = _deployment(paused=True)
    results = check_integrations(names=["database"])
    row = next(r for r in results if r["integration"] == "schedules")
    assert row["status"] == "warning" and f"{name}: starved" in row["detail"]
    (text,) = _texts(control, name)
    assert "has no upcoming runs" in text and "paused" in text
    check_integrations(names=["database"])
    assert len(_texts(control, name)) == 1, "the same problem alerts once an hour"


def test_a_run_waiting_past_its_start_is_reported_late(prefect_harness, triage_env, control):
    name, deployment_id = _deployment(paused=False)
    due = datetime.now(timezone.utc) - timedelta(minutes=40)
    with get_client(sync_client=True) as client:
        client.create_flow_run_from_deployment(deployment_id, state=Scheduled(scheduled_time=due))
    check_integrations(names=["database"], late_minutes=15)
    texts = _texts(control, name)
    late = [t for t in texts if "running late" in t]
    assert len(late) == 1 and "was due 40 min ago" in late[0] and "is a worker polling?" in late[0]
