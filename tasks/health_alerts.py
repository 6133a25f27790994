"""Alerts triageflow sends about itself (failed runs, late schedules, outages, canary): when, and to whom.

Rule for failed runs: one alert per flow per hour; a critical one (once an hour) when the flow failed
more than `critical_after` times within the hour. Recorded first, then sent to Telegram and Slack,
each channel on its own, every send audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from html import escape

from sqlmodel import col, func, select

from models.db import session_scope
from models.flow_health import FlowHealth, HealthAlert
from triageflow.audit import audited
from triageflow.scrub import scrub
from triageflow.settings import Settings

HOUR = timedelta(hours=1)
CRITICAL_AFTER = 3
FAILED_STATES = ("Failed", "Crashed")


@dataclass(frozen=True)
class AlertDecision:
    send: bool
    kind: str  # "failure", "critical" or "" when nothing is sent
    reason: str


def failure_alert_decision(failures_in_hour: int, kinds_sent_in_hour: list[str],
                           critical_after: int = CRITICAL_AFTER) -> AlertDecision:
    """What a failed run of a flow should send, given its failures and the alerts already sent this hour."""
    if failures_in_hour > critical_after:
        if "critical" in kinds_sent_in_hour:
            return AlertDecision(False, "", "critical already sent this hour")
        return AlertDecision(True, "critical", f"{failures_in_hour} failures in the last hour")
    if kinds_sent_in_hour:
        return AlertDecision(False, "", "already alerted this hour")
    return AlertDecision(True, "failure", "first failure this hour")


def alerts_in_window(database_url: str, subject: str, now: datetime, window: timedelta = HOUR,
                     kinds: tuple[str, ...] | None = None) -> list[str]:
    """The kinds of alerts sent about `subject` within the window, newest first."""
    with session_scope(database_url) as session:
        query = select(HealthAlert.kind).where(HealthAlert.subject == subject, HealthAlert.sent_at > now - window)
        if kinds:
            query = query.where(col(HealthAlert.kind).in_(kinds))
        return list(session.exec(query.order_by(HealthAlert.id.desc())))


def failures_in_window(database_url: str, flow_name: str, now: datetime, window: timedelta = HOUR) -> int:
    with session_scope(database_url) as session:
        return session.exec(select(func.count()).select_from(FlowHealth).where(
            FlowHealth.flow_name == flow_name, col(FlowHealth.state).in_(FAILED_STATES),
            FlowHealth.finished_at > now - window)).one()


def run_link(flow_run_id: str) -> str | None:
    """The run in the Prefect UI (PREFECT_UI_URL, else the API URL without /api)."""
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL

    base = PREFECT_UI_URL.value() or (PREFECT_API_URL.value() or "").removesuffix("/").removesuffix("/api")
    return f"{base.rstrip('/')}/runs/flow-run/{flow_run_id}" if base else None


def failure_text(kind: str, flow_name: str, run_name: str | None, state: str, error: str | None,
                 failures: int, link: str | None) -> tuple[str, str]:
    """(Telegram HTML, plain text) of a failed-run alert."""
    h = lambda t: escape(scrub(str(t)), quote=False)  # noqa: E731
    head = (f"🚨 CRITICAL: flow {flow_name} failed {failures} times in the last hour"
            if kind == "critical" else f"🔴 Flow {flow_name} {state.lower()}")
    error_line = (error or "no error message").strip().splitlines()[0][:500] if error else "no error message"
    run = f"run {run_name}" if run_name else "run"
    html = f"<b>{h(head)}</b>\n{h(run)} · {h(state)}\n<code>{h(error_line)}</code>"
    plain = f"{head}\n{run} · {state}\n{scrub(error_line)}"
    if link:
        html += f'\n<a href="{escape(link)}">Open the run in Prefect</a>'
        plain += f"\n{link}"
    return html, plain


def record_alert(database_url: str, kind: str, subject: str, text: str, flow_run_id: str | None = None) -> int:
    with session_scope(database_url) as session:
        row = HealthAlert(kind=kind, subject=subject[:300], text=scrub(text)[:2000], flow_run_id=flow_run_id,
                          delivery={})
        session.add(row)
        session.flush()
        return row.id


def notify_team(s: Settings, alert_id: int, subject: str, html: str, plain: str,
                buttons: list | None = None) -> dict[str, str]:
    """Send a recorded alert to every configured channel; one channel down does not stop the other.
    `html` is built from scrubbed parts by its caller; `plain` is scrubbed here."""
    from triageflow.clients.slack import slack_from_settings
    from triageflow.clients.telegram import telegram_from_settings

    url, dry = s.triage_database_url, s.triage_dry_run
    channels = {
        "telegram": (s.telegram_bot_token and s.telegram_chat_id,
                     lambda: str(telegram_from_settings(s).send_message(html, buttons))),
        "slack": (s.slack_bot_token and s.slack_channel, lambda: slack_from_settings(s).post_message(scrub(plain))),
    }
    outcome: dict[str, str] = {}
    for name, (configured, send) in channels.items():
        if not configured:
            outcome[name] = "not configured"
            continue
        try:
            with audited(url, name, "health.alert", subject[:300], dry_run=dry, detail={"alert": alert_id}) as entry:
                outcome[name] = "dry-run" if dry else f"sent {send()}"
                entry.detail["outcome"] = outcome[name]
        except Exception as exc:  # noqa: BLE001 - recorded in the audit log and the alert row; the other channel still goes
            outcome[name] = f"failed: {scrub(str(exc))[:200]}"
    with session_scope(url) as session:
        row = session.get(HealthAlert, alert_id)
        row.delivery = outcome
        session.add(row)
    return outcome


def alert(s: Settings, kind: str, subject: str, html: str, plain: str, *, flow_run_id: str | None = None,
          buttons: list | None = None) -> dict[str, str]:
    """Record first, then tell people."""
    alert_id = record_alert(s.triage_database_url, kind, subject, plain, flow_run_id)
    return notify_team(s, alert_id, subject, html, plain, buttons)


def alert_failed_run(s: Settings, flow_name: str, flow_run_id: str, run_name: str | None, state: str,
                     error: str | None, now: datetime | None = None) -> AlertDecision:
    """The failed-run rule applied: counts this hour's failures (this run already recorded) and alerts."""
    now = now or datetime.now(timezone.utc)
    url = s.triage_database_url
    subject = f"flow:{flow_name}"
    failures = failures_in_window(url, flow_name, now)
    decision = failure_alert_decision(failures, alerts_in_window(url, subject, now, kinds=("failure", "critical")))
    if decision.send:
        html, plain = failure_text(decision.kind, flow_name, run_name, state, error, failures, run_link(flow_run_id))
        alert(s, decision.kind, subject, html, plain, flow_run_id=flow_run_id)
    return decision
