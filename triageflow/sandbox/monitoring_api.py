"""Sandbox Loki (`GET /loki/api/v1/query_range`, shapes from tests/fixtures/peers/alerting/loki/) and service health
URLs that fail and recover on command.

Loki keeps log lines per label set (seeded with a few services' errors around "now"); tests add lines with
`POST /_sandbox/loki/push`. The LogQL understood: a stream selector with `=`, `!=`, `=~`, `!~` matchers and line
filters `|=`, `!=`, `|~`, `!~`; `count_over_time(<query> [<n>m])` answers a matrix. Health:
`GET /_sandbox/health/{service}` answers what `POST /_sandbox/health/{service}` (`{"status": 503}`) set, 200 by default.
"""

from __future__ import annotations

import asyncio
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import re2
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')
_FILTER = re.compile(r'\s*(\|=|!=|\|~|!~)\s*"((?:[^"\\]|\\.)*)"')
_COUNT = re.compile(r"^\s*count_over_time\s*\((.*)\[(\d+)([smh])\]\s*\)\s*$", re.S)


def _seed(now: datetime) -> list[tuple[dict[str, str], datetime, str]]:
    minute = timedelta(minutes=1)
    api = {"service": "backend-api", "level": "error", "pod": "api-1"}
    checkout = {"service": "checkout", "component": "api", "level": "error", "pod": "checkout-api-7d9f8b-x2kq"}
    lines = []
    for i in range(6):
        lines.append((api, now - i * minute, f'{{"level":"error","msg":"upstream timeout","path":"/api/bookings/{100 + i}",'
                                              f'"user_id":"u{i % 3}","status":504}}'))
    lines.append((api, now - 2 * minute, 'Traceback (most recent call last):\n  File "/app/api/bookings.py", line 41, '
                                         'in create\n    slot = pool.acquire()\nTimeoutError: QueuePool limit reached'))
    lines.append((checkout, now - 3 * minute, '{"level":"error","msg":"payment gateway timeout","status":504}'))
    return lines


def _unescape(value: str) -> str:
    return value.replace('\\"', '"').replace("\\\\", "\\")


@dataclass
class LokiState:
    now: datetime | None = None
    streams: list[tuple[dict[str, str], datetime, str]] = field(default_factory=list)
    health: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.streams = _seed(self.now or datetime.now(timezone.utc))
        self.health = {}


def parse_logql(query: str):
    """(matchers, filters, count range in seconds or None); ValueError on what this stand-in cannot read."""
    count_range = None
    counted = _COUNT.match(query)
    if counted:
        query = counted.group(1)
        count_range = int(counted.group(2)) * {"s": 1, "m": 60, "h": 3600}[counted.group(3)]
    query = query.strip()
    if not query.startswith("{") or "}" not in query:
        raise ValueError("parse error: queries must start with a stream selector {label=\"value\"}")
    selector, rest = query[1:].split("}", 1)
    matchers, pos = [], 0
    while pos < len(selector):
        m = _MATCHER.match(selector, pos)
        if not m:
            raise ValueError(f"parse error at {selector[pos:]!r}")
        matchers.append((m.group(1), m.group(2), _unescape(m.group(3))))
        pos = m.end()
    if not matchers:
        raise ValueError("parse error: queries require at least one matcher")
    filters, pos = [], 0
    rest = rest.strip()
    while pos < len(rest):
        m = _FILTER.match(rest, pos)
        if not m:
            raise ValueError(f"parse error at {rest[pos:]!r}: only line filters are understood here")
        filters.append((m.group(1), _unescape(m.group(2))))
        pos = m.end()
    return matchers, filters, count_range


def _labels_match(labels: dict[str, str], matchers) -> bool:
    for name, op, value in matchers:
        actual = labels.get(name, "")
        if op == "=" and actual != value or op == "!=" and actual == value:
            return False
        if op in ("=~", "!~") and bool(re2.fullmatch(value, actual)) != (op == "=~"):
            return False
    return True


def _line_matches(line: str, filters) -> bool:
    for op, value in filters:
        if op == "|=" and value not in line or op == "!=" and value in line:
            return False
        if op in ("|~", "!~") and bool(re2.search(value, line)) != (op == "|~"):
            return False
    return True


def _time(value: str | None, default: datetime) -> datetime:
    if not value:
        return default
    number = float(value)
    seconds = number / 1e9 if number > 1e12 else number
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def build_monitoring_router(sandbox) -> APIRouter:
    state: LokiState = sandbox.extras.setdefault("loki", LokiState(sandbox.now))
    router = APIRouter()

    @router.get("/loki/api/v1/query_range")
    def query_range(query: str = "", start: str | None = None, end: str | None = None, limit: int = 100,
                    direction: str = "backward"):
        now = datetime.now(timezone.utc)
        try:
            matchers, filters, count_range = parse_logql(query)
            start_at, end_at = _time(start, now - timedelta(hours=1)), _time(end, now)
        except ValueError as exc:
            return PlainTextResponse(str(exc), status_code=400)
        with state.lock:
            hits = [(labels, at, line) for labels, at, line in state.streams
                    if start_at <= at <= end_at and _labels_match(labels, matchers) and _line_matches(line, filters)]
        if count_range is not None:
            series: dict[tuple, list[datetime]] = {}
            for labels, at, _ in hits:
                series.setdefault(tuple(sorted(labels.items())), []).append(at)
            step = timedelta(seconds=count_range)
            result = []
            for key, times in series.items():
                points, t = [], start_at
                while t <= end_at:
                    points.append([int(t.timestamp()), str(sum(1 for x in times if t - step < x <= t))])
                    t += step
                result.append({"metric": dict(key), "values": points})
            return {"status": "success", "data": {"resultType": "matrix", "result": result, "stats": {}}}
        hits.sort(key=lambda h: h[1], reverse=direction == "backward")
        hits = hits[:max(1, min(limit, 5000))]
        streams: dict[tuple, list] = {}
        for labels, at, line in hits:
            streams.setdefault(tuple(sorted(labels.items())), []).append(
                [str(int(at.timestamp() * 1_000_000_000)), line])
        result = [{"stream": dict(key), "values": values} for key, values in streams.items()]
        return {"status": "success", "data": {"resultType": "streams", "result": result,
                                              "stats": {"summary": {"totalLinesProcessed": len(hits)}}}}

    @router.post("/_sandbox/loki/push", status_code=201)
    async def push(request: Request):
        """`{"labels": {...}, "lines": [{"line": "...", "at": "<iso>" | "seconds_ago": n}]}`."""
        spec = await request.json()
        labels = {str(k): str(v) for k, v in (spec.get("labels") or {}).items()}
        if not labels:
            return JSONResponse({"detail": "labels are required"}, status_code=422)
        now = datetime.now(timezone.utc)
        added = 0
        with state.lock:
            for item in spec.get("lines") or []:
                at = (datetime.fromisoformat(item["at"]) if item.get("at")
                      else now - timedelta(seconds=float(item.get("seconds_ago", 0))))
                state.streams.append((labels, at, str(item["line"])))
                added += 1
        return {"added": added}

    @router.api_route("/_sandbox/health/{service}", methods=["GET", "HEAD"])
    async def health(service: str):
        with state.lock:
            spec = dict(state.health.get(service) or {})
        if spec.get("latency_ms"):
            await asyncio.sleep(float(spec["latency_ms"]) / 1000)
        status = int(spec.get("status", 200))
        return JSONResponse({"service": service, "status": "ok" if status < 400 else "failing"}, status_code=status)

    @router.post("/_sandbox/health/{service}")
    async def set_health(service: str, request: Request):
        spec = await request.json()
        with state.lock:
            state.health[service] = {"status": int(spec.get("status", 200)),
                                     "latency_ms": float(spec.get("latency_ms", 0))}
        return state.health[service]

    return router
