"""The production path on one machine: the deployments of prefect.yaml on a Prefect server, and a process worker
that runs them. The demo and the production-path test use it; production runs the same commands by hand
(deployments/README.md)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from .prefect_server import PrefectServer, offline_prefect_env, stop_process_group

PROJECT_ROOT = Path(__file__).resolve().parent.parent
WORK_POOL = "triageflow"


class DeployError(RuntimeError):
    """A `prefect` command failed; the message carries what it printed."""


def prefect_env(server: PrefectServer, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a `prefect` command, a worker and the flow runs it starts need to reach `server`."""
    return dict(os.environ, **offline_prefect_env(), PREFECT_API_URL=server.api_url, PREFECT_CLI_PROMPT="false",
                TRIAGEFLOW_HOME=str(PROJECT_ROOT), **(extra or {}))


def prefect_command(args: list[str], env: dict[str, str], *, timeout: float = 300) -> str:
    done = subprocess.run([sys.executable, "-m", "prefect", *args], cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise DeployError(f"`prefect {' '.join(args)}` failed ({done.returncode}):\n"
                          + (done.stdout[-2000:] + done.stderr[-2000:]).strip())
    return done.stdout


def deploy_project(env: dict[str, str]) -> None:
    """`prefect work-pool create triageflow --type process` (once) and `prefect --no-prompt deploy --all`."""
    pools = prefect_command(["work-pool", "ls"], env, timeout=120)
    if WORK_POOL not in pools:
        prefect_command(["work-pool", "create", WORK_POOL, "--type", "process"], env, timeout=120)
    prefect_command(["--no-prompt", "deploy", "--all"], env)


@contextlib.contextmanager
def process_worker(env: dict[str, str], log_path: Path, *, poll_seconds: float = 1.0) -> Iterator[subprocess.Popen]:
    """`prefect worker start --pool triageflow`, polling every `poll_seconds`, stopped (its flow runs with it) on
    the way out."""
    worker_env = dict(env, PREFECT_WORKER_QUERY_SECONDS=str(poll_seconds), PREFECT_WORKER_PREFETCH_SECONDS="10")
    with open(log_path, "ab") as log:
        worker = subprocess.Popen([sys.executable, "-m", "prefect", "worker", "start", "--pool", WORK_POOL],
                                  cwd=PROJECT_ROOT, env=worker_env, stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        yield worker
    finally:
        stop_process_group(worker)


def wait_for_scheduled_runs(deployment_names: list[str], *, timeout: float = 120) -> dict[str, int]:
    """Wait until the server's scheduler has created upcoming runs for every named deployment; their counts."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName, FlowRunFilter, \
        FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            counts = {}
            for name in deployment_names:
                runs = client.read_flow_runs(
                    deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[name])),
                    flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))), limit=200)
                counts[name] = sum(1 for run in runs if run.auto_scheduled)
            if all(counts.values()) or time.monotonic() > deadline:
                return counts
            time.sleep(0.5)
