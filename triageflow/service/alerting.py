"""What happens to an accepted webhook: alert once per issue and window, then start an investigation."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlmodel import select

from models.db import session_scope
from models.webhooks import IssueAlert, WebhookDelivery
from tasks.alerts import alert_buttons, alert_html
from tasks.similarity import issue_link

from ..audit import acting_as, audited
from ..clients.errors import NotFound
from ..clients.glitchtip import glitchtip_from_settings
from ..clients.telegram import telegram_from_settings
from ..scrub import scrub_data
from ..settings import Settings
from ..snooze import skip_snoozed  # issue 14: snoozes

log = logging.getLogger("triageflow.service")
INVESTIGATION_DEPLOYMENT = "investigate-issue/investigate-issue"
ALERT_EVENT = "triageflow.issue.alerted"


def store_delivery(database_url: str, source: str, body: Any, issue_ids: list[str], total: int) -> int:
    """Record the webhook before anything is done with it (personal data scrubbed)."""
    with session_scope(database_url) as session:
        row = WebhookDelivery(source=source, body={"payload": scrub_data(body), "total": total}, issue_ids=issue_ids)
        session.add(row)
        session.flush()
        return row.id


def pending_deliveries(database_url: str) -> list[int]:
    with session_scope(database_url) as session:
        return list(session.exec(select(WebhookDelivery.id).where(WebhookDelivery.status == "pending")))


def _recently_alerted(database_url: str, issue_id: str, window: timedelta, now: datetime) -> bool:
    with session_scope(database_url) as session:
        row = session.get(IssueAlert, issue_id)
        if row is None:
            return False
        alerted = row.alerted_at if row.alerted_at.tzinfo else row.alerted_at.replace(tzinfo=timezone.utc)
        return now - alerted < window


def _record_alert(database_url: str, issue_id: str, delivery_id: int, message_id: str | None, how: str) -> None:
    with session_scope(database_url) as session:
        row = session.get(IssueAlert, issue_id) or IssueAlert(issue_id=issue_id, alerted_at=datetime.now(timezone.utc))
        row.alerted_at, row.delivery_id, row.message_id, row.investigation = (
            datetime.now(timezone.utc), delivery_id, message_id, how)
        session.add(row)


def start_investigation(issue_id: str, s: Settings) -> str:
    """Through a Prefect event when the triggered deployment exists; otherwise run the flow here."""
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value() and deployment_exists():
        _post_event(PREFECT_API_URL.value(), issue_id)
        return "event"
    from flows.investigate import investigate_issue

    state = investigate_issue(issue_id, return_state=True)
    return "in-process" if state.is_completed() else f"in-process: {state.name}"


def _post_event(api_url: str, issue_id: str) -> None:
    """Post the event to the Prefect API and wait for its answer (204): an alert's investigation must not
    sit in the background event worker's queue when the process ends."""
    import httpx
    from prefect.events import Event
    from prefect.settings import PREFECT_API_KEY

    event = Event(event=ALERT_EVENT, resource={"prefect.resource.id": f"glitchtip.issue.{issue_id}"},
                  payload={"issue_id": issue_id})
    headers = {"Authorization": f"Bearer {PREFECT_API_KEY.value()}"} if PREFECT_API_KEY.value() else {}
    response = httpx.post(f"{api_url.rstrip('/')}/events", json=[event.model_dump(mode="json")], headers=headers,
                          timeout=10)
    response.raise_for_status()


def deployment_exists() -> bool:
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            client.read_deployment_by_name(INVESTIGATION_DEPLOYMENT)
        return True
    except Exception:  # noqa: BLE001 - not found, or no server: run in-process
        return False


def issues_to_alert(gt, listed: list[str], total: int) -> list[str]:
    """The listed issues, and as many of the most recently seen unresolved ones as the alert counted."""
    ids = list(listed)
    if total > len(ids):
        for issue in gt.issues("is:unresolved", limit=min(max(total * 2, 10), 100), max_pages=1):
            if len(ids) >= total:
                break
            if issue.id not in ids:
                ids.append(issue.id)
    return ids


def process_delivery(delivery_id: int, s: Settings, *, investigate=start_investigation) -> dict[str, str]:
    """Alert and investigate each issue of a stored delivery; it stays pending (retried later) on failure."""
    url = s.triage_database_url
    with session_scope(url) as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.status == "done":
            return {}
        delivery.attempts += 1
        listed, total = list(delivery.issue_ids), int(delivery.body.get("total", len(delivery.issue_ids)))
    outcome: dict[str, str] = {}
    window = timedelta(minutes=s.alert_dedup_minutes)
    try:
        with glitchtip_from_settings(s) as gt, acting_as("service:glitchtip-webhook"):
            for issue_id in skip_snoozed(url, issues_to_alert(gt, listed, total), outcome):  # issue 14: snoozed alert nobody
                if _recently_alerted(url, issue_id, window, datetime.now(timezone.utc)):
                    outcome[issue_id] = "duplicate"
                    continue
                try:
                    issue = gt.issue(issue_id)
                except NotFound:
                    outcome[issue_id] = "not found"
                    continue
                try:
                    event = gt.latest_event(issue_id)
                except NotFound:
                    event = None
                message_id = None
                if s.telegram_bot_token and s.telegram_chat_id:
                    html = alert_html(issue, event, issue_link(s.glitchtip_url, s.glitchtip_org, issue.id))
                    with audited(url, "telegram", "alert.send", f"issue:{issue.id}", dry_run=s.triage_dry_run,
                                 detail={"delivery": delivery_id}):
                        if not s.triage_dry_run:
                            message_id = str(telegram_from_settings(s).send_message(html, alert_buttons(issue.id)))
                how = investigate(issue.id, s)
                _record_alert(url, issue.id, delivery_id, message_id, how)
                outcome[issue_id] = f"alerted, investigation {how}"
    except Exception as exc:  # noqa: BLE001 - any failure leaves it pending; the sweep tries again
        with session_scope(url) as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            delivery.error = str(exc)[:2000]
        log.warning("webhook delivery %s not finished: %s", delivery_id, exc)
        return outcome
    with session_scope(url) as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        delivery.status, delivery.error, delivery.finished_at = "done", None, datetime.now(timezone.utc)
    return outcome


def sweep_pending(s: Settings) -> int:
    """Finish what earlier runs accepted but did not complete."""
    done = 0
    for delivery_id in pending_deliveries(s.triage_database_url):
        process_delivery(delivery_id, s)
        done += 1
    return done
