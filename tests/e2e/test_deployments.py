"""Every deployment in prefect.yaml, deployed to a real temporary Prefect server and read back; the webhook
service's event then makes the triggered deployment run with the issue id."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

from triageflow.prefect_server import prefect_server

ROOT = Path(__file__).resolve().parents[2]


def test_deploy_all_then_an_alert_event_runs_the_investigation(tmp_path, triage_env, glitchtip):
    declared = {d["name"]: d for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]}
    with prefect_server(tmp_path, "sqlite") as api_url:
        env = dict(os.environ, PREFECT_API_URL=api_url, TRIAGEFLOW_HOME=str(ROOT), PREFECT_CLI_PROMPT="false")
        prefect = [sys.executable, "-m", "prefect"]
        pool = subprocess.run(prefect + ["work-pool", "create", "triageflow", "--type", "process"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        assert pool.returncode == 0, pool.stderr
        deploy = subprocess.run(prefect + ["--no-prompt", "deploy", "--all"], cwd=ROOT, env=env, capture_output=True,
                                text=True, timeout=300)
        assert deploy.returncode == 0, deploy.stdout[-2000:] + deploy.stderr[-2000:]

        with get_client(sync_client=True) as client:
            deployments = {d.name: d for d in client.read_deployments()}
            assert set(deployments) == set(declared)
            for name, spec in declared.items():
                crons = sorted(s.schedule.cron for s in deployments[name].schedules)
                assert crons == sorted(s["cron"] for s in spec.get("schedules", [])), name
                assert deployments[name].work_pool_name == "triageflow"
            assert sorted(s.schedule.cron for s in deployments["daily-metrics"].schedules) == ["0 9 * * *"]
            assert sorted(s.schedule.cron for s in deployments["runbook-sweep"].schedules) == ["0 8-23 * * *"]
            [automation] = [a for a in client.read_automations() if a.name.startswith("investigate-issue")]
            assert automation.trigger.expect == {"triageflow.issue.alerted"}
            action = automation.actions[0]
            assert action.deployment_id == deployments["investigate-issue"].id
            assert action.parameters == {"issue_id": "{{ event.payload.issue_id }}"}

        from triageflow.service.alerting import start_investigation
        from triageflow.settings import load_settings

        assert start_investigation("9", load_settings()) == "event"
        deadline = time.monotonic() + 30
        runs = []
        with get_client(sync_client=True) as client:
            while time.monotonic() < deadline and not runs:
                runs = client.read_flow_runs(deployment_filter=DeploymentFilter(
                    id=DeploymentFilterId(any_=[deployments["investigate-issue"].id])))
                time.sleep(0.3)
        assert runs and runs[0].parameters == {"issue_id": "9"}

        # a worker on the pool picks the run up and the investigation lands on the issue
        worker = subprocess.run(prefect + ["worker", "start", "--pool", "triageflow", "--run-once"], cwd=ROOT,
                                env=env, capture_output=True, text=True, timeout=300)
        assert worker.returncode == 0, worker.stdout[-2000:] + worker.stderr[-2000:]
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(runs[0].id).state
        assert state.is_completed(), state
        assert [c for c in glitchtip.comments(9) if "triageflow:investigation:9" in c.text]
