"""What happens to an accepted webhook: alert once per issue and window, then start one investigation.

Every step that acts is a claim (`triageflow.once`): the delivery is worked by one worker at a time
(`delivery:<id>`, under a lease), the alert of an issue in a window is sent once
(`alert:issue:<id>:window:<opened>`, where the window opens at the issue's previous alert, or `first`),
and so is the investigation that follows it (`investigate:issue:<id>:alert:<alerted at>`). After a crash
the claims say what already happened, so a retry sends only what is missing.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlmodel import select

from models.db import engine_for, session_scope
from models.webhooks import IssueAlert, WebhookDelivery
from tasks.alerts import alert_buttons, alert_html
from tasks.similarity import issue_link

from ..audit import audited
from ..clients.errors import NotFound
from ..clients.glitchtip import glitchtip_from_settings
from ..clients.telegram import telegram_from_settings
from ..once import Hold, patiently, take
from ..settings import Settings
from .delivery_store import delivery_values, insert_deliveries

log = logging.getLogger("triageflow.service")
INVESTIGATION_DEPLOYMENT = "investigate-issue/investigate-issue"
ALERT_EVENT = "triageflow.issue.alerted"
ALERT_LEASE_SECONDS = 60.0

# How an investigation is started once its claim is held; it must finish the claim (done or failed).
Investigate = Callable[[str, Hold, Settings], str]


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def stamp(at: datetime) -> str:
    """A moment as it appears in claim keys (UTC, microseconds: what both databases keep)."""
    return _aware(at).astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")


def alert_key(issue_id: str, previous: datetime | None) -> str:
    return f"alert:issue:{issue_id}:window:{stamp(previous) if previous else 'first'}"


def investigation_key(issue_id: str, alerted_at: datetime) -> str:
    return f"investigate:issue:{issue_id}:alert:{stamp(alerted_at)}"


# ---------------------------------------------------------------------------- storing


def store_delivery(database_url: str, source: str, body: Any, issue_ids: list[str], total: int) -> int:
    """Record one webhook before anything is done with it (personal data scrubbed), committed on return.
    The service's request path stores through `delivery_store.delivery_writer_for` instead (batched)."""
    with engine_for(database_url).begin() as conn:
        return insert_deliveries(conn, [delivery_values(source, body, issue_ids, total)])[0]


def pending_deliveries(database_url: str, limit: int = 1000) -> list[int]:
    with session_scope(database_url) as session:
        return list(session.exec(select(WebhookDelivery.id).where(WebhookDelivery.status == "pending")
                                 .order_by(WebhookDelivery.id).limit(limit)))


def _last_alert(database_url: str, issue_id: str) -> datetime | None:
    with session_scope(database_url) as session:
        row = session.get(IssueAlert, issue_id)
        return _aware(row.alerted_at) if row else None


# ---------------------------------------------------------------------------- investigations


def start_investigation(issue_id: str, s: Settings) -> str:
    """Through a Prefect event when the triggered deployment exists; otherwise run the flow here."""
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value() and deployment_exists():
        _post_event(PREFECT_API_URL.value(), issue_id)
        return "event"
    from flows.investigate import investigate_issue

    from ..prefect_server import LOCAL_PREFECT_HOME, ensure_prefect_api

    ensure_prefect_api(LOCAL_PREFECT_HOME)  # one local server for the service's in-process runs, not one per run

    state = investigate_issue(issue_id, return_state=True)
    return "in-process" if state.is_completed() else f"in-process: {state.name}"


def investigate_now(issue_id: str, hold: Hold, s: Settings) -> str:
    """Start the investigation in this thread and finish its claim: done when the run completed."""
    try:
        how = start_investigation(issue_id, s)
    except Exception as exc:
        hold.failed(f"{exc.__class__.__name__}: {exc}")
        raise
    if how in ("event", "in-process"):
        hold.done({"how": how})
    else:
        hold.failed(how)
    return how


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


_deployment_seen: dict[str, tuple[float, bool]] = {}


def deployment_exists(max_age: float = 30.0, api_url: str | None = None) -> bool:
    """Whether the triggered investigation deployment exists on `api_url` (default: the current Prefect
    API), asked at most every `max_age` seconds."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    api = api_url or PREFECT_API_URL.value() or ""
    seen = _deployment_seen.get(api)
    if seen and time.monotonic() - seen[0] < max_age:
        return seen[1]  # before any settings are copied: that costs a millisecond a time
    try:
        with contextlib.ExitStack() as stack:
            if api_url:
                stack.enter_context(temporary_settings(updates={PREFECT_API_URL: api_url}))
            client = stack.enter_context(get_client(sync_client=True))
            client.read_deployment_by_name(INVESTIGATION_DEPLOYMENT)
        found = True
    except Exception:  # noqa: BLE001 - not found, or no server: run in-process
        found = False
    _deployment_seen[api] = (time.monotonic(), found)
    return found


# ---------------------------------------------------------------------------- deciding


class LazyGlitchTip:
    """The GlitchTip client, built on first use: a duplicate delivery needs no call, so it pays for no client."""

    def __init__(self, s: Settings) -> None:
        self.s = s
        self._client = None

    def __getattr__(self, name: str):
        if self._client is None:
            self._client = glitchtip_from_settings(self.s).__enter__()
        return getattr(self._client, name)

    def __enter__(self) -> "LazyGlitchTip":
        return self

    def __exit__(self, *exc) -> None:
        if self._client is not None:
            self._client.__exit__(*exc)


def issues_to_alert(gt, listed: list[str], total: int, *, received_at: datetime, window: timedelta,
                    cap: int) -> list[str]:
    """The listed issues, and up to `cap` more of those the alert counted but did not list: unresolved
    issues seen within `window` before the webhook arrived, most recent first."""
    ids = list(listed)
    wanted = min(total, len(ids) + cap)
    if wanted <= len(ids):
        return ids
    since = _aware(received_at) - window
    for issue in gt.issues("is:unresolved", limit=min(max(cap * 2, 10), 100), max_pages=1):
        if len(ids) >= wanted:
            break
        if issue.id not in ids and _aware(issue.last_seen) >= since:
            ids.append(issue.id)
    return ids


# ---------------------------------------------------------------------------- acting


READ_IT_YOURSELF = object()  # `alert_once(previous=...)`: the caller did not read the issue's last alert


def alert_once(s: Settings, gt, issue_id: str, delivery_id: int, *,
               previous: Any = READ_IT_YOURSELF) -> tuple[str, str | None]:
    """Send the issue's alert unless its window already had one; the investigation claim key to ensure next.
    `previous`: the issue's last alert when the caller read it already (a stale one is safe: the claim of
    the window decides)."""
    url = s.triage_database_url
    if previous is READ_IT_YOURSELF:
        previous = _last_alert(url, issue_id)
    now = datetime.now(timezone.utc)
    if previous and now - previous < timedelta(minutes=s.alert_dedup_minutes):
        return "duplicate", investigation_key(issue_id, previous)
    hold = take(url, alert_key(issue_id, previous), lease_seconds=ALERT_LEASE_SECONDS,
                detail={"issue_id": issue_id, "delivery": delivery_id})
    if not hold:
        alerted = hold.detail.get("alerted_at")
        if alerted and hold.detail.get("alerted_iso"):  # its holder sent it but may have died before recording
            _record_alert(url, issue_id, datetime.fromisoformat(hold.detail["alerted_iso"]), delivery_id,
                          hold.detail.get("message_id"), only_if_newer=True)
        return "duplicate", (f"investigate:issue:{issue_id}:alert:{alerted}" if alerted else None)
    sent: dict[str, Any] = {}
    try:
        try:
            issue = gt.issue(issue_id)
        except NotFound:
            hold.release()
            return "not found", None
        try:
            event = gt.latest_event(issue_id)
        except NotFound:
            event = None
        message_id = None
        if s.telegram_bot_token and s.telegram_chat_id:
            html = alert_html(issue, event, issue_link(s.glitchtip_url, s.glitchtip_org, issue.id))
            with audited(url, "telegram", "alert.send", f"issue:{issue.id}", dry_run=s.triage_dry_run,
                         detail={"delivery": delivery_id, "claim": hold.key}):
                if not s.triage_dry_run:
                    message_id = str(telegram_from_settings(s).send_message(html, alert_buttons(issue.id)))
        alerted_at = datetime.now(timezone.utc)
        sent = {"alerted_at": stamp(alerted_at), "alerted_iso": alerted_at.isoformat(), "message_id": message_id}
        patiently(lambda: _record_alert(url, issue_id, alerted_at, delivery_id, message_id, hold=hold, sent=sent))
    except BaseException as exc:
        if not hold.finished:
            if sent:  # it went out: never give the claim back, or the alert is sent twice
                hold.done(sent)
            else:
                hold.failed(f"{exc.__class__.__name__}: {exc}")
        raise
    return "alerted", investigation_key(issue_id, alerted_at)


def _record_alert(url: str, issue_id: str, alerted_at: datetime, delivery_id: int, message_id: str | None, *,
                  hold: Hold | None = None, sent: dict[str, Any] | None = None, only_if_newer: bool = False) -> None:
    """The issue's last alert, and (when given) its claim marked done, in one transaction."""
    with session_scope(url) as session:
        row = session.get(IssueAlert, issue_id)
        if row is not None and only_if_newer and _aware(row.alerted_at) >= alerted_at:
            return
        row = row or IssueAlert(issue_id=issue_id, alerted_at=alerted_at)
        row.alerted_at, row.delivery_id, row.message_id = alerted_at, delivery_id, message_id
        session.add(row)
        session.flush()
        if hold is not None:
            hold.done(sent, session=session)


def ensure_investigation(s: Settings, issue_id: str, key: str, investigate: Investigate) -> str:
    """Start the investigation that belongs to this alert unless it was started (or is running) already."""
    hold = take(s.triage_database_url, key, lease_seconds=s.investigation_lease_seconds,
                detail={"issue_id": issue_id})
    if not hold:
        return f"investigation {'started earlier' if hold.state == 'done' else 'running'}"
    return f"investigation {investigate(issue_id, hold, s)}"
