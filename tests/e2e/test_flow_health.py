"""Flow health: every run lands in the history; a failing flow alerts once an hour, critically after the 4th failure."""

from __future__ import annotations

from sqlmodel import select

from flows.health import check_integrations
from flows.investigate import investigate_issue
from models.db import session_scope
from models.flow_health import FlowHealth, HealthAlert


def _runs(url: str, flow: str) -> list[FlowHealth]:
    with session_scope(url) as session:
        return list(session.exec(select(FlowHealth).where(FlowHealth.flow_name == flow).order_by(FlowHealth.id)))


def _health_alerts(control) -> list[dict]:
    return [m for m in control.outbox() if m["method"] in ("sendMessage", "chat.postMessage")
            and "investigate-issue" in (m.get("text") or "")]


def test_a_completed_run_is_kept_with_its_duration_and_summary(prefect_harness, triage_env, control):
    check_integrations(names=["database"], watch_schedules=False)
    (row,) = _runs(triage_env["TRIAGE_DATABASE_URL"], "check-integrations")
    assert row.state == "Completed" and row.duration_s is not None and row.duration_s >= 0
    assert row.summary == "1 ok" and row.error is None
    assert not [m for m in control.outbox() if "check-integrations" in (m.get("text") or "")]


def test_failing_flow_alerts_once_per_hour_then_critically_after_the_fourth_failure(prefect_harness, triage_env,
                                                                                      control):
    url = triage_env["TRIAGE_DATABASE_URL"]
    control.fault("/api/0/issues/9", "error", status=403, times=100)  # refused: not retried, the run fails

    state = investigate_issue("9", return_state=True)
    assert state.is_failed()
    alerts = _health_alerts(control)
    assert [a["service"] for a in alerts] == ["telegram", "slack"]
    first = alerts[0]["text"]
    assert "Flow investigate-issue failed" in first and "Unauthorized: glitchtip: token refused by" in first
    assert "/runs/flow-run/" in first and str(_runs(url, "investigate-issue")[0].flow_run_id) in first

    for _ in range(2):
        assert investigate_issue("9", return_state=True).is_failed()
    assert len(_health_alerts(control)) == 2, "no second alert within the hour"

    assert investigate_issue("9", return_state=True).is_failed()
    alerts = _health_alerts(control)
    assert len(alerts) == 4
    assert all("CRITICAL: flow investigate-issue failed 4 times in the last hour" in a["text"] for a in alerts[2:])

    assert investigate_issue("9", return_state=True).is_failed()
    assert len(_health_alerts(control)) == 4, "the critical alert is sent once an hour too"
    runs = _runs(url, "investigate-issue")
    assert [r.state for r in runs] == ["Failed"] * 5 and all("Unauthorized" in r.error for r in runs)
    with session_scope(url) as session:
        kinds = [a.kind for a in session.exec(select(HealthAlert).order_by(HealthAlert.id))]
    assert kinds == ["failure", "critical"]


CRASHING_FLOW = """
import time
from prefect import flow
from tasks.flow_health import WATCHED

@flow(name="crash-probe", **WATCHED)
def crash_probe():
    print("running", flush=True)
    time.sleep(120)

crash_probe()
"""


def test_a_run_killed_by_sigterm_is_recorded_as_crashed_and_alerts(prefect_harness, triage_env, control):
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from prefect.settings import PREFECT_API_URL

    env = dict(os.environ, PREFECT_API_URL=PREFECT_API_URL.value(), PYTHONUNBUFFERED="1")
    process = subprocess.Popen([sys.executable, "-c", CRASHING_FLOW], cwd=Path(__file__).resolve().parents[2],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in process.stdout:
            if "running" in line and "Beginning" not in line:
                break
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    finally:
        process.kill()
    (row,) = _runs(triage_env["TRIAGE_DATABASE_URL"], "crash-probe")
    assert row.state == "Crashed", output[-2000:]
    (text,) = [m["text"] for m in control.outbox("telegram") if "crash-probe" in m["text"]]
    assert "Flow crash-probe crashed" in text and "/runs/flow-run/" in text
