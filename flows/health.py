"""Health of the automation itself: are the database, GlitchTip, the codebase and Prefect usable, and do the
scheduled deployments run when they should?"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta, timezone

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from tasks.artifacts import publish_markdown
from tasks.flow_health import WATCHED, note_summary
from tasks.health_alerts import HOUR, alert, alerts_in_window, notify_team, record_alert
from tasks.health_report import flow_stats, load_outcomes, load_runs, parse_thresholds
from tasks.health_weekly import (Resolution, WeeklyHealth, first_seen_channel, metric_lines, mttr_by_component,
                                 plain_text, telegram_html, weeks)
from tasks.health_weekly import chart as weekly_chart
from tasks.health_weekly import markdown as weekly_markdown
from tasks.health_weekly import rows as weekly_rows
from tasks.retry import transient_only
from tasks.schedule_watch import DeploymentFacts, ScheduledRun, ScheduleProblem, schedule_problems
from triageflow.clients.errors import NotFound
from triageflow.clients.glitchtip import GlitchTip, glitchtip_from_settings
from triageflow.doctor import CHECKS, run_checks
from triageflow.scrub import scrub
from triageflow.settings import load_settings


class IntegrationsBroken(RuntimeError):
    """At least one configured integration failed its check."""


@task(name="check-integration", retries=1, retry_delay_seconds=2)
def check_integration(name: str) -> dict:
    check = run_checks(load_settings(), [name])[0]
    return {**asdict(check), "detail": scrub(check.detail)}


def deployment_facts(limit: int = 200) -> list[DeploymentFacts]:
    """Every deployment that has schedules, with its runs still waiting to start."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (DeploymentFilter, DeploymentFilterId, FlowRunFilter,
                                                FlowRunFilterState, FlowRunFilterStateType)
    from prefect.client.schemas.objects import StateType

    facts = []
    with get_client(sync_client=True) as client:
        flows: dict = {}
        for d in client.read_deployments(limit=limit):
            if not d.schedules:
                continue
            if d.flow_id not in flows:
                flows[d.flow_id] = client.read_flow(d.flow_id).name
            waiting = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[d.id])),
                flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
                    type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))), limit=50)
            facts.append(DeploymentFacts(
                name=f"{flows[d.flow_id]}/{d.name}", paused=bool(d.paused),
                active_schedules=sum(1 for s in d.schedules if s.active), schedules=len(d.schedules),
                runs=[ScheduledRun(r.expected_start_time, r.state.name if r.state else "Scheduled")
                      for r in waiting if r.expected_start_time]))
    return facts


def schedule_alert_text(problem: ScheduleProblem) -> tuple[str, str]:
    from html import escape

    head = {"late": "⏰ Deployment running late", "starved": "🕳 Deployment has no upcoming runs"}[problem.kind]
    return (f"<b>{head}: {escape(problem.deployment)}</b>\n{escape(problem.detail)}",
            f"{head}: {problem.deployment}\n{problem.detail}")


@task(name="check-schedules")
def check_schedules(late_minutes: int) -> dict:
    """Alert (once an hour per deployment and kind) on late or starved schedules."""
    s = load_settings()
    now = datetime.now(timezone.utc)
    problems = [p for d in deployment_facts() for p in schedule_problems(d, now, timedelta(minutes=late_minutes))]
    for p in problems:
        subject = f"deployment:{p.deployment}"
        if not alerts_in_window(s.triage_database_url, subject, now, HOUR, kinds=(p.kind,)):
            html, plain = schedule_alert_text(p)
            alert(s, p.kind, subject, html, plain)
    detail = "; ".join(f"{p.deployment}: {p.kind} ({p.detail})" for p in problems) or "every schedule has upcoming runs"
    return {"integration": "schedules", "status": "warning" if problems else "ok", "detail": scrub(detail)}


@flow(name="check-integrations", log_prints=True, **WATCHED)
def check_integrations(names: list[str] | None = None, fail_on_broken: bool = True,
                       watch_schedules: bool = True, late_minutes: int | None = None) -> list[dict]:
    """Check each integration and the schedules, publish a table artifact, and fail the run when a configured
    integration is broken (a late or starved schedule alerts on its own and does not fail the run)."""
    unknown = sorted(set(names or []) - set(CHECKS))
    if unknown:
        raise ValueError(f"unknown integration(s): {', '.join(unknown)}; known: {', '.join(CHECKS)}")
    results = [check_integration(name) for name in (names or list(CHECKS))]
    if watch_schedules:
        results.append(check_schedules(late_minutes or load_settings().health_late_minutes))
    create_table_artifact(key="integration-health", table=results, description="triageflow integration checks")
    broken = [r for r in results if r["status"] == "failed"]
    logger = get_run_logger()
    for r in results:
        logger.info("%s: %s — %s", r["integration"], r["status"], r["detail"])
    note_summary(", ".join(f"{sum(1 for r in results if r['status'] == k)} {k}" for k in ("ok", "warning", "failed")
                           if any(r["status"] == k for r in results)))
    if broken and fail_on_broken:
        raise IntegrationsBroken("broken: " + "; ".join(f"{r['integration']}: {r['detail']}" for r in broken))
    return results


# --------------------------------------------------------------------------- weekly health report


@task(name="read-issue-outcomes", retries=2, retry_delay_seconds=exponential_backoff(2),
      retry_condition_fn=transient_only, cache_policy=NO_CACHE)
def read_issue_outcomes(gt: GlitchTip, database_url: str, since: datetime) -> tuple[list[Resolution], list[tuple]]:
    """Resolved issues (when: our audited resolution, else their lastSeen) and new issues with how they were
    first seen, from `since` on."""
    from sqlmodel import select

    from models.audit import AuditLog
    from models.db import session_scope
    from models.metrics import ReportDelivery
    from models.webhooks import IssueAlert

    with session_scope(database_url) as session:
        ours = {a.target.removeprefix("issue:"): _aware(a.created_at) for a in session.exec(
            select(AuditLog).where(AuditLog.action == "issue.status", AuditLog.outcome == "ok",
                                   AuditLog.dry_run == False, AuditLog.created_at >= since))  # noqa: E712
            if (a.detail or {}).get("to") == "resolved"}
        alerts = {a.issue_id: _aware(a.alerted_at) for a in session.exec(select(IssueAlert))}
        reports = [_aware(d.sent_at) for d in session.exec(select(ReportDelivery).where(
            ReportDelivery.period == "daily", ReportDelivery.status == "sent"))]
    resolutions = []
    for issue in gt.issues("is:resolved"):
        at = ours.get(issue.id) or issue.last_seen
        if at < since:
            continue
        try:
            tags = {t.key: t.value for t in gt.latest_event(issue.id).tags}
        except NotFound:
            tags = {}
        resolutions.append(Resolution(issue.id, tags.get("component") or issue.project.slug, issue.first_seen, at,
                                      issue.id in ours))
    seen = [(issue.first_seen, first_seen_channel(issue.first_seen, alerts.get(issue.id), reports))
            for issue in gt.issues(None) if issue.first_seen >= since]
    return resolutions, seen


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def build_weekly_health(s, end: datetime, gt: GlitchTip | None) -> WeeklyHealth:
    thresholds = parse_thresholds(s.health_slow_seconds)
    (start, _), (prev_start, prev_end) = weeks(end)
    url = s.triage_database_url
    flows_now = flow_stats(load_runs(url, start, end), thresholds, s.health_slow_default)
    flows_before = {f.flow: f for f in flow_stats(load_runs(url, prev_start, prev_end), thresholds,
                                                  s.health_slow_default)}
    report = WeeklyHealth(start, end, flows_now, flows_before, load_outcomes(url, start, end),
                          load_outcomes(url, prev_start, prev_end))
    if gt is None:
        report.notes.append("GlitchTip not configured: no MTTR or first-seen figures.")
        return report
    resolutions, seen = read_issue_outcomes(gt, url, prev_start)
    report.mttr = mttr_by_component([r for r in resolutions if start <= r.resolved_at < end])
    report.previous_mttr = mttr_by_component([r for r in resolutions if prev_start <= r.resolved_at < prev_end])
    for first, channel in seen:
        if start <= first < end:
            report.first_seen[channel] = report.first_seen.get(channel, 0) + 1
    estimated = sum(1 for r in resolutions if not r.exact and start <= r.resolved_at < end)
    if estimated:
        report.notes.append(f"{estimated} resolution time(s) estimated from the issue's last event "
                            "(resolved outside triageflow).")
    return report


@task(name="send-weekly-health", cache_policy=NO_CACHE)
def send_weekly_health(report: WeeklyHealth, png: bytes, *, force: bool) -> dict[str, str]:
    """Once per week (a re-run sends again only when forced); recorded before it is sent."""
    s = load_settings()
    subject = f"weekly-health:{report.end:%Y-%m-%d}"
    now = datetime.now(timezone.utc)
    if not force and alerts_in_window(s.triage_database_url, subject, now, timedelta(days=7), kinds=("weekly",)):
        return {"telegram": "already sent", "slack": "already sent"}
    html, plain = telegram_html(report), plain_text(report)
    alert_id = record_alert(s.triage_database_url, "weekly", subject, plain)
    outcome = notify_team(s, alert_id, subject, html, plain)
    from triageflow.audit import audited
    from triageflow.clients.slack import slack_from_settings
    from triageflow.clients.telegram import telegram_from_settings

    charts = {"telegram": lambda: telegram_from_settings(s).send_photo(
                  png, f"<b>triageflow runs per flow, week to {report.end:%d %b}</b>"),
              "slack": lambda: slack_from_settings(s).upload_file(
                  png, f"health-{report.end:%Y-%m-%d}.png", "triageflow runs per flow")}
    for channel, send_chart in charts.items():  # the chart follows the text in each channel that took it
        if outcome.get(channel, "").startswith("sent"):
            with audited(s.triage_database_url, channel, "health.chart", subject, dry_run=False):
                send_chart()
    return outcome


@flow(name="weekly-health", log_prints=True, **WATCHED)
def weekly_health(send: bool = True, force: bool = False) -> dict:
    """The last 7 days of triageflow's own runs and success metrics, week over week, to Telegram, Slack and an
    artifact with a chart."""
    import base64

    s = load_settings()
    end = datetime.now(timezone.utc)
    if s.glitchtip_url and s.glitchtip_token and s.glitchtip_org:
        with glitchtip_from_settings(s) as gt:
            report = build_weekly_health(s, end, gt)
    else:
        report = build_weekly_health(s, end, None)
    png = weekly_chart(report)
    text = weekly_markdown(report, "data:image/png;base64," + base64.b64encode(png).decode())
    publish_markdown("weekly-health", text, f"triageflow health, week to {end:%Y-%m-%d}")
    delivery = send_weekly_health(report, png, force=force) if send else {}
    note_summary(f"{len(report.flows)} flows, {sum(f.runs for f in report.flows)} runs, {len(report.slow)} slow")
    return {"flows": weekly_rows(report), "metrics": [list(m) for m in metric_lines(report)], "mttr": report.mttr,
            "first_seen": report.first_seen, "slow": [list(x) for x in report.slow], "notes": report.notes,
            "delivery": delivery, "markdown": weekly_markdown(report)}
