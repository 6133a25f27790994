"""Telemetry ingest: `POST /api/telemetry/error` (JSON) and the Sentry SDK endpoints `/api/{project}/envelope/`
and `/api/{project}/store/`, so any app with a Sentry SDK can point its DSN at triageflow.

Order of checks: project key (401/403), rate limit (429 + Retry-After: the IP, and the SDK's project key,
before the body is read; the session, and the JSON route's project, once the body names them), body size
as sent and once decompressed (413), encoding and shape (400 naming the field). Then the event is scrubbed
and clipped (tasks/telemetry_event.py), written by the batching writer, and acknowledged only once
committed: a repeat of an event id is acknowledged again and not counted twice.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import orjson

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from tasks.telemetry_event import BrowserError, IngestError, TelemetryRecord, record_from_browser
from tasks.telemetry_ratelimit import RateLimiter, Verdict
from tasks.telemetry_relay import relay_event
from tasks.telemetry_store import Pending, batcher_for

from ..settings import Settings, load_settings
from .telemetry_capture import correlation_id_or_new
from .telemetry_script import BROWSER_SCRIPT

CORRELATION_HEADER = "x-correlation-id"
_AUTH_PAIR = re.compile(r"(\w+)=([^,\s]+)")
EVENT_ITEM_TYPES = ("event", "error")  # everything else (session, transaction, client_report, ...) is ignored


class Refusal(Exception):
    """An answer other than 200, with a reason a developer can act on."""

    def __init__(self, status: int, detail: Any, headers: dict[str, str] | None = None) -> None:
        self.status, self.detail, self.headers = status, detail, headers or {}

    def response(self, correlation_id: str | None = None) -> JSONResponse:
        headers = dict(self.headers)
        if correlation_id:
            headers[CORRELATION_HEADER] = correlation_id
        return JSONResponse({"detail": self.detail}, status_code=self.status, headers=headers)


def field_error(exc: IngestError) -> Refusal:
    return Refusal(400, {"field": exc.field, "reason": exc.reason})


def correlation_id_of(request: Request) -> str:
    """The caller's `x-correlation-id` when it is a sane token; otherwise a new one."""
    return correlation_id_or_new(request.headers.get(CORRELATION_HEADER, ""))


def sentry_key_from(auth_header: str | None, query_key: str | None) -> str | None:
    """`X-Sentry-Auth: Sentry sentry_key=..., ...` or `?sentry_key=` (browser SDKs)."""
    header = auth_header or ""
    if header.lower().startswith("sentry "):
        pairs = dict(_AUTH_PAIR.findall(header))
        if pairs.get("sentry_key"):
            return pairs["sentry_key"]
    return query_key or None


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise Refusal(413, f"body of {declared} bytes is larger than {limit} bytes (TELEMETRY_MAX_BYTES)")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Refusal(413, f"body larger than {limit} bytes (TELEMETRY_MAX_BYTES)")
    return bytes(body)


def _inflate(inflater, body: bytes, limit: int) -> bytes:
    """Inflate in steps, stopping just past `limit` (a small bomb must not allocate its whole size)."""
    out = bytearray(inflater.decompress(body, 65536))
    while inflater.unconsumed_tail and len(out) <= limit:
        out += inflater.decompress(inflater.unconsumed_tail, 65536)
    return bytes(out)


def decode_body(body: bytes, encoding: str, limit: int) -> bytes:
    """Undo `Content-Encoding` (gzip, deflate, br), refusing anything that inflates past `limit`."""
    encoding = (encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip", "deflate"):
        wbits = 31 if encoding != "deflate" else (15 if body[:1] == b"\x78" else -15)
        inflater = zlib.decompressobj(wbits)
        try:
            out = _inflate(inflater, body, limit)
        except zlib.error as exc:
            raise Refusal(400, {"field": "Content-Encoding", "reason": f"body is not valid {encoding}: {exc}"}) from None
    elif encoding == "br":
        try:
            import brotli
        except ImportError:
            raise Refusal(415, {"field": "Content-Encoding", "reason": "br is not supported here: send gzip"}) from None
        try:
            inflater = brotli.Decompressor()
            out = inflater.process(body, output_buffer_limit=limit + 1)
        except (brotli.error, TypeError) as exc:
            raise Refusal(400, {"field": "Content-Encoding", "reason": f"body is not valid br: {exc}"}) from None
    else:
        raise Refusal(415, {"field": "Content-Encoding", "reason": f"{encoding!r} is not supported: gzip, deflate, br"})
    if len(out) > limit:
        raise Refusal(413, f"body larger than {limit} bytes once decompressed (TELEMETRY_MAX_BYTES)")
    return out


def _json(data: bytes) -> Any:
    """orjson (twice the standard library's speed on an SDK event); the standard library for what orjson alone
    refuses (NaN, huge integers, lone surrogates), so both accept what `json.loads` accepted before."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def json_body(body: bytes) -> Any:
    """A `store` body: one JSON event, or a 400 naming the body."""
    try:
        return _json(body)
    except ValueError as exc:
        raise Refusal(400, {"field": "body", "reason": f"not JSON: {exc}"}) from None


def events_in_envelope(body: bytes) -> tuple[dict[str, Any], list[Any]]:
    """The envelope's headers and its event payloads.

    The framing of https://develop.sentry.dev/sdk/data-model/envelopes/ (what `sentry_sdk.envelope.Envelope`
    reads): a JSON header line, then items, each a JSON header line and a payload of `length` bytes (or up to
    the next newline). Read here rather than by sentry-sdk's deserializer because that one parses every
    event and transaction with the standard library's `json`: a third of the request's CPU. Only event
    items are parsed at all; sessions, transactions and client reports are skipped unread.
    """
    try:
        end = body.find(b"\n")
        head = _json(body[: end if end >= 0 else len(body)])
        if not isinstance(head, dict):
            raise ValueError("the envelope header is not a JSON object")
        pos, size, events = (end + 1 if end >= 0 else len(body)), len(body), []
        while pos < size:
            end = body.find(b"\n", pos)
            line = body[pos: end if end >= 0 else size].strip()
            pos = end + 1 if end >= 0 else size
            if not line:
                continue
            item = _json(line)
            if not isinstance(item, dict):
                raise ValueError("an item header is not a JSON object")
            length = item.get("length")
            if length is not None:
                if not isinstance(length, int) or length < 0 or pos + length > size:
                    raise ValueError(f"item length {length!r} does not fit the envelope")
                payload, pos = body[pos: pos + length], pos + length
                if body[pos: pos + 1] == b"\n":
                    pos += 1
            else:
                end = body.find(b"\n", pos)
                payload, pos = body[pos: end if end >= 0 else size], (end + 1 if end >= 0 else size)
            if item.get("type") not in EVENT_ITEM_TYPES:
                continue
            try:
                events.append(_json(payload))
            except ValueError as exc:
                raise Refusal(400, {"field": "event", "reason": f"event item is not JSON: {exc}"[:300]}) from None
    except Refusal:
        raise
    except Exception as exc:  # noqa: BLE001 - a malformed envelope is the sender's error: name it
        raise Refusal(400, {"field": "body", "reason": f"not a Sentry envelope: {exc.__class__.__name__}: {exc}"[:300]}) from None
    return head, events


class TelemetryIngest:
    """Settings, rate limits and the writer, shared by the telemetry routes of one service."""

    def __init__(self, s: Settings) -> None:
        self.settings = s
        self.keys = s.telemetry_keys()
        self.limiter = RateLimiter({"ip": s.telemetry_rate_per_ip, "session": s.telemetry_rate_per_session,
                                    "project key": s.telemetry_rate_per_key})
        self.relay_to = s.glitchtip_dsn.get_secret_value() if (s.telemetry_relay and s.glitchtip_dsn) else None
        self.relay = None
        if self.relay_to:
            from tasks.telemetry_relay import RelayWorker

            self.relay = RelayWorker(s.triage_database_url, self.relay_to)

    def authorise_key(self, key: str | None, project_id: str) -> str:
        if not key:
            raise Refusal(401, "missing sentry_key: send X-Sentry-Auth: Sentry sentry_key=<public key>, ... "
                               "or ?sentry_key=")
        if key not in self.keys.get(project_id, frozenset()):
            raise Refusal(403, f"sentry_key is not accepted for project {project_id!r} (TELEMETRY_PROJECT_KEYS)")
        return key

    def limit(self, **keys: str | None) -> None:
        verdict: Verdict = self.limiter.check(keys)
        if not verdict.allowed:
            seconds = max(1, int(verdict.retry_after + 0.999))
            raise Refusal(429, f"too many events from this {verdict.scope}: retry after {seconds} s",
                          {"Retry-After": str(seconds), "X-Sentry-Rate-Limits": f"{seconds}::organization"})

    async def store(self, record: TelemetryRecord) -> bool:
        """True when new, False for a repeat; answers only once the write is committed."""
        relay = relay_event(record) if self.relay_to else None
        try:
            new = await batcher_for(self.settings.triage_database_url).write(Pending(record, relay))
        except Exception as exc:  # noqa: BLE001 - not stored, so not acknowledged: the sender retries
            raise Refusal(503, f"event not stored ({exc.__class__.__name__}); retry later",
                          {"Retry-After": "5"}) from None
        if new and self.relay:
            self.relay.wake()
        return new


def telemetry_router() -> tuple[APIRouter, Callable[[], TelemetryIngest], Callable[[], None]]:
    """The JSON and script routes, the shared ingest (started on first use; the Sentry SDK endpoints use it
    too, see `telemetry_sentry.py`), and what stops what that first use started (the relay's thread)."""
    router = APIRouter(tags=["telemetry"])
    state: dict[str, TelemetryIngest] = {}

    def ingest() -> TelemetryIngest:
        if "ingest" not in state:
            state["ingest"] = TelemetryIngest(load_settings())
        return state["ingest"]

    def close() -> None:
        started = state.pop("ingest", None)
        if started is not None and started.relay is not None:
            started.relay.close()

    def client_ip(request: Request) -> str | None:
        return request.client.host if request.client else None

    @router.post("/api/telemetry/error")
    async def telemetry_error(request: Request):
        response = await _telemetry_error(request)
        response.headers["Access-Control-Allow-Origin"] = "*"  # pages on other origins may read the answer
        response.headers["Access-Control-Expose-Headers"] = f"{CORRELATION_HEADER}, Retry-After"
        return response

    async def _telemetry_error(request: Request) -> Response:
        correlation_id = correlation_id_of(request)
        t = ingest()
        try:
            t.limit(ip=client_ip(request))  # before the body: a flood of bad bodies is limited too
            raw = await read_body(request, t.settings.telemetry_max_bytes)
            body = decode_body(raw, request.headers.get("content-encoding", ""), t.settings.telemetry_max_bytes)
            try:
                data = json.loads(body)
            except ValueError as exc:
                raise Refusal(400, {"field": "body", "reason": f"not JSON: {exc}"}) from None
            try:
                report = BrowserError.model_validate(data)
            except ValidationError as exc:
                err = exc.errors()[0]
                where = ".".join(str(p) for p in err.get("loc") or ()) or "body"
                raise Refusal(400, {"field": where, "reason": err.get("msg", "invalid")}) from None
            record = record_from_browser(report, received_at=datetime.now(timezone.utc), correlation_id=correlation_id)
            t.limit(session=record.session_id, **{"project key": f"json:{record.project_id}"})
            new = await t.store(record)
        except IngestError as exc:
            return field_error(exc).response(correlation_id)
        except Refusal as refusal:
            return refusal.response(correlation_id)
        return JSONResponse({"id": record.event_id, "duplicate": not new, "fingerprint": record.fingerprint},
                            headers={CORRELATION_HEADER: correlation_id})

    @router.get("/telemetry.js")
    def browser_script():
        return Response(BROWSER_SCRIPT, media_type="application/javascript",
                        headers={"Cache-Control": "public, max-age=300"})

    return router, ingest, close
