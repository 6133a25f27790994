"""Sandbox event ingestion (what sentry-sdk posts to a DSN) and a spike control, for the watcher's canary
and escalation pass.

`POST /api/{project_id}/envelope/` (and `/store/`) accept gzip, brotli or plain envelopes as sentry-sdk
sends them, store each event as a new sandbox issue with its tags, user and extra intact, and answer
`{"id": event_id}` as GlitchTip does. `POST /_sandbox/glitchtip/issues/{id}/events` adds events to a
seeded issue (a spike, optionally from new users).
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections import Counter
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from . import seed
from .glitchtip_state import IssueRecord, _base36
from .seed import IssueSpec, SeedEvent, fmt_time


class EnvelopeError(ValueError):
    """The body is not a Sentry envelope this endpoint can read."""


def decode_body(raw: bytes, encoding: str) -> bytes:
    encoding = (encoding or "").lower().strip()
    try:
        if encoding == "gzip":
            return gzip.decompress(raw)
        if encoding == "deflate":
            return zlib.decompress(raw)
        if encoding == "br":
            import brotli  # sentry-sdk uses brotli when it is importable

            return brotli.decompress(raw)
    except (OSError, zlib.error, ImportError) as exc:
        raise EnvelopeError(f"cannot decode a {encoding} body: {exc}") from None
    if encoding not in ("", "identity"):
        raise EnvelopeError(f"unsupported Content-Encoding {encoding!r}")
    return raw


def envelope_events(body: bytes) -> list[dict[str, Any]]:
    """The `event` items of an envelope: a header line, then (item header, payload) pairs; `length` may be absent."""
    lines = body.split(b"\n", 1)
    try:
        json.loads(lines[0])
    except ValueError:
        raise EnvelopeError("the first line is not an envelope header") from None
    rest, events = lines[1] if len(lines) > 1 else b"", []
    while rest.strip():
        header_line, _, rest = rest.partition(b"\n")
        if not header_line.strip():
            continue
        header = json.loads(header_line)
        length = header.get("length")
        if length is not None:
            payload, rest = rest[:length], rest[length:].removeprefix(b"\n")
        else:
            payload, _, rest = rest.partition(b"\n")
        if header.get("type") == "event":
            events.append(json.loads(payload))
    return events


def _exception_entry(event: dict[str, Any]) -> tuple[list[dict[str, Any]], str, str]:
    values = (event.get("exception") or {}).get("values") or []
    rendered = []
    for v in values:
        frames = [{"filename": f.get("filename"), "absPath": f.get("abs_path"), "function": f.get("function"),
                   "module": f.get("module"), "lineNo": f.get("lineno"), "context_line": f.get("context_line"),
                   "inApp": f.get("in_app"), "vars": f.get("vars") or {}}
                  for f in (v.get("stacktrace") or {}).get("frames") or []]
        rendered.append({"type": v.get("type"), "value": v.get("value"), "mechanism": v.get("mechanism"),
                         "stacktrace": {"frames": frames}})
    last = values[-1] if values else {}
    return ([{"type": "exception", "data": {"values": rendered, "hasSystemFrames": False}}] if rendered else [],
            last.get("type") or "", last.get("value") or "")


def store_event(sandbox, project_id: str, event: dict[str, Any]) -> int:
    """A new sandbox issue holding this one event, rendered as GlitchTip renders an event."""
    state = sandbox.glitchtip
    project = next((p for p in seed.PROJECTS if p["id"] == str(project_id)), None)
    if project is None:
        raise EnvelopeError(f"no project {project_id}")
    entries, type_, value = _exception_entry(event)
    title = f"{type_}: {value}" if type_ else str(event.get("message") or (event.get("logentry") or {}).get("message") or "")
    received = datetime.now(timezone.utc)
    try:
        at = datetime.fromisoformat(str(event.get("timestamp")).replace("Z", "+00:00"))
        at = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
    except ValueError:
        at = received
    user = event.get("user") or None
    tags = event.get("tags") or {}
    tag_list = [{"key": k, "value": str(v)} for k, v in (tags.items() if isinstance(tags, dict) else tags)]
    event_id = str(event.get("event_id") or received.strftime("%Y%m%d%H%M%S%f"))
    with state.lock:
        issue_id = max(state.issues) + 1
        spec = IssueSpec(id=issue_id, project=project["slug"], level=str(event.get("level") or "error"), type="",
                         value=title, frames=(), component=str(tags.get("component", "")) if isinstance(tags, dict) else "",
                         operation="", daily=(1,))
        same_project = sum(1 for r in state.issues.values() if r.spec.project == project["slug"])
        record = IssueRecord(spec, f"{project['slug'].upper()}-{_base36(same_project)}", "unresolved",
                             [SeedEvent(event_id, issue_id, at, str(event.get("server_name") or ""),
                                        str(user["id"]) if user and user.get("id") else None)])
        record.ingested[event_id] = {
            "eventID": event_id, "id": event_id, "issue": issue_id, "context": event.get("extra") or {},
            "contexts": event.get("contexts") or {}, "culprit": event.get("transaction") or "",
            "dateCreated": fmt_time(at), "dateReceived": fmt_time(received), "entries": entries,
            "message": "" if entries else title, "metadata": {"type": type_, "value": value} if type_ else {"title": title},
            "platform": event.get("platform") or "python", "sdk": event.get("sdk"), "tags": tag_list,
            "title": title, "type": "error" if entries else "default", "user": user,
            "release": {"version": event.get("release")} if event.get("release") else None,
        }
        record.tag_values = {t["key"]: Counter({t["value"]: 1}) for t in tag_list}
        state.issues[issue_id] = record
    return issue_id


def build_canary_ingest_router(sandbox) -> APIRouter:
    router = APIRouter()

    async def ingest(request: Request, project_id: str):
        auth = request.headers.get("x-sentry-auth", "") + request.query_params.get("sentry_key", "")
        if "sentry_key" not in auth and not request.query_params.get("sentry_key"):
            return JSONResponse({"detail": "missing sentry_key (X-Sentry-Auth header)"}, status_code=401)
        try:
            body = decode_body(await request.body(), request.headers.get("content-encoding", ""))
            if request.url.path.endswith("/store/"):
                events = [json.loads(body)]
            else:
                events = envelope_events(body)
            for event in events:
                store_event(sandbox, project_id, event)
        except (EnvelopeError, ValueError) as exc:
            return JSONResponse({"detail": str(exc)}, status_code=400)
        return {"id": events[0].get("event_id") if events else None}

    router.add_api_route("/api/{project_id}/envelope/", ingest, methods=["POST"])
    router.add_api_route("/api/{project_id}/store/", ingest, methods=["POST"])

    @router.post("/_sandbox/glitchtip/issues/{issue_id}/events", status_code=201)
    async def spike(issue_id: int, request: Request):
        """Add `count` events to a seeded issue now, `new_users` of them from users never seen before."""
        spec = await request.json() if await request.body() else {}
        count, new_users = int(spec.get("count", 50)), int(spec.get("new_users", 0))
        state = sandbox.glitchtip
        with state.lock:
            record = state.issues.get(issue_id)
            if record is None:
                return JSONResponse({"detail": f"no issue {issue_id}"}, status_code=404)
            now = datetime.now(timezone.utc)
            start = len(record.events)
            for n in range(count):
                user = f"spike-{issue_id}-{start + n}" if n < new_users else None
                record.events.append(SeedEvent(seed.event_id(issue_id, 100_000 + start + n), issue_id, now,
                                               "api-1", user))
            record.tag_values = state._tag_values(record)
        return {"issue": issue_id, "events": len(record.events)}

    return router
