"""The production path as a new set-up meets it: a real `prefect server` from the project's environment,
`prefect deploy --all` from prefect.yaml, the scheduler creating upcoming runs for every scheduled deployment,
a process worker running a scheduled run and the event-triggered investigation, and a server log with no
traceback in it. A pinned combination that breaks Prefect's scheduler (SQLAlchemy 2.1) fails here."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.client.schemas.objects import FlowRun

from triageflow.deploy import deploy_project, prefect_command, prefect_env, process_worker, wait_for_scheduled_runs
from triageflow.prefect_server import prefect_server

ROOT = Path(__file__).resolve().parents[2]


def _final(run_id, timeout: float = 180) -> FlowRun:
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            run = client.read_flow_run(run_id)
            if run.state and run.state.is_final() or time.monotonic() > deadline:
                return run
            time.sleep(0.5)


def _runs_of(deployment_id) -> list[FlowRun]:
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])))


def test_deployed_schedules_fire_and_a_worker_runs_scheduled_and_triggered_runs(tmp_path, triage_env, glitchtip):
    declared = {d["name"]: d for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]}
    scheduled = sorted(name for name, spec in declared.items() if spec.get("schedules"))
    with prefect_server(tmp_path / "prefect") as server:
        env = prefect_env(server)
        deploy_project(env)
        deployed_at = time.monotonic()

        with get_client(sync_client=True) as client:
            deployments = {d.name: d for d in client.read_deployments()}
            assert set(deployments) == set(declared)
            for name, spec in declared.items():
                assert sorted(s.schedule.cron for s in deployments[name].schedules) == \
                    sorted(s["cron"] for s in spec.get("schedules", [])), name
                assert deployments[name].work_pool_name == "triageflow"
            [automation] = [a for a in client.read_automations() if a.name.startswith("investigate-issue")]
            assert automation.trigger.expect == {"triageflow.issue.alerted"}
            assert automation.actions[0].deployment_id == deployments["investigate-issue"].id

        # the server's own scheduler creates the upcoming runs of every scheduled deployment
        upcoming = wait_for_scheduled_runs(scheduled, timeout=120)
        print(f"scheduler: upcoming runs for {len(scheduled)} deployments within "
              f"{time.monotonic() - deployed_at:.1f} s of deploy: {upcoming}")
        assert all(upcoming[name] > 0 for name in scheduled), upcoming

        with process_worker(env, tmp_path / "worker.log"):
            # a run scheduled a few seconds ahead, as `prefect deployment run --start-in` makes it
            asked_at = datetime.now(timezone.utc)
            prefect_command(["deployment", "run", "check-integrations/check-integrations", "--start-in", "5 seconds"],
                            env, timeout=120)
            [ahead] = [r for r in _runs_of(deployments["check-integrations"].id) if not r.auto_scheduled]
            assert ahead.expected_start_time >= asked_at + timedelta(seconds=4), "scheduled ahead, not run at once"
            # a number typed on the command line is accepted as the issue id
            prefect_command(["deployment", "run", "investigate-issue/investigate-issue", "-p", "issue_id=3"], env,
                            timeout=120)
            # the web service's event makes the triggered deployment run with the issue id
            from triageflow.service.alerting import start_investigation
            from triageflow.settings import load_settings

            assert start_investigation("9", load_settings()) == "event"

            ahead = _final(ahead.id)
            assert ahead.state.is_completed(), (ahead.state, (tmp_path / "worker.log").read_text()[-3000:])
            assert ahead.start_time >= ahead.expected_start_time - timedelta(seconds=1), "it waited for its time"
            deadline = time.monotonic() + 60
            investigations = []
            while time.monotonic() < deadline and len(investigations) < 2:
                investigations = _runs_of(deployments["investigate-issue"].id)
                time.sleep(0.3)
            by_issue = {str(r.parameters["issue_id"]): _final(r.id) for r in investigations}
            assert set(by_issue) == {"3", "9"}
            for issue_id, run in by_issue.items():
                assert run.state.is_completed(), (issue_id, run.state, (tmp_path / "worker.log").read_text()[-3000:])

        for issue_id in ("3", "9"):
            assert [c for c in glitchtip.comments(issue_id) if f"triageflow:investigation:{issue_id}" in c.text]
        log = server.log_text()
        assert "Traceback" not in log, log[-3000:]
