"""The sandbox GlitchTip's event ingest (`POST /api/{project}/envelope/` and `/store/`), as a DSN reaches it.

The key is checked as GlitchTip does (the project's DSN public key, `X-Sentry-Auth` or `?sentry_key=`);
each new event id becomes one sandbox issue (a repeated id is answered 200 and dropped, as GlitchTip
drops duplicates), and every accepted event is listed at `GET /_sandbox/ingest` for tests.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from . import seed
from .seed import IssueSpec

_AUTH_PAIR = re.compile(r"(\w+)=([^,\s]+)")


def _key(request: Request) -> str | None:
    header = request.headers.get("x-sentry-auth", "")
    return dict(_AUTH_PAIR.findall(header)).get("sentry_key") or request.query_params.get("sentry_key")


def _decode(body: bytes, encoding: str) -> bytes:
    encoding = encoding.lower()
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    return body


def _title(event: dict[str, Any]) -> tuple[str, str, str]:
    values = (event.get("exception") or {}).get("values") or []
    if values:
        exc = values[-1]
        return exc.get("type") or "Error", exc.get("value") or "", "error"
    message = event.get("message")
    if isinstance(message, dict):
        message = message.get("formatted") or message.get("message")
    return "", str(message or "(no message)"), event.get("level") or "error"


def build_ingest_router(sandbox) -> APIRouter:
    router = APIRouter()
    received: dict[str, dict[str, Any]] = {}

    def live(entry: dict[str, Any]) -> bool:
        """Still in the sandbox's GlitchTip (a reset forgets every issue)."""
        return sandbox.glitchtip.issues.get(entry["issue_id"]) is entry["_record"]

    def store(project_id: str, event: dict[str, Any]) -> str:
        state = sandbox.glitchtip
        event_id = str(event.get("event_id") or "").replace("-", "")
        with state.lock:
            if event_id in received and live(received[event_id]):
                return event_id
            project = next(p for p in seed.PROJECTS if p["id"] == project_id)
            type_, value, level = _title(event)
            issue_id = max(state.issues) + 1
            # a message-type issue: no sample-app frames to point at, only the title the event carried
            spec = IssueSpec(id=issue_id, project=project["slug"], level=event.get("level") or level, type="",
                             value=f"{type_}: {value}" if type_ else value, frames=(), component="telemetry",
                             operation="ingest", daily=(1,), release=event.get("release") or "booking@1.4.2")
            from .glitchtip_state import IssueRecord

            record = IssueRecord(spec, f"{project['slug'].upper()}-T{issue_id}", "unresolved",
                                 seed.seed_events(spec, state.now))
            record.tag_values = state._tag_values(record)
            state.issues[issue_id] = record
            received[event_id] = {"event_id": event_id, "project_id": project_id, "issue_id": issue_id,
                                  "event": event, "_record": record}
        return event_id

    async def ingest(request: Request, project_id: str, kind: str):
        if project_id not in {p["id"] for p in seed.PROJECTS}:
            return JSONResponse({"detail": "Invalid project"}, status_code=404)
        if _key(request) != f"{int(project_id):032x}":
            return JSONResponse({"detail": "Invalid api key"}, status_code=401)
        try:
            body = _decode(await request.body(), request.headers.get("content-encoding", ""))
            if kind == "store":
                events = [json.loads(body)]
            else:
                from sentry_sdk.envelope import Envelope

                envelope = Envelope.deserialize(body)
                events = [i.payload.json for i in envelope.items if i.type == "event"]
        except Exception as exc:  # noqa: BLE001 - the sandbox answers like a server: 400 with a reason
            return JSONResponse({"detail": f"invalid body: {exc.__class__.__name__}"}, status_code=400)
        ids = [store(project_id, e) for e in events if isinstance(e, dict) and e.get("event_id")]
        return {"id": ids[-1]} if ids else {}

    @router.post("/api/{project_id}/envelope/")
    async def envelope(project_id: str, request: Request):
        return await ingest(request, project_id, "envelope")

    @router.post("/api/{project_id}/store/")
    async def store_endpoint(project_id: str, request: Request):
        return await ingest(request, project_id, "store")

    @router.get("/_sandbox/ingest")
    def listing():
        with sandbox.glitchtip.lock:
            return [{k: v for k, v in r.items() if k != "_record"} for r in received.values() if live(r)]

    @router.delete("/_sandbox/ingest", status_code=204)
    def clear():
        with sandbox.glitchtip.lock:
            received.clear()

    return router
