"""alert_triage: a monitoring alert becomes a verified fix or one well-formed GitHub issue, the team told in Slack.

Context → still firing? → logs → health → history → known issue → decision → category → Slack →
remediation (once, verified by the signal that fired) → GitHub issue unless fixed → resolution told once.
`alert_autoclose` closes issues whose alert stayed resolved for a day.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from sqlmodel import select

from models.alerts import AlertEvent, KnownIssue
from models.db import session_scope
from tasks.alert_context import build_context
from tasks.alert_decision import Thresholds, as_record, categorize, decide
from tasks.alert_github import close_once
from tasks.alert_health import check_url, health_failing, health_urls
from tasks.alert_known import KnownMatch
from tasks.alert_remediation import (
    ACTIONS,
    MODES,
    NotConfigured,
    attempted_recently,
    finish_attempt,
    record_attempt,
    signal_for,
)
from tasks.alert_signal import alert_query, prometheus_base, still_holds
from tasks.alert_report import RemediationFacts, Triage, slack_thread_text
from tasks.alert_steps import (
    alert_history,
    alertmanager_state,
    check_health,
    comment_resolved,
    file_github_issue,
    match_known_issue,
    post_slack_alert,
    read_logs,
    reply_in_thread,
)
from tasks.alert_store import (
    claim_resolution,
    claim_triage,
    finish_triage,
    load_event,
    resolved_longer_than,
    update_event,
)
from triageflow.audit import acting_as, audited
from triageflow.clients.alertmanager import alertmanager_from_settings
from triageflow.clients.errors import ClientError
from triageflow.clients.github import github_from_settings
from triageflow.clients.prometheus import Prometheus
from triageflow.settings import load_settings

log = logging.getLogger("triageflow.alert_triage")


def _dry(s, dry_run: bool | None) -> bool:
    return s.triage_dry_run if dry_run is None else dry_run


def _remediation_dry(s, remediation_dry_run: bool | None) -> bool:
    """Dry-run by default outside production; REMEDIATION_DRY_RUN or the parameter say otherwise."""
    if remediation_dry_run is not None:
        return remediation_dry_run
    if s.remediation_dry_run is not None:
        return s.remediation_dry_run
    return s.triage_env != "production" or s.triage_dry_run


@flow(name="alert-triage", log_prints=True)
def alert_triage(alert_event_id: int, remediate: bool = True, remediation_deadline_seconds: float | None = None,
                 dry_run: bool | None = None, remediation_dry_run: bool | None = None) -> dict:
    """Triage one stored alert; a second run for the same alert only tells its resolution, once."""
    s = load_settings()
    url = s.triage_database_url
    dry = _dry(s, dry_run)
    with acting_as("flow:alert-triage"):
        if not claim_triage(url, alert_event_id):
            return {"event": alert_event_id, "triage": "not pending", "resolution": tell_resolution(alert_event_id, dry)}
        try:
            outcome = _triage(alert_event_id, s, remediate, remediation_deadline_seconds, dry,
                              _remediation_dry(s, remediation_dry_run))
        except BaseException:
            finish_triage(url, alert_event_id, "failed")
            raise
        finish_triage(url, alert_event_id, "done")
        outcome["resolution"] = tell_resolution(alert_event_id, dry)
    return outcome


def _triage(event_id: int, s, remediate: bool, deadline: float | None, dry: bool, remediation_dry: bool) -> dict:
    url = s.triage_database_url
    event = load_event(url, event_id)
    ctx = build_context(event, s.alert_loki_window_minutes)
    upstream = alertmanager_state(ctx.fingerprint, event.source)
    if upstream["silenced"]:
        update_event(url, event_id, decision={"real": False, "confidence": 100, "reason": upstream["note"]})
        return {"event": event_id, "skipped": upstream["note"]}
    logs = read_logs(ctx)
    health = check_health(ctx)
    history = alert_history(event_id)
    known = match_known_issue(ctx, logs)
    thresholds = Thresholds.from_settings(s)
    decision = decide(ctx, logs, health, known, history.false_positives, thresholds)
    category = categorize(ctx, logs, health, known, decision, thresholds,
                          [lbl for lbl in s.github_labels.split(",") if lbl.strip()][:1])
    update_event(url, event_id, decision=as_record(decision, category))
    triage = Triage(ctx, logs, health, history, known, decision, category, raw=event.payload)
    post_slack_alert(triage, dry)
    remediation = None
    if decision.real and known is not None and known.action and remediate and s.remediation_enabled:
        remediation = remediate_alert(event_id, known.id, signal_for(health_failing(health)),
                                      s.remediation_deadline_seconds if deadline is None else deadline,
                                      remediation_dry)
        triage = Triage(ctx, logs, health, history, known, decision, category, remediation, raw=event.payload)
        if remediation.outcome != "skipped":
            reply_in_thread(event_id, slack_thread_text("remediation", remediation=remediation), dry)
    if remediation is not None and remediation.outcome == "cleared":
        claim_resolution(url, event_id)  # told here, not again when the resolved notification is handled
        reply_in_thread(event_id, slack_thread_text("resolved", name=ctx.name), dry, also_resolved_channel=True)
        return {"event": event_id, "real": True, "remediation": "cleared", "issue": None}
    issue = None
    if decision.real:
        issue = file_github_issue(triage, dry)
        if issue.get("url") and issue["action"] in ("created", "digest", "commented"):
            reply_in_thread(event_id, slack_thread_text("issue", issue_url=issue["url"]), dry)
    get_run_logger().info("alert %s (%s): %s, %s", event_id, ctx.name, decision.reason, category.severity)
    return {"event": event_id, "real": decision.real, "confidence": decision.confidence,
            "severity": category.severity, "remediation": remediation.outcome if remediation else None,
            "issue": issue}


def tell_resolution(event_id: int, dry: bool) -> str | None:
    """A resolved alert whose triage is done: a thread reply and an issue comment, once."""
    s = load_settings()
    if not claim_resolution(s.triage_database_url, event_id):
        return None
    event = load_event(s.triage_database_url, event_id)
    reply_in_thread(event_id, slack_thread_text("resolved", name=event.name, issue_url=event.issue_url), dry,
                    also_resolved_channel=True)
    comment_resolved(event_id, dry)
    return "told"


# --------------------------------------------------------------------------- remediation


def _known(database_url: str, known_issue_id: int) -> KnownIssue:
    with session_scope(database_url) as session:
        return session.get(KnownIssue, known_issue_id)


@task(name="run-remediation-action", cache_policy=NO_CACHE)
def run_action(action: str, args: dict, service: str, dry_run: bool, attempt_id: int, fingerprint: str) -> tuple:
    """The registered action, once (no retries: a second attempt is what this design forbids)."""
    s = load_settings()
    with audited(s.triage_database_url, "remediation", action, f"alert:{fingerprint}", dry_run=dry_run,
                 detail={"attempt": attempt_id, "args": args, "service": service}) as entry:
        if dry_run:
            return True, "dry-run: nothing was run"
        try:
            result = ACTIONS[action](args, service, s)
        except NotConfigured as exc:
            entry.outcome = "not configured"
            return False, str(exc)
        entry.outcome = "ok" if result.ok else "failed"
        entry.detail["output"] = result.output[-500:]
        return result.ok, result.output


def signal_cleared(event_id: int, signal: str) -> bool:
    """The same signal that fired: its failing health checks answering again; or the alert resolved — its
    notification stored, gone from Alertmanager, or its metric query no longer returning its series."""
    s = load_settings()
    event = load_event(s.triage_database_url, event_id)
    if signal == "health":
        urls = health_urls(s.alert_health_urls, event.service, event.annotations or {})
        return bool(urls) and all(check_url(n, u, s.alert_health_timeout).ok for n, u in urls.items())
    if event.status == "resolved":
        return True
    return gone_from_alertmanager(s, event) or metric_cleared(s, event)


def gone_from_alertmanager(s, event: AlertEvent) -> bool:
    """Alertmanager no longer holds the alert as firing (Prometheus told it the alert resolved)."""
    am = alertmanager_from_settings(s) if event.source == "alertmanager" else None
    if am is None:
        return False
    try:
        with am:
            return am.alert(event.fingerprint) is None
    except ClientError as exc:
        log.warning("alertmanager not asked whether %s cleared: %s", event.name, exc)
        return False


def metric_cleared(s, event: AlertEvent) -> bool:
    """The alert's metric query (its rule's expression, or a `clear_query` annotation) no longer returns the
    alert's series: the value is back under the threshold."""
    generator = str((event.payload.get("alert") or {}).get("generatorURL") or "")
    query = alert_query(event.labels or {}, event.annotations or {}, generator)
    base = s.prometheus_url or prometheus_base(generator)
    if not query or not base:
        return False
    try:
        with Prometheus(base, timeout=s.alert_health_timeout) as prometheus:
            return not still_holds(prometheus.query(query), event.labels or {})
    except ClientError as exc:
        log.warning("metric query of %s not read: %s", event.name, exc)
        return False


@task(name="wait-for-signal", cache_policy=NO_CACHE)
def wait_for_signal(event_id: int, signal: str, deadline_seconds: float) -> bool:
    s = load_settings()
    until = time.monotonic() + deadline_seconds
    while True:
        if signal_cleared(event_id, signal):
            return True
        if time.monotonic() >= until:
            return False
        time.sleep(min(s.remediation_poll_seconds, max(0.05, until - time.monotonic())))


def _approved(s, known: KnownIssue, event: AlertEvent) -> bool:
    """`approve` mode: the run pauses for a person's typed answer in the Prefect UI; no answer in time = declined."""
    from prefect.flow_runs import pause_flow_run
    from prefect.input import RunInput

    class Approval(RunInput):
        approve: bool = False
        note: str = ""

    try:
        answer = pause_flow_run(wait_for_input=Approval.with_initial_data(
            description=f"Run `{known.action}` for {event.name} ({event.fingerprint})?"),
            timeout=int(s.remediation_approve_timeout), poll_interval=1, key=f"approve-{event.id}")
    except Exception:  # noqa: BLE001 - a timeout (or no server to pause on) is a decline
        return False
    return bool(answer.approve)


@flow(name="alert-remediation", log_prints=True)
def remediate_alert(alert_event_id: int, known_issue_id: int, signal: str, deadline_seconds: float,
                    dry_run: bool = True) -> RemediationFacts:
    """Once per fingerprint per window: run the known issue's registered action, then wait for the signal."""
    s = load_settings()
    url = s.triage_database_url
    event = load_event(url, alert_event_id)
    known = _known(url, known_issue_id)
    check = {"health": "its health checks pass", "alert": "the alert resolves"}[signal]
    if known.action not in ACTIONS or known.mode not in MODES or known.mode == "off":
        return RemediationFacts(known.action or "none", "skipped", check, f"mode {known.mode}")
    earlier = attempted_recently(url, event.fingerprint, timedelta(minutes=s.remediation_window_minutes))
    if earlier is not None:
        return RemediationFacts(known.action, "skipped", check,
                                f"already attempted (#{earlier.id}, {earlier.outcome}) within the window")
    attempt_id = record_attempt(url, fingerprint=event.fingerprint, alert_event_id=event.id,
                                known_issue_id=known.id, action=known.action, args=dict(known.action_args or {}),
                                mode=known.mode, dry_run=dry_run, check=check)
    if known.mode == "approve" and not dry_run and not _approved(s, known, event):
        finish_attempt(url, attempt_id, "declined", "not approved in time")
        update_event(url, alert_event_id, remediation=f"{known.action}: declined")
        return RemediationFacts(known.action, "declined", check, "not approved in time", attempt_id)
    ok, output = run_action(known.action, dict(known.action_args or {}), event.service, dry_run, attempt_id,
                            event.fingerprint)
    if dry_run:
        outcome = "dry-run"
    elif not ok:
        outcome = "failed"
    else:
        outcome = "cleared" if wait_for_signal(alert_event_id, signal, deadline_seconds) else "not-cleared"
    finish_attempt(url, attempt_id, outcome, output)
    with session_scope(url) as session:
        row = session.get(KnownIssue, known.id)
        if not dry_run:
            row.fix_attempts += 1
            row.fix_successes += outcome == "cleared"
        session.add(row)
    update_event(url, alert_event_id, remediation=f"{known.action}: {outcome}"[:500])
    return RemediationFacts(known.action, outcome, check, output, attempt_id)


# --------------------------------------------------------------------------- auto-close


@flow(name="alert-autoclose", log_prints=True)
def alert_autoclose(hours: float | None = None, dry_run: bool | None = None) -> list[int]:
    """Close the issues of alerts that stayed resolved for `hours` (ALERT_AUTOCLOSE_HOURS) and did not fire again."""
    s = load_settings()
    url = s.triage_database_url
    dry = _dry(s, dry_run)
    candidates = resolved_longer_than(url, s.alert_autoclose_hours if hours is None else hours)
    if not candidates or not s.github_token:
        return []
    closed = []
    with github_from_settings(s) as gh, acting_as("flow:alert-autoclose"):
        for event in candidates:
            with session_scope(url) as session:
                firing = session.exec(select(AlertEvent).where(AlertEvent.fingerprint == event.fingerprint)
                                      .where(AlertEvent.status == "firing")).first()
            if firing is not None or event.issue_action == "digest":
                continue
            if close_once(gh, url, event.issue_number, dry_run=dry) or gh.issue(event.issue_number).state == "closed":
                if not dry:
                    update_event(url, event.id, issue_closed_at=datetime.now(timezone.utc))
                closed.append(event.issue_number)
    return closed


__all__ = ["alert_triage", "remediate_alert", "alert_autoclose", "KnownMatch"]
