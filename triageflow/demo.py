"""The main job on embedded defaults: start the sandbox, prepare SQLite, run the flows against it."""

from __future__ import annotations

import os

import httpx
from pathlib import Path

from rich.console import Console
from rich.table import Table

from .scrub import scrub
from .settings import reset_settings

DEMO_DIR = Path(".triageflow/demo")


def _quiet_offline_prefect() -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def run_demo(database_url: str, console: Console) -> int:
    from flows.health import check_integrations
    from models.db import upgrade

    from .clients.glitchtip import glitchtip_from_settings
    from .cli import sandbox_env
    from .sandbox import SandboxServer
    from .settings import load_settings

    _quiet_offline_prefect()
    with SandboxServer(codebase_dir=(DEMO_DIR / "booking").resolve()) as server:
        os.environ.update(sandbox_env(server))
        os.environ["TRIAGE_DATABASE_URL"] = database_url
        reset_settings()
        console.rule("[bold]triageflow demo")
        console.print(f"sandbox GlitchTip at {server.url} (org acme), sample codebase at {server.sandbox.codebase}")

        upgrade(database_url)
        console.print(f"database {database_url}: schema up to date")

        console.rule("check-integrations flow (Prefect)")
        results = check_integrations(fail_on_broken=False)
        table = Table()
        for column in ("integration", "status", "detail"):
            table.add_column(column, overflow="fold")
        for r in results:
            table.add_row(r["integration"], r["status"], r["detail"])
        console.print(table)

        console.rule("top unresolved issues")
        with glitchtip_from_settings(load_settings()) as gt:
            issues = list(gt.issues("is:unresolved", sort="freq"))
        top = Table(title=f"{len(issues)} unresolved issues, most frequent first")
        for column in ("id", "events", "level", "project", "title"):
            top.add_column(column, overflow="fold")
        for i in issues[:10]:
            top.add_row(i.id, str(i.event_count), i.level, i.project.slug, scrub(i.title)[:80])
        console.print(top)

        console.rule("investigate-issue flow: the most frequent fatal issue")
        from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

        from flows.investigate import investigate_issue

        fatal = next(i for i in issues if i.level == "fatal")
        with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            investigation = investigate_issue(fatal.id)
        with glitchtip_from_settings(load_settings()) as gt:
            posted = [c for c in gt.comments(fatal.id) if f"triageflow:investigation:{fatal.id}" in c.text]
        console.print(f"comment {investigation['comment_status']} on issue {fatal.id} in the sandbox "
                      f"({len(posted)} investigation comment there now):\n")
        console.print(posted[-1].text if posted else investigation["markdown"], markup=False, highlight=False)

        console.rule("runbook-sweep flow")
        from flows.runbook_sweep import runbook_sweep

        sweep = runbook_sweep()
        console.print(f"runbook sweep: {sweep['counts']}")

        console.rule("daily-metrics flow: the morning report, sent to the sandbox's Telegram and Slack")
        from flows.daily_metrics import daily_metrics

        with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            report = daily_metrics(force=True)

        outbox = httpx.get(f"{server.url}/_sandbox/outbox").json()
        console.print(f"delivery: {report['delivery']}; the sandbox outbox now holds "
                      f"{len(outbox)} messages ({', '.join(sorted({m['service'] + ' ' + m['method'] for m in outbox}))})")
        message = next((m for m in outbox if m["method"] == "sendMessage"), None)
        if message:
            console.print("Telegram message as sent (HTML):\n", markup=False, highlight=False)
            console.print(message["text"], markup=False, highlight=False)

        console.rule("web service: a GlitchTip webhook → alert in Telegram → investigation")
        import time

        from .sandbox.server import LoopbackServer
        from .service.app import create_service

        os.environ.setdefault("WEBHOOK_SECRET", "demo-webhook-secret-0001")
        reset_settings()
        first_error = next(i for i in issues if i.level == "error")
        with LoopbackServer(create_service()) as service:
            sent = httpx.post(f"{server.url}/_sandbox/webhooks/glitchtip", timeout=60, json={
                "url": f"{service.url}/webhooks/glitchtip?token={os.environ['WEBHOOK_SECRET']}",
                "issue_ids": [first_error.id]}).json()
            console.print(f"GlitchTip-style webhook for issue {first_error.id} → service answered {sent['status']}")
            deadline, alert = time.monotonic() + 120, None
            while time.monotonic() < deadline and alert is None:
                alert = next((m for m in httpx.get(f"{server.url}/_sandbox/outbox").json()
                              if m["method"] == "sendMessage" and "Open in GlitchTip" in m["text"]), None)
                time.sleep(0.2)
            if alert:
                console.print("Telegram alert as sent (HTML):\n", markup=False, highlight=False)
                console.print(alert["text"], markup=False, highlight=False)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                with glitchtip_from_settings(load_settings()) as gt:
                    if any(f"triageflow:investigation:{first_error.id}" in c.text for c in gt.comments(first_error.id)):
                        console.print(f"investigation comment posted on issue {first_error.id}")
                        break
                time.sleep(0.5)

        broken = [r for r in results if r["status"] == "failed"]
        console.rule("[green]demo finished" if not broken else "[red]demo finished with broken integrations")
        return 1 if broken else 0
