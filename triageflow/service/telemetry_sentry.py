"""The Sentry SDK endpoints, `POST /api/{project_id}/envelope/` and `/api/{project_id}/store/`, as plain ASGI.

They are the service's hottest path: every error of every app with a DSN pointing here. FastAPI's dispatch
(router, request and response objects, and an OpenTelemetry switch that reads three environment variables
per request) cost about 100 µs of such a request's 500 µs in-process. So `app.TriageService` hands every
HTTP request to `SentryIngestMiddleware` first, which answers these two paths from the ASGI scope and
messages and passes everything else to FastAPI untouched. What it checks and answers is what `telemetry.py`
documents: key (401/403), rate (429), size (413), shape (400), then stored (200) or not stored (503)."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs

import orjson

from tasks.telemetry_event import IngestError, record_from_sentry_event

from .telemetry import (CORRELATION_HEADER, Refusal, TelemetryIngest, decode_body, events_in_envelope, field_error,
                        json_body, sentry_key_from)

log = logging.getLogger(__name__)
SENTRY_PATH = re.compile(r"^/api/([^/]+)/(envelope|store)/?$")
_WANTED = {b"x-sentry-auth", b"content-encoding", b"content-length", CORRELATION_HEADER.encode()}
_READABLE_ANYWHERE = [(b"access-control-allow-origin", b"*"),  # browser SDKs read the rate-limit headers
                      (b"access-control-expose-headers", b"Retry-After, X-Sentry-Rate-Limits")]

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class ClientGone(Exception):
    """The sender disconnected before its body arrived: there is nobody to answer."""


async def read_asgi_body(receive: Receive, declared: str | None, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to be larger than `limit`."""
    if declared and declared.isdigit() and int(declared) > limit:
        raise Refusal(413, f"body of {declared} bytes is larger than {limit} bytes (TELEMETRY_MAX_BYTES)")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise Refusal(413, f"body larger than {limit} bytes (TELEMETRY_MAX_BYTES)")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def answer(send: Send, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
    body = orjson.dumps(payload)
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *_READABLE_ANYWHERE]
    for name, value in (headers or {}).items():
        raw.append((name.lower().encode("latin-1"), value.encode("latin-1")))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class SentryIngestMiddleware:
    """Answers the two Sentry SDK paths; passes everything else to `app`."""

    def __init__(self, app: Callable, ingest: Callable[[], TelemetryIngest]) -> None:
        self.app = app
        self.ingest = ingest

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = SENTRY_PATH.match(scope["path"]) if scope["type"] == "http" else None
        if match is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":
            await answer(send, 405, {"detail": "Method Not Allowed: the Sentry endpoints take POST"},
                         {"Allow": "POST"})
            return
        try:
            status, payload, headers = await self.ingest_request(scope, receive, *match.groups())
        except ClientGone:
            return
        except Exception as exc:  # noqa: BLE001 - a bug of ours: logged with its traceback, answered without it
            log.exception("telemetry ingest failed")
            status, payload, headers = 500, {"detail": f"internal error ({exc.__class__.__name__}); retry later"}, {}
        await answer(send, status, payload, headers)

    async def ingest_request(self, scope: Scope, receive: Receive, project_id: str,
                             kind: str) -> tuple[int, Any, dict[str, str]]:
        headers: dict[bytes, str] = {}
        for name, value in scope["headers"]:
            if name in _WANTED:
                headers[name] = value.decode("latin-1")
        t = self.ingest()
        try:
            key = t.authorise_key(sentry_key_from(headers.get(b"x-sentry-auth"), _query_key(scope)), project_id)
            client = scope.get("client")
            t.limit(ip=client[0] if client else None, **{"project key": f"{project_id}:{key}"})
            limit = t.settings.telemetry_max_bytes
            raw = await read_asgi_body(receive, headers.get(b"content-length"), limit)
            body = decode_body(raw, headers.get(b"content-encoding", ""), limit)
            if kind == "envelope":
                envelope, events = events_in_envelope(body)
                envelope_id = envelope.get("event_id")
            else:
                events, envelope_id = [json_body(body)], None
            now = datetime.now(timezone.utc)
            answered = envelope_id
            for event in events:
                record = record_from_sentry_event(event, project_id=project_id, source=f"sentry-{kind}",
                                                  received_at=now, event_id=envelope_id,
                                                  correlation_id=headers.get(CORRELATION_HEADER.encode()))
                if record.session_id:
                    t.limit(session=record.session_id)
                await t.store(record)
                answered = record.event_id
        except (IngestError, Refusal) as exc:
            refusal = field_error(exc) if isinstance(exc, IngestError) else exc
            return refusal.status, {"detail": refusal.detail}, refusal.headers
        return 200, ({"id": answered} if answered else {}), {}


def _query_key(scope: Scope) -> str | None:
    query = scope.get("query_string") or b""
    if b"sentry_key" not in query:
        return None
    values = parse_qs(query.decode("latin-1")).get("sentry_key")
    return values[0] if values else None
