"""Monitoring alerts in: `POST /alerts/alertmanager` (webhook v4), `POST /alerts/grafana`, `GET /alerts/history`.

Authenticated like the GlitchTip webhook (WEBHOOK_SECRET as `?token=`, `X-Triage-Token` or a bearer token,
which Alertmanager's `http_config` sends). Each alert is stored first (one row per fingerprint and
`startsAt`), the request answered 202, then each new or newly resolved alert goes to `alert_triage`:
through a Prefect event that the `alert-triage` deployment's trigger turns into a run, or in-process.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from tasks.alert_payloads import parse_alert_group
from tasks.alert_store import Stored, history, store_alert
from tasks.alerts import WebhookError

from ..settings import Settings, load_settings
from .limits import BodyRefused, parse_json, read_limited

log = logging.getLogger("triageflow.service.alerts")
TRIAGE_DEPLOYMENT = "alert-triage/alert-triage"
ALERT_EVENT = "triageflow.alert.received"


def _problem(status: int, detail) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def _authenticated(request: Request, raw: bytes | None, s: Settings) -> bool:
    secret = s.webhook_secret.get_secret_value().encode()
    auth = request.headers.get("authorization", "")
    provided = (request.query_params.get("token") or request.headers.get("x-triage-token")
                or (auth[7:] if auth.lower().startswith("bearer ") else ""))
    if provided and hmac.compare_digest(provided.encode(), secret):
        return True
    signature = request.headers.get(s.grafana_signature_header, "")
    if signature and raw is not None:  # Grafana's HMAC-SHA256 of the body, hex
        expected = hmac.new(secret, raw, hashlib.sha256).hexdigest()
        return hmac.compare_digest(signature.removeprefix("sha256=").lower().encode(), expected.encode())
    return False


def start_alert_triage(event_id: int, s: Settings) -> str:
    """Through a Prefect event when the triggered deployment exists; otherwise run the flow here."""
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value() and _deployment_exists(TRIAGE_DEPLOYMENT):
        _post_event(PREFECT_API_URL.value(), event_id)
        return "event"
    from flows.alert_triage import alert_triage

    from ..prefect_server import LOCAL_PREFECT_HOME, ensure_prefect_api

    ensure_prefect_api(LOCAL_PREFECT_HOME)  # one local server for the service's in-process runs, not one per run
    state = alert_triage(event_id, return_state=True)
    return "in-process" if state.is_completed() else f"in-process: {state.name}"


def _post_event(api_url: str, event_id: int) -> None:
    """Posted and answered (204) before returning, so the event cannot sit in a queue when the process ends."""
    import httpx
    from prefect.events import Event
    from prefect.settings import PREFECT_API_KEY

    event = Event(event=ALERT_EVENT, resource={"prefect.resource.id": f"triageflow.alert.{event_id}"},
                  payload={"alert_event_id": event_id})
    headers = {"Authorization": f"Bearer {PREFECT_API_KEY.value()}"} if PREFECT_API_KEY.value() else {}
    httpx.post(f"{api_url.rstrip('/')}/events", json=[event.model_dump(mode="json")], headers=headers,
               timeout=10).raise_for_status()


def _deployment_exists(name: str) -> bool:
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            client.read_deployment_by_name(name)
        return True
    except Exception:  # noqa: BLE001 - not found, or no server: run in-process
        return False


def triage_stored(stored: list[Stored], s: Settings, *, start=start_alert_triage) -> dict[int, str]:
    """Start triage for what changed; a re-sent or duplicated alert starts nothing."""
    from tasks.alert_store import update_event

    started: dict[int, str] = {}
    for item in stored:
        if item.change not in ("new", "resolved"):
            continue
        try:
            how = start(item.event_id, s)
        except Exception as exc:  # noqa: BLE001 - stays pending; the service's sweep or `triage alerts sweep` starts it
            log.warning("alert %s: triage not started: %s", item.event_id, exc)
            how = f"not started: {exc.__class__.__name__}"
        if item.change == "new":
            update_event(s.triage_database_url, item.event_id, triage_started=how[:100])
        started[item.event_id] = how
    return started


SLACK_ACTIONS = {"ack": "👀 Acknowledged by {user}",
                 "escalate": "🚨 Escalated by {user}",
                 "false_positive": "🙅 {user} marked this a false positive: the same alert will be judged not real"}


def apply_slack_action(s: Settings, action: str, value: str, message_ts: str, user: str) -> int | None:
    """Record what the person did on the alert (found by its message ts, else the button's event id)."""
    from sqlmodel import select

    from models.alerts import AlertEvent
    from models.db import session_scope

    with session_scope(s.triage_database_url) as session:
        row = session.exec(select(AlertEvent).where(AlertEvent.slack_ts == message_ts)).first() if message_ts else None
        if row is None and value.isdigit():
            row = session.get(AlertEvent, int(value))
        if row is None:
            return None
        if action == "ack":
            row.acknowledged_by = user[:100]
        elif action == "escalate":
            row.escalated = True
        elif action == "false_positive":
            row.false_positive = True
        session.add(row)
        return row.id


def tell_slack_action(s: Settings, event_id: int, action: str, user: str) -> None:
    from tasks.alert_steps import send_thread_reply
    from triageflow.audit import acting_as

    with acting_as(f"slack:{user}"):
        send_thread_reply(event_id, SLACK_ACTIONS[action].format(user=f"@{user}"), s.triage_dry_run,
                          also_channel=s.slack_channel_critical if action == "escalate" else None)


def _history_row(row) -> dict:
    decision = row.decision or {}
    return {"id": row.id, "fingerprint": row.fingerprint, "name": row.name, "status": row.status,
            "source": row.source, "starts_at": row.starts_at.isoformat(), "service": row.service,
            "severity": decision.get("severity") or row.severity, "real": decision.get("real"),
            "confidence": decision.get("confidence"), "reason": decision.get("reason"),
            "triage": row.triage_state, "remediation": row.remediation, "issue": row.issue_url,
            "issue_action": row.issue_action, "deliveries": row.deliveries,
            "slack_ts": row.slack_ts, "acknowledged_by": row.acknowledged_by, "escalated": row.escalated,
            "false_positive": row.false_positive}


def build_alerts_router() -> APIRouter:
    router = APIRouter(prefix="/alerts", tags=["alerts"])

    async def receive(request: Request, background: BackgroundTasks, source: str):
        s = load_settings()
        if s.webhook_secret is None:
            return _problem(503, "alert webhooks are disabled: set WEBHOOK_SECRET")
        refused = None
        try:
            raw = await read_limited(request, s.webhook_max_bytes, s.webhook_read_timeout)
        except BodyRefused as exc:
            raw, refused = None, exc
        if not _authenticated(request, raw, s):
            return _problem(401, "missing or wrong webhook secret (?token=..., X-Triage-Token or Bearer)")
        try:
            if refused:
                raise refused
            body = parse_json(raw, max_depth=s.webhook_max_depth)
        except BodyRefused as exc:
            return _problem(exc.status, str(exc))
        try:
            alerts = parse_alert_group(body, source)
        except WebhookError as exc:
            return _problem(422, {"field": exc.field, "reason": exc.reason})
        stored = [await run_in_threadpool(store_alert, s.triage_database_url, a) for a in alerts]
        background.add_task(triage_stored, stored, s)
        return JSONResponse({"alerts": [{"id": x.event_id, "fingerprint": x.fingerprint, "status": x.status,
                                         "change": x.change} for x in stored]}, status_code=202)

    @router.post("/alertmanager", status_code=202)
    async def alertmanager(request: Request, background: BackgroundTasks):
        return await receive(request, background, "alertmanager")

    @router.post("/grafana", status_code=202)
    async def grafana(request: Request, background: BackgroundTasks):
        return await receive(request, background, "grafana")

    @router.post("/slack/actions")
    async def slack_actions(request: Request, background: BackgroundTasks):
        """Slack's interactivity request (signature and age checked): Acknowledge, Escalate, Mark as false positive."""
        s = load_settings()
        if s.slack_signing_secret is None:
            return _problem(503, "Slack interactivity is disabled: set SLACK_SIGNING_SECRET")
        try:
            raw = await read_limited(request, s.webhook_max_bytes, s.webhook_read_timeout)
        except BodyRefused as exc:
            return _problem(exc.status, str(exc))
        from slack_sdk.signature import SignatureVerifier

        verifier = SignatureVerifier(s.slack_signing_secret.get_secret_value())
        if not verifier.is_valid(raw, request.headers.get("x-slack-request-timestamp", ""),
                                 request.headers.get("x-slack-signature", "")):
            return _problem(401, "bad or old Slack signature (X-Slack-Signature, X-Slack-Request-Timestamp)")
        from urllib.parse import parse_qs

        try:
            payload = parse_json(parse_qs(raw.decode())["payload"][0].encode(), max_depth=s.webhook_max_depth)
            actions = payload["actions"]
            user = str(payload.get("user", {}).get("username") or payload.get("user", {}).get("id") or "someone")
            message_ts = str(payload.get("message", {}).get("ts") or "")
        except (KeyError, IndexError, ValueError, AttributeError, TypeError, UnicodeDecodeError):  # BodyRefused too
            return _problem(400, {"field": "payload", "reason": "not a Slack block_actions payload"})
        done = []
        for action in actions if isinstance(actions, list) else []:
            name = action.get("action_id") if isinstance(action, dict) else None
            if name not in SLACK_ACTIONS:
                continue  # link buttons (dashboard, logs, silence) also report their clicks
            event_id = await run_in_threadpool(apply_slack_action, s, name, str(action.get("value", "")),
                                               message_ts, user)
            if event_id is None:
                return _problem(404, {"field": "actions[].value", "reason": "no alert for this message"})
            background.add_task(tell_slack_action, s, event_id, name, user)
            done.append({"action": name, "alert": event_id})
        return {"ok": True, "done": done}

    @router.get("/history")
    def alert_history(request: Request, limit: int = 50, name: str | None = None, fingerprint: str | None = None):
        s = load_settings()
        if s.webhook_secret is None or not _authenticated(request, None, s):
            return _problem(401, "missing or wrong secret (?token=..., X-Triage-Token or Bearer)")
        if not 1 <= limit <= 500:
            return _problem(422, {"field": "limit", "reason": "must be between 1 and 500"})
        return [_history_row(r) for r in history(s.triage_database_url, limit=limit, name=name,
                                                 fingerprint=fingerprint)]

    return router
