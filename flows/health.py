"""Health of the automation itself: are the database, GlitchTip, the codebase and Prefect usable, and do the
scheduled deployments run when they should?"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta, timezone

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact

from tasks.flow_health import WATCHED
from tasks.health_alerts import HOUR, alert, alerts_in_window
from tasks.schedule_watch import DeploymentFacts, ScheduledRun, ScheduleProblem, schedule_problems
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
    if broken and fail_on_broken:
        raise IntegrationsBroken("broken: " + "; ".join(f"{r['integration']}: {r['detail']}" for r in broken))
    return results
