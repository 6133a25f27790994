"""The sandbox's seeded GlitchTip data: an org, projects, ~36 issues whose events point into the sample app.

Everything is derived from `ISSUES` and a start time, deterministically, so tests can compute the
numbers they expect from the same specs.
"""

from __future__ import annotations

import hashlib
import random
from functools import lru_cache
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from .sample_repo import SAMPLE_APP

ORG = {"id": 1, "name": "Acme", "slug": "acme"}
PROJECTS = (
    {"id": "1", "slug": "api", "name": "api", "platform": "python"},
    {"id": "2", "slug": "worker", "name": "worker", "platform": "python"},
    {"id": "3", "slug": "web", "name": "web", "platform": "javascript"},
)
TEAM = {"id": "1", "slug": "backend"}
ADMIN = {"id": "1", "email": "admin@example.com"}
SERVERS = {"api": ("api-1", "api-2", "api-3"), "worker": ("worker-1", "worker-2"), "web": ("web-1",)}
DAYS = 14


@dataclass(frozen=True)
class FrameSpec:
    """A frame in the sample app (`needle` finds the line) or in a library (`library=True`)."""

    path: str
    function: str
    needle: str
    library: bool = False
    vars: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class IssueSpec:
    id: int
    project: str
    level: str
    type: str  # "" for a message
    value: str
    frames: tuple[FrameSpec, ...]  # outermost first, innermost last, as GlitchTip stores them
    component: str
    operation: str
    daily: tuple[int, ...]  # events per day; index 0 is the last 24 hours
    status: str = "unresolved"
    release: str = "booking@1.4.2"
    cause: tuple[str, str, tuple[FrameSpec, ...]] | None = None
    comments: tuple[tuple[float, str], ...] = ()
    with_user: bool = False

    @property
    def is_message(self) -> bool:
        return not self.type

    @property
    def title(self) -> str:
        if self.is_message:
            return self.value
        return f"{self.type}: {self.value}" if self.value else self.type


def _f(path: str, function: str, needle: str, **kw) -> FrameSpec:
    return FrameSpec(path, function, needle, **kw)


HANDLER = _f("app/api/handlers.py", "create_booking", "booking_monitor.total_price")
SYNC = _f("scripts/nightly_sync.py", "main", "yclients.sync_bookings(company_id)")
SYNC_LOOP = _f("app/integrations/yclients.py", "sync_bookings", "records = fetch_records(company_id, page)")
FETCH = _f("app/integrations/yclients.py", "fetch_records", "raise RateLimited", vars=(("company_id", "962302"), ("page", "1")))
QUERY = _f("app/database/postgres.py", "query", "conn = connect()", vars=(("sql", "'select * from bookings'"),))
CONNECT = _f("app/database/postgres.py", "connect", "raise ConnectionTimeout", vars=(("attempt", "1"),))
REPORT = _f("app/services/reports.py", "monthly_revenue", "rows = postgres.query(")
REVENUE = _f("app/api/handlers.py", "revenue", "reports.monthly_revenue")
MONITOR = _f("app/services/booking_monitor.py", "process", "notify(booking)")
NOTIFY = _f("app/services/booking_monitor.py", "notify", "whatsapp.send_reminder",
            vars=(("booking", "{'company_id': 962302, 'client': {'phone': '+79001234567'}}"),))
REMIND = _f("app/integrations/whatsapp.py", "send_reminder", "session = load_session(company_id)")
SESSION = _f("app/integrations/whatsapp.py", "load_session", "raise SessionExpired")
TOTAL = _f("app/services/booking_monitor.py", "total_price", "return sum(item", vars=(("items", "[{'price': 10}]"),))
CHARGE = _f("app/integrations/payments.py", "charge", "raise ValueError", vars=(("amount", "4500"),))
REDIS_GET = _f("app/cache/redis_client.py", "get_availability", "return _command")
REDIS_CMD = _f("app/cache/redis_client.py", "_command", "socket.create_connection")
SOCKET = _f("/usr/local/lib/python3.11/socket.py", "create_connection", "raise exceptions[0]", library=True)
HTTPX_SEND = _f("/srv/booking/.venv/lib/python3.11/site-packages/httpx/_transports/default.py", "handle_request",
                "raise mapped_exc(message) from exc", library=True)
PLUGIN = _f("app/api/handlers.py", "load_plugin", "importlib.import_module")
IMPORTLIB = _f("<frozen importlib._bootstrap>", "_find_and_load_unlocked", "", library=True)
UPLOAD = _f("app/storage/uploads.py", "save_upload", "fh.write(data)")
TOKEN = _f("app/auth/tokens.py", "check_token", "raise TokenExpired")
EXPORT = _f("app/services/reports.py", "export_all_bookings", "return [dict(row) for row in rows] * 1000")
POOL = _f("app/database/pool.py", "acquire", "raise PoolExhausted")
CHECKOUT_POOL = _f("app/database/postgres.py", "checkout_for_report", "return _pool.acquire(timeout=0)")
CHECKOUT_TS = _f("web/src/pages/checkout.ts", "renderTotal", "cart.items.reduce")
FETCH_TS = _f("web/src/api/client.ts", "fetchCart", "throw new Error")
NODE_TICKS = _f("node:internal/process/task_queues", "process.processTicksAndRejections", "", library=True)
EXPRESS = _f("/srv/web/node_modules/express/lib/router/layer.js", "Layer.handle", "", library=True)


def _d(*counts: int) -> tuple[int, ...]:
    return tuple(counts) + (0,) * (DAYS - len(counts))


DB_TIMEOUT = "Connection timeout to PostgreSQL at db.internal:5432 (attempt 1, pool=main)"
RESOLVED_DB_NOTE = (
    "Resolved: the pool was exhausted by the nightly report. Raised pool size to 20 and moved the report "
    "to the replica (deploy booking@1.4.1). Runbook: database-connection-timeout."
)

ISSUES: tuple[IssueSpec, ...] = (
    IssueSpec(1, "api", "error", "ConnectionTimeout", DB_TIMEOUT, (REVENUE, REPORT, QUERY, CONNECT), "database", "query",
              _d(42, 30, 12, 4), with_user=True),
    IssueSpec(2, "api", "warning", "SessionExpired", "WhatsApp session expired for company 962302",
              (MONITOR, NOTIFY, REMIND, SESSION), "whatsapp", "send", _d(6, 7, 5, 6, 8, 5, 6, 7, 5, 4, 6, 5, 7, 6)),
    IssueSpec(3, "api", "error", "RateLimited", "YClients API returned 429 Too Many Requests for company 962302 page 1",
              (SYNC, SYNC_LOOP, FETCH), "yclients", "sync", _d(25, 18, 20, 15, 22, 19, 21, 9, 0, 0, 0, 0, 0, 0)),
    IssueSpec(4, "api", "fatal", "ZeroDivisionError", "division by zero", (HANDLER, TOTAL), "billing", "price",
              _d(14, 9), with_user=True),
    IssueSpec(5, "api", "warning", "", "Booking monitor heartbeat missed", (), "monitor", "heartbeat",
              _d(2, 1, 3, 0, 1, 2, 0, 1, 1, 0, 2, 1, 0, 1)),
    IssueSpec(6, "worker", "error", "ConnectionTimeout", DB_TIMEOUT, (SYNC, SYNC_LOOP, QUERY, CONNECT), "database",
              "query", _d(20, 11, 6, 1)),
    IssueSpec(7, "worker", "warning", "SessionExpired", "WhatsApp session expired for company 962302",
              (MONITOR, NOTIFY, REMIND, SESSION), "whatsapp", "send", _d(3, 2, 4, 3, 2, 3, 4, 2, 3, 2, 3, 2, 2, 3)),
    IssueSpec(8, "worker", "error", "RateLimited",
              "YClients API returned 429 Too Many Requests for company 962302 page 1", (SYNC, SYNC_LOOP, FETCH),
              "yclients", "sync", _d(31, 24, 26, 17, 19, 22, 25, 11)),
    IssueSpec(9, "worker", "fatal", "ZeroDivisionError", "division by zero", (HANDLER, TOTAL), "billing", "price",
              _d(8, 5), with_user=True),
    IssueSpec(10, "worker", "warning", "", "Booking monitor heartbeat missed", (), "monitor", "heartbeat",
              _d(1, 0, 2, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0)),
    IssueSpec(11, "api", "error", "ValueError", "Payment gateway rejected card 4111-1111-1111-1111: insufficient funds",
              (_f("app/api/handlers.py", "create_booking", "booking_id = request"), CHARGE), "payments", "charge",
              _d(3, 2, 1, 2, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0), with_user=True),
    IssueSpec(12, "api", "error", "RuntimeError", "Booking sync aborted after database failure", (SYNC, SYNC_LOOP),
              "database", "sync", _d(5, 3, 1),
              cause=("ConnectionTimeout", DB_TIMEOUT, (SYNC_LOOP, QUERY, CONNECT))),
    IssueSpec(13, "api", "warning", "", "Ошибка отправки напоминания клиенту: сессия WhatsApp недействительна", (),
              "whatsapp", "send", _d(2, 1, 1, 0, 1)),
    IssueSpec(14, "api", "error", "ConnectionRefusedError", "[Errno 111] Connection refused",
              (_f("app/api/handlers.py", "revenue", "reports.monthly_revenue"), REDIS_GET, REDIS_CMD, SOCKET), "cache",
              "availability", _d(12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
    IssueSpec(15, "worker", "error", "ReadTimeout", "timed out", (SYNC, SYNC_LOOP,
              _f("app/integrations/yclients.py", "fetch_records", "response = httpx.get("), HTTPX_SEND),
              "yclients", "sync", _d(7, 4, 3, 5, 2, 0, 1)),
    IssueSpec(16, "api", "error", "ModuleNotFoundError", "No module named 'app.plugins.loyalty'", (PLUGIN, IMPORTLIB),
              "plugins", "load", _d(4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
    IssueSpec(17, "worker", "fatal", "MemoryError", "", (_f("app/services/reports.py", "export_all_bookings",
              "return [dict(row) for row in rows] * 1000"),), "reports", "export", _d(3, 2, 4, 1, 0, 0)),
    IssueSpec(18, "api", "error", "OSError", "[Errno 28] No space left on device: '/var/lib/booking/uploads/contract.pdf'",
              (_f("app/api/handlers.py", "create_booking", "booking_id = request"), UPLOAD), "storage", "upload",
              _d(9, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
    IssueSpec(19, "api", "error", "TokenExpired", "Access token expired at 1763800000 for partner partner-17",
              (_f("app/api/handlers.py", "revenue", "reports.monthly_revenue"), TOKEN), "auth", "verify",
              _d(5, 6, 4, 5, 3, 4, 6, 5, 4, 3)),
    IssueSpec(20, "worker", "error", "PoolExhausted",
              "QueuePool limit of size 10 overflow 0 reached, connection timed out, timeout 0", (REPORT, CHECKOUT_POOL, POOL),
              "database", "pool", _d(6, 8, 2)),
    IssueSpec(21, "web", "error", "Error", "Request failed with status 502", (FETCH_TS,), "checkout", "fetch",
              _d(11, 4, 2, 0, 0, 1)),
    IssueSpec(22, "api", "error", "KeyError", "'booking_id'",
              (_f("app/api/handlers.py", "create_booking", "booking_id = request"),), "bookings", "create",
              _d(2, 3, 1, 2, 1, 0, 2, 1, 1, 0, 1, 2, 1, 1)),
    # resolved history: what "similar resolved issues" and runbooks draw on
    IssueSpec(23, "api", "error", "ConnectionTimeout",
              "Connection timeout to PostgreSQL at db.internal:5432 (attempt 3, pool=reports)", (REPORT, QUERY, CONNECT),
              "database", "query", _d(0, 0, 0, 0, 0, 0, 0, 0, 14, 22, 9), status="resolved", release="booking@1.4.0",
              comments=((5.5, RESOLVED_DB_NOTE),)),
    IssueSpec(24, "worker", "error", "RateLimited",
              "YClients API returned 429 Too Many Requests for company 962310 page 4", (SYNC, SYNC_LOOP, FETCH),
              "yclients", "sync", _d(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 30, 8), status="resolved", release="booking@1.3.9",
              comments=((9.5, "Resolved: YClients allows 5 requests/s per company. Added a token-bucket limiter and "
                               "backoff on 429 in fetch_records (PR #212)."),)),
    IssueSpec(25, "api", "warning", "SessionExpired", "WhatsApp session expired for company 962310",
              (MONITOR, NOTIFY, REMIND, SESSION), "whatsapp", "send", _d(0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 5, 2),
              status="resolved", release="booking@1.3.9",
              comments=((8.2, "Resolved: re-linked the WhatsApp business account in the gateway console; sessions "
                               "last 14 days, renewal reminder added to the on-call calendar."),)),
    IssueSpec(26, "api", "fatal", "ZeroDivisionError", "float division by zero",
              (_f("app/api/handlers.py", "create_booking", "booking_id = request"), TOTAL), "billing", "price",
              _d(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6, 3), status="resolved", release="booking@1.3.8",
              comments=((11.0, "Resolved: empty carts reached total_price; the handler now rejects them with 400 "
                                "before pricing (PR #198)."),)),
    IssueSpec(27, "worker", "error", "OSError", "[Errno 28] No space left on device: '/var/log/booking/worker.log'",
              (UPLOAD,), "storage", "logs", _d(0, 0, 0, 0, 0, 0, 0, 4, 7), status="resolved", release="booking@1.4.0",
              comments=((6.5, "Resolved: logrotate was not installed on worker-2. Added it and a disk usage alert at 80%."),)),
    IssueSpec(28, "api", "error", "ConnectionRefusedError", "[Errno 111] Connection refused",
              (REDIS_GET, REDIS_CMD, SOCKET), "cache", "availability", _d(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 9),
              status="resolved", release="booking@1.3.7",
              comments=((12.5, "Resolved: Redis was OOM-killed after maxmemory was unset. Restored maxmemory 2gb with "
                                "allkeys-lru and restarted it."),)),
    # ignored noise
    IssueSpec(29, "web", "warning", "", "ResizeObserver loop completed with undelivered notifications", (), "checkout",
              "render", _d(15, 12, 14, 13, 11, 16, 12, 10, 14, 13, 12, 15, 11, 12), status="ignored"),
    IssueSpec(30, "api", "warning", "", "Slow query: bookings by company took 2.4 s", (), "database", "query",
              _d(4, 5, 3, 6, 4, 5, 4, 3, 5, 4, 6, 5, 4, 3), status="ignored"),
    # a regression: resolved a week ago, back today
    IssueSpec(31, "worker", "error", "ReadTimeout", "The read operation timed out",
              (_f("app/integrations/payments.py", "refund", "response = httpx.post(f\"{GATEWAY_URL}/refunds\""), HTTPX_SEND),
              "payments", "refund", _d(6, 0, 0, 0, 0, 0, 0, 0, 5, 7, 3), release="booking@1.4.2",
              comments=((6.8, "Resolved: the gateway had an incident (status page), no change on our side."),)),
    IssueSpec(32, "api", "error", "TimeoutError", "Gateway did not answer within 5.0 s",
              (_f("app/integrations/payments.py", "charge", "response = httpx.post("), HTTPX_SEND), "payments", "charge",
              _d(2, 1, 0, 1, 0, 2)),
    IssueSpec(33, "web", "error", "TypeError", "Failed to fetch", (FETCH_TS,), "checkout", "fetch", _d(5, 6, 4, 7, 5)),
    IssueSpec(34, "worker", "warning", "", "Nightly sync finished with 3 skipped companies", (), "yclients", "sync",
              _d(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)),
    IssueSpec(35, "api", "error", "KeyError", "'price'", (HANDLER, TOTAL), "billing", "price", _d(0, 2, 1)),
    IssueSpec(36, "web", "error", "TemplateError", "unexpected '<' in <b>{{ total }}</b> & tax_*rate*",
              (CHECKOUT_TS,), "templates", "render", _d(16, 2)),
    IssueSpec(113, "web", "error", "TypeError", "Cannot read properties of undefined (reading 'price')",
              (NODE_TICKS, EXPRESS, CHECKOUT_TS), "checkout", "render", _d(17, 9, 0, 0)),
)

ISSUE_BY_ID = {spec.id: spec for spec in ISSUES}
PROJECT_BY_SLUG = {p["slug"]: p for p in PROJECTS}


def fmt_time(moment: datetime) -> str:
    """GlitchTip's timestamps: microseconds and a `Z`."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_id(issue_id: int, n: int) -> str:
    return hashlib.md5(f"triageflow-sandbox:{issue_id}:{n}".encode()).hexdigest()


@dataclass(frozen=True)
class SeedEvent:
    id: str
    issue_id: int
    at: datetime
    server: str
    user_id: str | None


def event_times(spec: IssueSpec, now: datetime) -> list[datetime]:
    """When each event of an issue happened: `daily[d]` events spread over the d-th 24 h before `now`."""
    rng = random.Random(spec.id * 7919)
    times: list[datetime] = []
    for day, count in enumerate(spec.daily):
        for _ in range(count):
            # keep 5 minutes clear of the window's edges so a test's clock drift cannot move an event
            offset = 300 + rng.random() * (86400 - 600)
            times.append(now - timedelta(days=day, seconds=offset))
    return sorted(times)


def seed_events(spec: IssueSpec, now: datetime) -> list[SeedEvent]:
    servers = SERVERS[spec.project]
    rng = random.Random(spec.id * 104729)
    out = []
    for n, at in enumerate(event_times(spec, now)):
        user = str(rng.randint(1, 60)) if spec.with_user else None
        out.append(SeedEvent(event_id(spec.id, n), spec.id, at, servers[n % len(servers)], user))
    return out


@dataclass
class SourceLine:
    line_no: int
    text: str
    context: list[tuple[int, str]] = field(default_factory=list)


@lru_cache(maxsize=None)
def locate(frame: FrameSpec) -> SourceLine:
    """The line of the sample app a frame points at, with five lines of context each side."""
    if frame.library:
        return SourceLine(line_no=_library_line(frame), text=frame.needle)
    lines = (SAMPLE_APP / frame.path).read_text().splitlines()
    for i, line in enumerate(lines):
        if frame.needle in line:
            lo, hi = max(0, i - 5), min(len(lines), i + 6)
            return SourceLine(i + 1, line, [(j + 1, lines[j]) for j in range(lo, hi)])
    raise ValueError(f"sandbox seed: {frame.needle!r} not found in {frame.path}")


def _library_line(frame: FrameSpec) -> int:
    return 800 + int(hashlib.md5(frame.path.encode()).hexdigest()[:4], 16) % 400
