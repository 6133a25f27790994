"""The main job on embedded defaults, run the way production runs it: the sandbox, SQLite, a real local Prefect
server with its UI, the deployments of prefect.yaml and a process worker. Every step's outcome is checked; the
first one that fails ends the demo with a non-zero status naming it."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from .deploy import PROJECT_ROOT, deploy_project, prefect_env, process_worker
from .prefect_server import PrefectServer, exit_cleanly_on_sigterm, prefect_server
from .scrub import scrub
from .settings import reset_settings

DEMO_DIR = Path(".triageflow/demo")
DEMO_WEBHOOK_SECRET = "demo-webhook-secret-0001"
RUN_TIMEOUT = 300.0
_PREFECT_OWN_LINES = ("Beginning", "Finished in state", "Created task", "Worker '", "Flow run '", "Running 1 deployment",
                      "Executing deployment step", "Deployment step", "All deployment steps", "Opening process",
                      "Process for flow run", "Completed submission", "Reported flow run")


class DemoFailed(Exception):
    """A step did not have the outcome it should; names the step and what was seen."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"{step}: {reason}")
        self.step, self.reason = step, reason


@dataclass
class StepRecord:
    name: str
    outcome: str
    links: list[str] = field(default_factory=list)


@dataclass
class Demo:
    """What the demo has started and seen so far."""

    console: Console
    server: PrefectServer | None = None
    sandbox_url: str = ""
    env: dict[str, str] = field(default_factory=dict)
    steps: list[StepRecord] = field(default_factory=list)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[StepRecord]:
        self.console.rule(name)
        record = StepRecord(name, "running")
        self.steps.append(record)
        try:
            yield record
        except DemoFailed:
            record.outcome = "failed"
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of a step is reported as that step's
            record.outcome = "failed"
            raise DemoFailed(name, f"{exc.__class__.__name__}: {scrub(str(exc))}") from exc
        if record.outcome == "running":
            record.outcome = "ok"

    def run_deployment(self, record: StepRecord, name: str, parameters: dict[str, Any] | None = None):
        """Run a deployment through the worker, wait for its final state, print its UI address and artifacts."""
        from prefect.deployments import run_deployment

        run = run_deployment(name, parameters=parameters or {}, timeout=RUN_TIMEOUT, poll_interval=1)
        self.show_run(record, run)
        if not (run.state and run.state.is_completed()):
            state = run.state.name if run.state else "no state"
            message = (run.state.message or "") if run.state else ""
            raise DemoFailed(record.name, f"flow run {run.name} ended {state} {message}".strip()
                             + f" — {self.server.run_url(run.id)}")
        return run

    def show_run(self, record: StepRecord, run) -> None:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, LogFilter, LogFilterFlowRunId

        url = self.server.run_url(run.id)
        record.links.append(url)
        self.console.print(f"flow run [bold]{run.name}[/bold] {run.state.name if run.state else '?'}: {url}",
                           highlight=False)
        with get_client(sync_client=True) as client:
            logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])), limit=200)
            artifacts = client.read_artifacts(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])))
        for line in logs:
            if line.level >= 20 and not line.message.startswith(_PREFECT_OWN_LINES):
                self.console.print(f"  log: {scrub(line.message)[:300]}", markup=False, highlight=False)
        for artifact in artifacts:
            link = self.server.artifact_url(artifact.id)
            record.links.append(link)
            self.console.print(f"  artifact {artifact.key or artifact.type}: {link}", highlight=False)


def _fresh_state() -> None:
    """Each demo starts from nothing: no database, no alert window, no Prefect history of an earlier run."""
    if DEMO_DIR.exists():
        shutil.rmtree(DEMO_DIR)
    DEMO_DIR.mkdir(parents=True)


def run_demo(database_url: str | None, console: Console, *, keep: bool = False) -> int:
    demo = Demo(console)
    try:
        with exit_cleanly_on_sigterm(), contextlib.ExitStack() as stack:
            _run_steps(demo, stack, database_url)
            _summary(demo)
            if keep:
                _keep_running(demo)
        return 0
    except DemoFailed as failure:
        _summary(demo)
        console.print(f"[red bold]demo failed at step “{failure.step}”:[/red bold] {failure.reason}", highlight=False)
        return 1
    except (KeyboardInterrupt, SystemExit):
        console.print("[yellow]demo stopped; everything it started is stopped too[/yellow]")
        return 130


def _run_steps(demo: Demo, stack: contextlib.ExitStack, database_url: str | None) -> None:
    from models.db import current_revision, engine_for

    from .cli import sandbox_env
    from .sandbox import SandboxServer

    console = demo.console
    console.rule("[bold]triageflow demo")
    _fresh_state()
    database_url = database_url or f"sqlite:///{(DEMO_DIR / 'demo.db').resolve()}"

    with demo.step("sandbox (GlitchTip, Telegram and Slack on loopback)") as record:
        sandbox = stack.enter_context(SandboxServer(codebase_dir=(DEMO_DIR / "booking").resolve()))
        demo.sandbox_url = sandbox.url
        demo.env = dict(sandbox_env(sandbox), TRIAGE_DATABASE_URL=database_url, WEBHOOK_SECRET=DEMO_WEBHOOK_SECRET,
                        TRIAGE_ENV="development", TRIAGE_DRY_RUN="false")
        os.environ.update(demo.env)
        reset_settings()
        console.print(f"sandbox GlitchTip at {sandbox.url} (org acme), sample codebase at {sandbox.sandbox.codebase}",
                      highlight=False)

    with demo.step("database") as record:
        engine_for(database_url)  # migrates a new database on first use
        record.outcome = f"schema {current_revision(database_url)}"
        console.print(f"{database_url}: schema {current_revision(database_url)}", highlight=False)

    with demo.step("Prefect server (with its UI)") as record:
        demo.server = stack.enter_context(prefect_server((DEMO_DIR / "prefect").resolve(), ui=True,
                                                         announce=console.print))
        _point_this_process_at(demo.server.api_url)
        record.links.append(demo.server.ui_url)
        console.print(f"Prefect UI at {demo.server.ui_url}, API at {demo.server.api_url}", highlight=False)

    with demo.step("deployments from prefect.yaml and a process worker") as record:
        env = prefect_env(demo.server, demo.env)
        deploy_project(env)
        stack.enter_context(process_worker(env, (DEMO_DIR / "worker.log").resolve()))
        record.links.append(f"{demo.server.ui_url}/deployments")
        console.print(f"deployed every deployment of {PROJECT_ROOT / 'prefect.yaml'}; worker polling pool "
                      f"'triageflow' (log: {DEMO_DIR / 'worker.log'})", highlight=False)

    with demo.step("check-integrations") as record:
        demo.run_deployment(record, "check-integrations/check-integrations")

    issues = _top_issues(demo)
    fatal = next((i for i in issues if i.level == "fatal"), None)
    with demo.step("investigate-issue: the most frequent fatal issue") as record:
        if fatal is None:
            raise DemoFailed(record.name, "the sandbox lists no fatal issue")
        demo.run_deployment(record, "investigate-issue/investigate-issue", {"issue_id": fatal.id})
        comment = _investigation_comment(fatal.id)
        if comment is None:
            raise DemoFailed(record.name, f"the run completed but issue {fatal.id} carries no investigation comment")
        console.print(f"\nthe comment posted on issue {fatal.id}:\n", highlight=False)
        console.print(comment, markup=False, highlight=False)

    with demo.step("runbook-sweep") as record:
        demo.run_deployment(record, "runbook-sweep/runbook-sweep")

    with demo.step("daily-metrics: the morning report to Telegram and Slack") as record:
        demo.run_deployment(record, "daily-metrics/daily-metrics", {"force": True})
        outbox = httpx.get(f"{demo.sandbox_url}/_sandbox/outbox", timeout=10).json()
        services = {m["service"] for m in outbox}
        if not {"telegram", "slack"} <= services:
            raise DemoFailed(record.name, f"the sandbox outbox holds messages for {sorted(services)} only")
        message = next(m for m in outbox if m["method"] == "sendMessage")
        console.print(f"outbox: {', '.join(sorted({m['service'] + ' ' + m['method'] for m in outbox}))}\n"
                      "Telegram message as sent (HTML):\n", highlight=False)
        console.print(message["text"], markup=False, highlight=False)

    with demo.step("web service: GlitchTip webhook → Telegram alert → triggered investigation") as record:
        _webhook_to_investigation(demo, stack, record, issues)


def _point_this_process_at(api_url: str) -> None:
    """The demo's own calls, the web service's threads and the processes it starts all use this server."""
    from prefect.context import refresh_global_settings_context

    os.environ["PREFECT_API_URL"] = api_url
    refresh_global_settings_context()


def _top_issues(demo: Demo):
    from .clients.glitchtip import glitchtip_from_settings
    from .settings import load_settings

    with demo.step("top unresolved issues (GlitchTip API)") as record:
        with glitchtip_from_settings(load_settings()) as gt:
            issues = list(gt.issues("is:unresolved", sort="freq"))
        if not issues:
            raise DemoFailed(record.name, "the sandbox lists no unresolved issue")
        table = Table(title=f"{len(issues)} unresolved issues, most frequent first")
        for column in ("id", "events", "level", "project", "title"):
            table.add_column(column, overflow="fold")
        for i in issues[:10]:
            table.add_row(i.id, str(i.event_count), i.level, i.project.slug, scrub(i.title)[:80])
        demo.console.print(table)
        return issues


def _investigation_comment(issue_id: str) -> str | None:
    from .clients.glitchtip import glitchtip_from_settings
    from .settings import load_settings

    with glitchtip_from_settings(load_settings()) as gt:
        posted = [c.text for c in gt.comments(issue_id) if f"triageflow:investigation:{issue_id}" in c.text]
    return posted[-1] if posted else None


def _webhook_to_investigation(demo: Demo, stack: contextlib.ExitStack, record: StepRecord, issues) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    from .sandbox.server import LoopbackServer
    from .service.app import create_service

    console = demo.console
    target = next((i for i in issues if i.level == "error"), None)
    if target is None:
        raise DemoFailed(record.name, "the sandbox lists no issue of level error")
    service = stack.enter_context(LoopbackServer(create_service()))
    demo.env["TRIAGE_SERVICE_URL"] = service.url
    sent = httpx.post(f"{demo.sandbox_url}/_sandbox/webhooks/glitchtip", timeout=60, json={
        "url": f"{service.url}/webhooks/glitchtip?token={DEMO_WEBHOOK_SECRET}", "issue_ids": [target.id]}).json()
    console.print(f"GlitchTip-style webhook for issue {target.id} → the service answered {sent['status']}",
                  highlight=False)
    if sent["status"] != 202:
        raise DemoFailed(record.name, f"the service answered {sent['status']}: {sent.get('body')}")
    alert = _wait_for(lambda: next((m for m in httpx.get(f"{demo.sandbox_url}/_sandbox/outbox", timeout=10).json()
                                    if m["method"] == "sendMessage" and "Open in GlitchTip" in m["text"]), None), 120)
    if alert is None:
        raise DemoFailed(record.name, "no Telegram alert reached the sandbox within 120 s")
    console.print("Telegram alert as sent (HTML):\n", highlight=False)
    console.print(alert["text"], markup=False, highlight=False)

    def triggered_run():
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(deployment_filter=DeploymentFilter(
                name=DeploymentFilterName(any_=["investigate-issue"])))
        return next((r for r in runs if str(r.parameters.get("issue_id")) == target.id), None)

    run = _wait_for(triggered_run, 60)
    if run is None:
        raise DemoFailed(record.name, "the alert event triggered no investigate-issue run within 60 s")
    def finished_run():
        latest = triggered_run()
        return latest if latest and latest.state and latest.state.is_final() else None

    run = _wait_for(finished_run, RUN_TIMEOUT)
    if run is None:
        raise DemoFailed(record.name, "the triggered investigation did not finish in time")
    demo.show_run(record, run)
    if not run.state.is_completed():
        raise DemoFailed(record.name, f"the triggered investigation ended {run.state.name}: {run.state.message}")
    if _investigation_comment(target.id) is None:
        raise DemoFailed(record.name, f"the investigation completed but issue {target.id} has no comment")
    console.print(f"investigation comment posted on issue {target.id} by the event-triggered run", highlight=False)


def _wait_for(probe: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(0.5)
    return None


def _summary(demo: Demo) -> None:
    table = Table(title="demo steps")
    for column in ("step", "outcome", "where to look"):
        table.add_column(column, overflow="fold")
    for s in demo.steps:
        colour = "green" if s.outcome not in ("failed", "running") else "red"
        table.add_row(s.name, f"[{colour}]{s.outcome}[/{colour}]", "\n".join(s.links))
    demo.console.rule("summary")
    demo.console.print(table)


def _keep_running(demo: Demo) -> None:
    console = demo.console
    console.rule("[bold]still running (--keep): Ctrl-C stops everything")
    exports = dict(demo.env, PREFECT_API_URL=demo.server.api_url)
    for key in ("GLITCHTIP_URL", "GLITCHTIP_TOKEN", "GLITCHTIP_ORG", "TRIAGE_DATABASE_URL", "CODEBASE_PATH",
                "TELEGRAM_API_URL", "TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID", "SLACK_API_URL", "SLACK_BOT_TOKEN",
                "SLACK_CHANNEL", "WEBHOOK_SECRET", "PREFECT_API_URL"):
        if key in exports:
            console.print(f"export {key}={exports[key]}", highlight=False, markup=False)
    console.print(f"\nPrefect UI: {demo.server.ui_url}   web service: {demo.env.get('TRIAGE_SERVICE_URL')}",
                  highlight=False)
    while True:
        signal.pause()
