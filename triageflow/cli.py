"""The `triage` command line."""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from models.db import SchemaNotReady

from .cli_webhooks import webhook_worker
from .clients.errors import ClientError
from .scrub import scrub, scrub_data
from .settings import ConfigError, load_settings, reset_settings

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="triageflow: error-triage automation for GlitchTip and Prometheus/Grafana alerting.")
db_app = typer.Typer(no_args_is_help=True, help="The database schema (Alembic migrations).")
app.add_typer(db_app, name="db")
runbooks_app = typer.Typer(no_args_is_help=True, help="Runbooks: list them, test the matcher, unlink an issue, sweep.")


@app.callback()
def _every_command() -> None:
    """SIGTERM ends a command the way Ctrl-C does: `finally` blocks and exit hooks run, so a Prefect server that
    the command (or Prefect itself, for an in-process flow run) started is stopped, not orphaned."""
    from .prefect_server import exit_on_sigterm

    exit_on_sigterm()


app.add_typer(runbooks_app, name="runbooks")
app.command("webhook-worker")(webhook_worker)


class _LazyConsole:
    """A rich console made when first used: wide when output is not a terminal, so nothing is folded."""

    def __init__(self, stderr: bool = False) -> None:
        self._stderr = stderr

    def __getattr__(self, name):
        stream = sys.stderr if self._stderr else sys.stdout
        width = None if stream.isatty() else int(os.environ.get("COLUMNS", "200"))
        return getattr(Console(stderr=self._stderr, width=width, file=stream, soft_wrap=width is not None), name)


out = _LazyConsole()
err = _LazyConsole(stderr=True)


def friendly_errors(fn):
    """Turn configuration and outside-service failures into one red line and a non-zero exit."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            err.print(f"[red]configuration error:[/red] {exc}")
            raise typer.Exit(2) from None
        except ClientError as exc:
            err.print(f"[red]error:[/red] {scrub(str(exc))}")
            raise typer.Exit(1) from None
        except SchemaNotReady as exc:
            err.print(f"[red]database not ready:[/red] {exc}")
            raise typer.Exit(2) from None

    return wrapper


def _glitchtip(dry_run: bool | None = None):
    from .clients.glitchtip import glitchtip_from_settings

    return glitchtip_from_settings(load_settings(), dry_run=dry_run)


@app.command("issues")
@friendly_errors
def list_issues(
    query: str = typer.Option("is:unresolved", "--query", "-q", help="GlitchTip search, e.g. 'is:unresolved level:error'"),
    project: Optional[str] = typer.Option(None, "--project", "-p", help="project slug or id"),
    sort: Optional[str] = typer.Option(None, "--sort", help="-lastSeen (default), freq or new — or the newer "
                                       "names -last_seen, -count, -first_seen, priority: either works on every release"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """List issues (every page) as a table."""
    with _glitchtip() as gt:
        issues = list(gt.issues(query or None, project=project, sort=sort))
    if as_json:
        rows = [scrub_data(i.model_dump(mode="json", by_alias=True)) for i in issues]
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table(title=f"{len(issues)} issues matching {query!r}", show_lines=False)
    for column in ("id", "short id", "level", "status", "events", "users", "last seen", "project", "title"):
        table.add_column(column, overflow="fold", justify="right" if column in ("events", "users") else "left")
    for i in issues:
        table.add_row(i.id, i.short_id, i.level, i.status, str(i.event_count), str(i.user_count),
                      i.last_seen.strftime("%Y-%m-%d %H:%M"), i.project.slug, scrub(i.title)[:90])
    out.print(table)


@app.command()
@friendly_errors
def doctor() -> None:
    """Check every configured integration; exit 1 when something configured is broken."""
    from .doctor import run_checks

    s = load_settings()
    checks = run_checks(s)
    table = Table(title="triageflow doctor")
    for column in ("integration", "status", "detail"):
        table.add_column(column, overflow="fold")
    colours = {"ok": "green", "failed": "red", "not configured": "yellow"}
    for c in checks:
        table.add_row(c.integration, f"[{colours[c.status]}]{c.status}[/]", scrub(c.detail))
    out.print(table)
    out.print(f"environment: {s.triage_env}, dry-run: {s.triage_dry_run}, "
              f"GlitchTip token: {s.masked()['GLITCHTIP_TOKEN'] or 'not set'}")
    if any(c.broken for c in checks):
        raise typer.Exit(1)


def _set_status(issue_id: str, status: str, dry_run: bool) -> None:
    from tasks.glitchtip_actions import change_status

    from .audit import acting_as

    s = load_settings()
    dry = dry_run or s.triage_dry_run
    with _glitchtip(dry_run=dry) as gt, acting_as(f"cli:{os.environ.get('USER', 'unknown')}"):
        result = change_status(gt, issue_id, status, dry_run=dry, database_url=s.triage_database_url)
    verb = {"changed": f"now {status}", "dry-run": f"would become {status} (dry-run, nothing sent)"}
    out.print(f"issue {result.issue_id}: {verb.get(result.reason, result.reason)}")


@app.command()
@friendly_errors
def resolve(issue_id: str, dry_run: bool = typer.Option(False, "--dry-run")) -> None:
    """Mark an issue resolved (audited)."""
    _set_status(issue_id, "resolved", dry_run)


@app.command()
@friendly_errors
def ignore(issue_id: str, dry_run: bool = typer.Option(False, "--dry-run")) -> None:
    """Ignore an issue until someone reopens it (audited; GlitchTip has no snooze duration)."""
    _set_status(issue_id, "ignored", dry_run)


@app.command()
@friendly_errors
def unresolve(issue_id: str, dry_run: bool = typer.Option(False, "--dry-run")) -> None:
    """Reopen an issue (audited)."""
    _set_status(issue_id, "unresolved", dry_run)


@app.command()
@friendly_errors
def audit(limit: int = typer.Option(20, "--limit", "-n", min=1, max=1000)) -> None:
    """The most recent audit log rows."""
    from .audit import recent

    table = Table(title="audit log")
    for column in ("time", "actor", "system", "action", "target", "dry-run", "outcome"):
        table.add_column(column, overflow="fold")
    for row in recent(load_settings().triage_database_url, limit):
        table.add_row(row.created_at.strftime("%Y-%m-%d %H:%M:%S"), row.actor, row.system, row.action, row.target,
                      "yes" if row.dry_run else "", row.outcome + (f": {row.error}" if row.error else ""))
    out.print(table)


@db_app.command("upgrade")
@friendly_errors
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply the migrations up to REVISION (default: the newest)."""
    from models.db import current_revision, upgrade

    url = load_settings().triage_database_url
    upgrade(url, revision)
    out.print(f"database schema at {current_revision(url)}")


@db_app.command("current")
@friendly_errors
def db_current() -> None:
    """Show the schema revision of the configured database."""
    from models.db import current_revision

    out.print(current_revision(load_settings().triage_database_url) or "no schema (run `triage db upgrade`)")


@app.command()
@friendly_errors
def investigate(
    issue_id: str,
    dry_run: bool = typer.Option(False, "--dry-run", help="post nothing; the audit log records what would be posted"),
    force: bool = typer.Option(False, "--force", help="ignore the 24 h cache and post again"),
    as_json: bool = typer.Option(False, "--json", help="print the structured result"),
) -> None:
    """Investigate one issue now: frames, files, commits, suspects, similar issues, runbook, one comment."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from flows.investigate import investigate_issue

    # an ad-hoc run in this process needs no crash-detection heartbeat (it costs ~1 s per run)
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        result = investigate_issue(issue_id, dry_run=True if dry_run else None, force=force)
    if as_json:
        payload = dict(result["investigation"], comment_status=result["comment_status"],
                       comment_id=result["comment_id"], cached=result["cached"], dry_run=result["dry_run"])
        typer.echo(json.dumps(scrub_data(payload), indent=2, ensure_ascii=False, default=str))
        return
    typer.echo(scrub(result["markdown"]))
    status = {"posted": f"comment {result['comment_id']} posted", "already posted":
              f"already posted (comment {result['comment_id']}); --force posts again",
              "dry-run": "dry-run: nothing posted"}.get(result["comment_status"], result["comment_status"])
    err.print(f"[green]{status}[/green]" + (" (from cache)" if result["cached"] else ""))


@app.command()
@friendly_errors
def metrics(
    day: Optional[str] = typer.Option(None, "--day", help="report a past UTC day, YYYY-MM-DD (default: the last N hours)"),
    hours: int = typer.Option(24, "--hours", min=1, max=24 * 31),
    weekly: bool = typer.Option(False, "--weekly", help="the 7-day report, week over week"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the report, send nothing"),
    force: bool = typer.Option(False, "--force", help="send again even if this day was sent"),
    no_send: bool = typer.Option(False, "--no-send", help="store and show the report without sending it"),
) -> None:
    """Build the daily (or weekly) error report, store its history, send it to Telegram and Slack once."""
    from datetime import date as date_type

    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from flows.daily_metrics import daily_metrics, weekly_metrics

    try:
        parsed = date_type.fromisoformat(day) if day else None
    except ValueError:
        err.print(f"--day must be YYYY-MM-DD, got {day!r}")
        raise typer.Exit(2) from None
    from .progress import progress_bar

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}), progress_bar(Console(stderr=True)):
        try:
            if weekly:
                result = weekly_metrics(week_ending=parsed, send=not no_send, dry_run=True if dry_run else None,
                                        force=force)
            else:
                result = daily_metrics(day=parsed, hours=hours, send=not no_send, dry_run=True if dry_run else None,
                                       force=force)
        except ValueError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
    typer.echo(result["markdown"])
    err.print(f"delivery: {result['delivery'] or 'not sent'}")


def _matcher():
    from tasks.runbooks import RunbookMatcher

    matcher, errors = RunbookMatcher.from_directory(load_settings().runbooks_dir)
    for error in errors:
        err.print(f"[red]malformed runbook[/red] {error}")
    return matcher, errors


@runbooks_app.command("list")
@friendly_errors
def runbooks_list() -> None:
    """List the runbooks; malformed files are reported with the reason (exit 1)."""
    matcher, errors = _matcher()
    table = Table(title=f"{len(matcher.runbooks)} runbooks in {load_settings().runbooks_dir}")
    for column in ("id", "title", "component", "priority", "auto-link", "fields", "patterns"):
        table.add_column(column, overflow="fold")
    for rb in sorted(matcher.runbooks, key=lambda r: -r.meta.priority):
        table.add_row(rb.id, rb.title, rb.meta.component or "", str(rb.meta.priority),
                      "yes" if rb.meta.auto_link else "no", ", ".join(rb.meta.fields), str(len(rb.meta.patterns)))
    out.print(table)
    if errors:
        raise typer.Exit(1)


@runbooks_app.command("test")
@friendly_errors
def runbooks_test(
    text: Optional[str] = typer.Argument(None, help="an error title or message"),
    issue: Optional[str] = typer.Option(None, "--issue", help="match a GlitchTip issue instead"),
) -> None:
    """Show which runbook matches and which pattern fired."""
    from tasks.runbooks import IssueFacts

    if (text is None) == (issue is None):
        err.print("give either an error text or --issue ID")
        raise typer.Exit(2)
    matcher, _ = _matcher()
    if issue is not None:
        with _glitchtip() as gt:
            found = gt.issue(issue)
            facts = IssueFacts.from_issue(found, load_tags=lambda: {t.key: t.top_values[0].value
                                                                    for t in gt.tags(found.id) if t.top_values})
            result = matcher.match(facts)
        out.print(f"issue {found.id}: {scrub(found.title)}")
    else:
        result = matcher.match_text(text)
    for hit in result.candidates:
        out.print(f"  candidate {hit.runbook.id} (priority {hit.runbook.meta.priority}): "
                  f"pattern {hit.pattern!r} on {hit.field}", highlight=False)
    for veto in result.vetoed:
        out.print(f"  vetoed {veto}", highlight=False)
    if result.matched:
        out.print(f"[green]matches[/green] {result.runbook.id} — {result.runbook.title}")
        out.print(f"pattern {result.hit.pattern!r} fired on {result.hit.field}", highlight=False)
    else:
        out.print(f"[yellow]no runbook[/yellow]: {result.reason}")
        raise typer.Exit(1)


@runbooks_app.command("unlink")
@friendly_errors
def runbooks_unlink(
    issue_id: str,
    reason: Optional[str] = typer.Option(None, "--reason", help="why the link was wrong"),
    dry_run: bool = typer.Option(False, "--dry-run"),
) -> None:
    """Never link this issue to a runbook again, and remove its link comment where the API allows."""
    from tasks.runbook_links import unlink_issue

    from .audit import acting_as

    s = load_settings()
    dry = dry_run or s.triage_dry_run
    with _glitchtip(dry_run=dry) as gt, acting_as(f"cli:{os.environ.get('USER', 'unknown')}"):
        result = unlink_issue(gt, issue_id, dry_run=dry, database_url=s.triage_database_url, reason=reason)
    if dry:
        out.print(f"issue {issue_id}: would be unlinked (dry-run); link comments: {', '.join(result.kept_comments) or 'none'}")
        return
    state = "unlinked" if result.recorded else "already unlinked"
    out.print(f"issue {issue_id}: {state}; removed comments: {', '.join(result.removed_comments) or 'none'}")
    if result.kept_comments:
        out.print(f"[yellow]kept[/yellow]: {result.note}")


@runbooks_app.command("sweep")
@friendly_errors
def runbooks_sweep(
    query: str = typer.Option("is:unresolved", "--query", "-q"),
    dry_run: bool = typer.Option(False, "--dry-run"),
    full: bool = typer.Option(False, "--full", help="reconsider every issue, not only those changed since the last sweep"),
) -> None:
    """Run the runbook_sweep flow now."""
    from flows.runbook_sweep import runbook_sweep

    from .progress import progress_bar

    with progress_bar(Console(stderr=True)):
        result = runbook_sweep(query=query, dry_run=dry_run or None, full=full)
    out.print(result["counts"])


@app.command()
def serve(
    host: Optional[str] = typer.Option(None, help="address to listen on (default SERVICE_HOST)"),
    port: Optional[int] = typer.Option(None, help="port (default SERVICE_PORT)"),
    workers: int = typer.Option(1, min=1, help="service processes sharing the port (telemetry ingest scales with "
                                "them; each keeps its own telemetry rate-limit buckets)"),
) -> None:
    """Run the web service: GET /health, POST /webhooks/glitchtip?token=WEBHOOK_SECRET."""
    import uvicorn

    from .service.app import create_service

    s = load_settings()
    if s.webhook_secret is None:
        err.print("[yellow]WEBHOOK_SECRET is not set: webhooks will be refused (503)[/yellow]")
    from .prefect_server import stop_shared_prefect

    # the service's worker (service/worker.py) sweeps what earlier runs accepted but did not finish
    try:
        if workers > 1:  # uvicorn starts each worker from the factory's import path
            uvicorn.run("triageflow.service.app:create_service", factory=True, workers=workers,
                        host=host or s.service_host, port=port or s.service_port, log_level="info")
        else:
            uvicorn.run(create_service(), host=host or s.service_host, port=port or s.service_port, log_level="info")
    finally:
        stop_shared_prefect()  # the local Prefect server in-process investigations used, when there was one


@app.command()
@friendly_errors
def bot() -> None:
    """Run the Telegram bot (long polling) until Ctrl-C."""
    from .bot import build_application

    build_application(load_settings()).run_polling()


@app.command()
def sandbox(
    port: int = typer.Option(8765, help="loopback port to listen on (0: any free port)"),
    codebase_dir: Path = typer.Option(Path(".triageflow/sandbox/booking"), help="where to build the sample checkout"),
    glitchtip: str = typer.Option("5.1", "--glitchtip", help="the GlitchTip release to answer as: 2024, 4.2.1 or 5.1"),
    issues: int = typer.Option(0, min=0, help="seed this many issues (0: the 37 hand-written ones)"),
    events_per_day: int = typer.Option(0, min=0, help="events in the last 24 h over the active issues (with --issues)"),
    latency_ms: float = typer.Option(0.0, min=0, help="added to every API answer, like a real server's"),
) -> None:
    """Serve the loopback sandbox (GlitchTip API with seeded data) until Ctrl-C."""
    from .sandbox import SandboxServer
    from .sandbox.app import Sandbox
    from .sandbox.glitchtip_releases import RELEASES
    from .sandbox.scale import Scale, scaled_sandbox

    if glitchtip not in RELEASES:
        err.print(f"[red]error:[/red] --glitchtip must be one of {', '.join(RELEASES)}, got {glitchtip!r}")
        raise typer.Exit(2)
    if issues:
        with out.status(f"seeding {issues:,} issues…"):
            box = scaled_sandbox(Scale.proportional(issues, events_per_day or None), latency_ms=latency_ms,
                                 release=glitchtip)
    else:
        box = Sandbox(latency_ms=latency_ms, glitchtip_release=glitchtip)
    server = SandboxServer(box, port=port, codebase_dir=codebase_dir.resolve())
    out.print(f"sandbox (GlitchTip {glitchtip}) listening on {server.url} — point triageflow at it with:\n")
    for key, value in sandbox_env(server).items():
        out.print(f"  export {key}={value}", highlight=False)
    out.print("\ncontrol API: GET /_sandbox/info, POST /_sandbox/faults, GET /_sandbox/requests, POST /_sandbox/reset")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


def sandbox_env(server) -> dict[str, str]:
    from .sandbox import SLACK_CHANNEL, TELEGRAM_CHAT_ID

    return {
        "GLITCHTIP_URL": server.url,
        "GLITCHTIP_TOKEN": server.token,
        "GLITCHTIP_ORG": "acme",
        "CODEBASE_PATH": str(server.sandbox.codebase),
        "TELEGRAM_API_URL": server.url,
        "TELEGRAM_BOT_TOKEN": server.sandbox.telegram_token,
        "TELEGRAM_CHAT_ID": TELEGRAM_CHAT_ID,
        "SLACK_API_URL": f"{server.url}/api/",
        "SLACK_BOT_TOKEN": server.sandbox.slack_token,
        "SLACK_CHANNEL": SLACK_CHANNEL,
    }


@app.command()
def demo(
    database_url: Optional[str] = typer.Option(None, help="where the demo keeps its tables (default: a fresh SQLite "
                                                            "file under .triageflow/demo/)"),
    keep: bool = typer.Option(False, "--keep", help="leave the Prefect server, the sandbox and the web service up "
                                                    "until Ctrl-C"),
) -> None:
    """Run the main job on embedded defaults: the sandbox, SQLite, a local Prefect server, its UI and a worker."""
    from .demo import run_demo

    sys.exit(run_demo(database_url, out, keep=keep))


from .cli_health import register_health  # noqa: E402 - issue 14: health, feedback, snooze (needs the app above)

register_health(app)

from .cli_alerts import register_alerts  # noqa: E402 - needs the app above

register_alerts(app)


def main() -> None:  # pragma: no cover - console entry point alias
    reset_settings()
    app()
