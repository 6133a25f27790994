"""The sandbox GlitchTip's event ingest (`POST /api/{project}/envelope/` and `/store/`), as a DSN reaches it.

The key is checked as GlitchTip does (the project's DSN public key, `X-Sentry-Auth` or `?sentry_key=`);
each new event id becomes one sandbox issue holding that event with its tags, user and extra (a repeated id is
answered 200 and dropped, as GlitchTip drops duplicates), and every accepted event is listed at
`GET /_sandbox/ingest` for tests. Used by the telemetry relay and by the GlitchTip canary.
"""

from __future__ import annotations

import gzip
import json
import re
import threading
import zlib
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from . import seed
from .ingested_events import store_event

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
    if encoding == "br":  # sentry-sdk compresses with brotli when it is importable
        import brotli

        return brotli.decompress(body)
    return body


def build_ingest_router(sandbox) -> APIRouter:
    router = APIRouter()
    received: dict[str, dict[str, Any]] = {}
    received_lock = threading.Lock()  # one issue per event id, even for two copies sent at once

    def live(entry: dict[str, Any]) -> bool:
        """Still in the sandbox's GlitchTip (a reset forgets every issue)."""
        return sandbox.glitchtip.issues.get(entry["issue_id"]) is entry["_record"]

    def store(project_id: str, event: dict[str, Any]) -> str:
        event_id = str(event.get("event_id") or "").replace("-", "")
        with received_lock:
            if event_id in received and live(received[event_id]):
                return event_id
            issue_id = store_event(sandbox, project_id, event)
            with sandbox.glitchtip.lock:
                received[event_id] = {"event_id": event_id, "project_id": project_id, "issue_id": issue_id,
                                      "event": event, "_record": sandbox.glitchtip.issues[issue_id]}
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
