"""`triage health`, `triage feedback` and `triage snooze|unsnooze`: how the automation itself is doing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import typer
from rich.table import Table

from .cli import err, friendly_errors, out
from .settings import load_settings

health_app = typer.Typer(help="How triageflow's own flows are doing (from its run history).")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f} %"


def _secs(value: float | None) -> str:
    return "—" if value is None else (f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min")


@health_app.callback(invoke_without_command=True)
@friendly_errors
def health(ctx: typer.Context, days: int = typer.Option(7, "--days", "-d", min=1, max=365),
           last: int = typer.Option(3, "--last", min=1, max=20, help="recent runs shown per flow")) -> None:
    """Last runs per flow, success rate, median duration; investigation cache hits, links added, issues created."""
    if ctx.invoked_subcommand:
        return
    from tasks.health_report import flow_stats, load_outcomes, load_runs, parse_thresholds

    s = load_settings()
    try:
        thresholds = parse_thresholds(s.health_slow_seconds)
    except ValueError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from None
    end = datetime.now(timezone.utc)
    start = end - timedelta(days=days)
    stats = flow_stats(load_runs(s.triage_database_url, start, end), thresholds, s.health_slow_default, last=last)
    table = Table(title=f"flow health, last {days} days")
    for column in ("flow", "runs", "success", "median", "slow", "last runs"):
        table.add_column(column, overflow="fold")
    for f in stats:
        recent = "\n".join(f"{r.finished_at:%m-%d %H:%M} {r.state} {_secs(r.duration_s)} {r.summary or r.error or ''}"
                           .rstrip() for r in f.last)
        table.add_row(f.flow, str(f.runs), _pct(f.success_rate), _secs(f.median_s), str(len(f.slow)), recent)
    if stats:
        out.print(table)
    else:
        out.print(f"no flow runs recorded in the last {days} days")
    o = load_outcomes(s.triage_database_url, start, end)
    out.print(f"investigations: {o.investigations}, cache hit ratio {_pct(o.cache_hit_ratio)}, "
              f"helpful {_pct(o.helpful_share)} of {o.rated} rated")
    out.print(f"runbook links added: {o.links_added}, unlinked by people: {o.links_unlinked}, "
              f"accuracy {_pct(o.link_accuracy)}")
    out.print(f"issues created: {o.issues_created}")
    for line in _probes(s.triage_database_url):
        out.print(line)


def _probes(database_url: str) -> list[str]:
    """The last canary and the URLs down now, when those flows have run."""
    from sqlmodel import select

    from models.db import session_scope
    from models.flow_health import CanaryRun, UptimeState

    with session_scope(database_url) as session:
        canary = session.exec(select(CanaryRun).order_by(CanaryRun.id.desc())).first()
        states = list(session.exec(select(UptimeState)))
    lines = []
    if canary:
        latency = f", {canary.latency_s:.2f} s" if canary.latency_s is not None else ""
        lines.append(f"last canary: {canary.outcome}{latency} ({canary.started_at:%Y-%m-%d %H:%M}) {canary.detail}")
    if states:
        down = [st.url for st in states if not st.up]
        lines.append(f"uptime: {len(states) - len(down)} of {len(states)} URLs up" +
                     (f"; down: {', '.join(down)}" if down else ""))
    return lines


@health_app.command("install-automation")
@friendly_errors
def install_automation_command(
    service_url: str = typer.Option(..., "--service-url", help="where `triage serve` listens, as Prefect's server reaches it"),
) -> None:
    """Create the Prefect automation that reports every failed or crashed run to the service (idempotent)."""
    from .health_automation import AUTOMATION_NAME, install_automation

    s = load_settings()
    s.require("WEBHOOK_SECRET")
    automation_id = install_automation(service_url, s.webhook_secret)
    out.print(f"automation {AUTOMATION_NAME!r} ({automation_id}) calls {service_url.rstrip('/')}/health/flow-runs")


@friendly_errors
def feedback(issue_id: str = typer.Argument(..., help="the GlitchTip issue id"),
             verdict: str = typer.Argument(..., help="helpful or not")) -> None:
    """Say whether the latest investigation of ISSUE helped (fills the investigation log)."""
    from tasks.health_report import record_feedback

    choice = verdict.strip().lower()
    if choice not in ("helpful", "not", "not-helpful", "unhelpful"):
        err.print(f"[red]error:[/red] verdict must be 'helpful' or 'not', got {verdict!r}")
        raise typer.Exit(2)
    row = record_feedback(load_settings().triage_database_url, issue_id, choice == "helpful", "cli")
    if row is None:
        err.print(f"[red]error:[/red] issue {issue_id} has no investigation in the log")
        raise typer.Exit(1)
    out.print(f"issue {issue_id}: investigation marked {'helpful' if choice == 'helpful' else 'not helpful'}")


@friendly_errors
def snooze_command(issue_id: str = typer.Argument(...), duration: str = typer.Argument("24h", help="30m, 24h, 7d"),
                   dry_run: bool = typer.Option(False, "--dry-run")) -> None:
    """No alerts about ISSUE (webhook, escalation) for DURATION."""
    from .snooze import BadDuration, parse_duration, snooze

    try:
        span = parse_duration(duration)
    except BadDuration as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    until = snooze(load_settings().triage_database_url, issue_id, span, "cli", dry_run=dry_run)
    out.print(f"issue {issue_id} snoozed until {until:%Y-%m-%d %H:%M} UTC" + (" (dry-run)" if dry_run else ""))


@friendly_errors
def unsnooze_command(issue_id: str = typer.Argument(...)) -> None:
    """End a snooze now."""
    from .snooze import unsnooze

    ended = unsnooze(load_settings().triage_database_url, issue_id, "cli")
    out.print(f"issue {issue_id}: " + ("snooze ended" if ended else "was not snoozed"))


def register_health(app: typer.Typer) -> None:
    """Adds these commands to the `triage` app (one line in cli.py)."""
    app.add_typer(health_app, name="health")
    app.command("feedback")(feedback)
    app.command("snooze")(snooze_command)
    app.command("unsnooze")(unsnooze_command)


