"""The sandbox: loopback stand-ins for the outside services, with fault injection and a request log.

Control endpoints live under `/_sandbox/` (no auth: the sandbox only ever listens on loopback).
"""

from __future__ import annotations

import asyncio
import hmac
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from .github_api import build_github_router
from .glitchtip_api import build_router
from .glitchtip_state import GlitchTipState
from .ingest_api import build_ingest_router
from .messaging_api import Outbox, build_slack_router, build_telegram_router
from .monitoring_api import build_monitoring_router
from .spike_api import build_spike_router
from .scale import build_scale_router

DEFAULT_TOKEN = "dev_sandbox_5f1c2e8a9b7d4c3e8f6a1b2c3d4e5f60"
TELEGRAM_TOKEN = "dev_sandbox_telegram_7c1e0b5d2a"
SLACK_TOKEN = "dev_sandbox_slack_3f9a6e1c8b"
TELEGRAM_CHAT_ID = "-100200300"
SLACK_CHANNEL = "C0TRIAGE"
ORG_SLUG = "acme"

FaultKind = Literal["latency", "error", "rate_limit", "drop"]


class FaultSpec(BaseModel):
    """A fault for the next `times` requests whose path starts with `path` (and, if given, of `method`)."""

    path: str = Field(..., min_length=1)
    kind: FaultKind
    method: str | None = None
    times: int = Field(1, ge=1, le=10_000)
    status: int = Field(503, ge=400, le=599)
    retry_after: float = Field(1.0, ge=0)
    seconds: float = Field(0.5, ge=0, le=60)


@dataclass
class Fault:
    spec: FaultSpec
    remaining: int

    def matches(self, method: str, path: str) -> bool:
        return (
            self.remaining > 0
            and path.startswith(self.spec.path)
            and (self.spec.method is None or self.spec.method.upper() == method)
        )


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: str
    status: int | None
    fault: str | None
    at: str


@dataclass
class Sandbox:
    """Everything the sandbox serves and remembers."""

    token: str = DEFAULT_TOKEN
    telegram_token: str = TELEGRAM_TOKEN
    slack_token: str = SLACK_TOKEN
    now: datetime | None = None
    codebase: Path | None = None
    glitchtip_release: str | None = None  # "2024", "4.2.1" or "5.1" (None: the newest)
    glitchtip: GlitchTipState = field(init=False)
    faults: list[Fault] = field(default_factory=list)
    requests: list[LoggedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    outbox: Outbox = field(default_factory=Outbox)
    updates: list[dict[str, Any]] = field(default_factory=list)
    last_update_id: int = 0
    extras: dict[str, Any] = field(default_factory=dict)  # state of added stand-ins (GitHub, Loki): each has reset()
    latency_ms: float = 0.0  # added to every API answer, as a real server's network and database time

    def __post_init__(self) -> None:
        self.glitchtip = GlitchTipState(self.now, self.token, self.glitchtip_release)
        self.glitchtip_release = self.glitchtip.release.name

    def reset(self) -> None:
        with self.lock:
            self.faults.clear()
            self.requests.clear()
            self.outbox.clear()
            self.updates.clear()
        self.glitchtip.__init__(self.now, self.token, self.glitchtip_release)
        for extra in self.extras.values():
            extra.reset()

    def take_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Telegram getUpdates: queued updates from `offset` on (tests queue them via the control API)."""
        offset = int(params.get("offset") or 0)
        with self.lock:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
            return list(self.updates)

    def take_fault(self, method: str, path: str) -> FaultSpec | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.remaining -= 1
                    return fault.spec
        return None

    def log(self, method: str, path: str, query: str, fault: str | None) -> LoggedRequest:
        entry = LoggedRequest(method, path, query, None, fault, datetime.now(timezone.utc).isoformat())
        with self.lock:
            self.requests.append(entry)
        return entry


_UNAVAILABLE_PAGE = "<html><head><title>503 Service Unavailable</title></head><body><h1>503 Service Unavailable</h1></body></html>"


class FaultsAndLog:
    """Outermost ASGI layer: applies injected faults and logs every request with its final status."""

    def __init__(self, app, sandbox: Sandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox/"):
            return await self.app(scope, receive, send)
        method, path = scope["method"], scope["path"]
        query = scope.get("query_string", b"").decode()
        fault = self.sandbox.take_fault(method, path)
        entry = self.sandbox.log(method, path, query, fault.kind if fault else None)  # logged on arrival

        async def logging_send(message):
            if message["type"] == "http.response.start":
                entry.status = message["status"]
            await send(message)

        if self.sandbox.latency_ms:
            await asyncio.sleep(self.sandbox.latency_ms / 1000)
        if fault is None or fault.kind == "latency":
            if fault is not None:
                await asyncio.sleep(fault.seconds)
            return await self.app(scope, receive, logging_send)
        if fault.kind == "drop":
            _drop_connection(receive)
            return
        if fault.kind == "rate_limit":
            response = JSONResponse(
                {"detail": f"Request was throttled. Expected available in {fault.retry_after:g} seconds."},
                status_code=429, headers={"retry-after": f"{fault.retry_after:g}"},
            )
        else:
            response = HTMLResponse(_UNAVAILABLE_PAGE, status_code=fault.status)
        await response(scope, receive, logging_send)


def _drop_connection(receive) -> None:
    """Close the socket without an answer, as a crashed upstream or a proxy's idle reaper would."""
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise RuntimeError("drop fault needs uvicorn's transport")
    transport.close()


class _Auth:
    """GlitchTip's token check: a wrong or missing token is 403 on the 2024 release, 401 since 4.2.1."""

    def __init__(self, app, sandbox: Sandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith("/api/0/"):
            headers = dict(scope.get("headers") or [])
            auth = headers.get(b"authorization", b"").decode()
            detail = None
            if not auth:
                detail = "Authentication credentials were not provided."
            elif not (auth.startswith("Bearer ") and hmac.compare_digest(auth[7:], self.sandbox.token)):
                detail = "Invalid token."
            if detail:
                status, ninja_detail = self.sandbox.glitchtip.release.bad_token
                if self.sandbox.glitchtip.release.ninja:
                    detail = ninja_detail
                return await JSONResponse({"detail": detail}, status_code=status)(scope, receive, send)
        return await self.app(scope, receive, send)


def glitchtip_alert_payload(state: GlitchTipState, base: str, issue_ids: list[str]) -> dict[str, Any]:
    """What GlitchTip's webhook recipient sends: Slack-style attachments, no id field, three issues at most."""
    attachments, sections = [], []
    for issue_id in issue_ids[:3]:
        issue = state.issue_json(int(issue_id))
        record = state.issues[int(issue_id)]
        link = f"{base}/{state.org['slug']}/issues/{issue_id}"
        fields = [{"title": "Project", "value": issue["project"]["name"], "short": True},
                  {"title": "Environment", "value": "production", "short": True}]
        if state.release.webhook_server_name:
            fields.append({"title": "Server Name", "value": record.events[-1].server, "short": True})
        fields.append({"title": "Release", "value": "booking@1.4.2", "short": False})
        attachments.append({
            "title": issue["title"], "title_link": link, "text": issue["culprit"], "image_url": None,
            "color": "#e52b50" if issue["level"] in ("error", "fatal") else None,
            "fields": fields, "mrkdown_in": ["text"]})
        sections.append({"activityTitle": issue["title"], "activitySubtitle": f"[View Issue {issue['shortId']}]({link})"})
    text = "GlitchTip Alert" if len(issue_ids) == 1 else f"GlitchTip Alert ({len(issue_ids)} issues)"
    return {"alias": "GlitchTip", "text": text, "attachments": attachments, "sections": sections}


def create_app(sandbox: Sandbox | None = None) -> Any:
    sandbox = sandbox or Sandbox()
    api = FastAPI(title="triageflow sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    api.include_router(build_router(sandbox.glitchtip))
    api.include_router(build_telegram_router(sandbox))
    api.include_router(build_slack_router(sandbox))
    api.include_router(build_ingest_router(sandbox))
    api.include_router(build_github_router(sandbox))
    api.include_router(build_monitoring_router(sandbox))
    api.include_router(build_spike_router(sandbox))
    api.include_router(build_scale_router(sandbox.glitchtip))

    @api.get("/_sandbox/info")
    def info(request: Request):
        base = str(request.base_url).rstrip("/")
        return {"glitchtip_url": base, "org": ORG_SLUG, "token": sandbox.token,
                "telegram_api_url": base, "telegram_token": sandbox.telegram_token, "telegram_chat_id": TELEGRAM_CHAT_ID,
                "slack_api_url": f"{base}/api/", "slack_token": sandbox.slack_token, "slack_channel": SLACK_CHANNEL,
                "codebase": str(sandbox.codebase) if sandbox.codebase else None,
                "now": sandbox.glitchtip.now.isoformat(), "issues": len(sandbox.glitchtip.issues),
                "glitchtip_release": sandbox.glitchtip.release.name}

    @api.post("/_sandbox/faults", status_code=201)
    def add_fault(spec: FaultSpec):
        with sandbox.lock:
            sandbox.faults.append(Fault(spec, spec.times))
        return spec.model_dump()

    @api.delete("/_sandbox/faults", status_code=204)
    def clear_faults():
        with sandbox.lock:
            sandbox.faults.clear()

    @api.get("/_sandbox/requests")
    def requests_log():
        with sandbox.lock:
            return [asdict(r) for r in sandbox.requests]

    @api.delete("/_sandbox/requests", status_code=204)
    def clear_requests():
        with sandbox.lock:
            sandbox.requests.clear()

    @api.get("/_sandbox/outbox")
    def outbox(service: str | None = None):
        with sandbox.lock:
            return [m for m in sandbox.outbox.items if service is None or m["service"] == service]

    @api.delete("/_sandbox/outbox", status_code=204)
    def clear_outbox():
        with sandbox.lock:
            sandbox.outbox.clear()

    @api.post("/_sandbox/webhooks/glitchtip")
    async def send_glitchtip_webhook(request: Request):
        """POST a webhook shaped like GlitchTip's project alert (at most three issues listed) to `url`;
        without `url`, only answer the payload."""
        spec = await request.json()
        url, ids = spec.get("url"), [str(i) for i in spec.get("issue_ids") or []]
        unknown = [i for i in ids if not i.isdigit() or int(i) not in sandbox.glitchtip.issues]
        if not ids or unknown:
            return JSONResponse({"detail": f"give issue_ids of seeded issues (unknown: {unknown})"}, status_code=422)
        base = str(request.base_url).rstrip("/")
        payload = glitchtip_alert_payload(sandbox.glitchtip, base, ids)
        if not url:
            return {"payload": payload}
        import httpx

        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.post(url, json=payload, headers={"User-Agent": "python-requests/2.31.0"})
        return {"status": response.status_code, "body": response.text, "payload": payload}

    @api.post("/_sandbox/telegram/updates", status_code=201)
    async def queue_update(request: Request):
        """Queue what a Telegram user does for the bot's next getUpdates: a message, or a button press."""
        spec = await request.json()
        with sandbox.lock:
            update_id = max((u["update_id"] for u in sandbox.updates), default=sandbox.last_update_id) + 1
            sandbox.last_update_id = update_id
            user = {"id": int(spec.get("user_id", 1001)), "is_bot": False, "first_name": spec.get("first_name", "Ann"),
                    "username": spec.get("username", "ann")}
            chat = {"id": int(spec.get("chat_id", TELEGRAM_CHAT_ID)), "type": "group", "title": "on-call"}
            now = int(datetime.now(timezone.utc).timestamp())
            if "callback_data" in spec:
                update = {"update_id": update_id, "callback_query": {
                    "id": f"cbq-{update_id}", "from": user, "chat_instance": "sandbox", "data": spec["callback_data"],
                    "message": {"message_id": int(spec.get("message_id", 1)), "date": now, "chat": chat, "text": "…"}}}
            else:
                text = str(spec.get("text", ""))
                command = text.split()[0] if text.startswith("/") else ""
                message = {"message_id": update_id, "date": now, "chat": chat, "from": user, "text": text}
                if command:
                    message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
                update = {"update_id": update_id, "message": message}
            sandbox.updates.append(update)
        return update

    @api.post("/_sandbox/reset", status_code=204)
    def reset():
        sandbox.reset()

    app = FaultsAndLog(_Auth(api, sandbox), sandbox)
    app.sandbox = sandbox  # type: ignore[attr-defined]
    return app
