"""ASGI middleware that reports a Starlette/FastAPI app's 5xx answers and unhandled exceptions to triageflow's
`/api/telemetry/error`, with the request's correlation id (kept from `x-correlation-id` or made, and echoed).

    app = ErrorCapture(app, endpoint="https://triage.example", project_id="booking-api", release="1.4.2")

Reports leave from a background thread through a bounded queue: the app never waits for triageflow,
and when triageflow is slow or down reports are dropped (counted in `dropped`), never the app's answers.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import traceback
import uuid
from typing import Any

import httpx

log = logging.getLogger(__name__)
CORRELATION_HEADER = b"x-correlation-id"
_CORRELATION = re.compile(r"^[\w.:/+=-]{1,128}$", re.ASCII)


def correlation_id_or_new(given: str) -> str:
    """The caller's correlation id when it is a sane ASCII token (it goes into headers and logs); otherwise a new
    one. The service and this middleware keep the same ids, so the id an app echoed is the one stored."""
    given = given.strip()
    return given if _CORRELATION.match(given) else uuid.uuid4().hex


class ReportSender:
    """Posts reports one by one from a daemon thread."""

    def __init__(self, endpoint: str, *, timeout: float = 5.0, max_queued: int = 1000) -> None:
        self.url = endpoint.rstrip("/") + "/api/telemetry/error"
        self._queue: queue.Queue[tuple[dict[str, Any], str] | None] = queue.Queue(max_queued)
        self._http = httpx.Client(timeout=timeout)
        self.sent = self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="telemetry-capture", daemon=True)
        self._thread.start()

    def submit(self, report: dict[str, Any], correlation_id: str) -> None:
        try:
            self._queue.put_nowait((report, correlation_id))
        except queue.Full:
            self.dropped += 1

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            report, correlation_id = item
            try:
                self._http.post(self.url, json=report, headers={"x-correlation-id": correlation_id})
                self.sent += 1
            except Exception as exc:  # noqa: BLE001 - one report lost, never the thread that sends the rest
                self.dropped += 1
                log.warning("telemetry report not sent (%s); %d dropped so far", exc.__class__.__name__, self.dropped)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(10)
        self._http.close()


class ErrorCapture:
    """Wraps an ASGI app; see the module docstring."""

    def __init__(self, app, *, endpoint: str | None = None, sender: ReportSender | None = None,
                 project_id: str = "service", release: str | None = None, environment: str | None = None) -> None:
        if sender is None and endpoint is None:
            raise ValueError("ErrorCapture needs the triageflow endpoint (or a ReportSender)")
        self.app = app
        self.sender = sender or ReportSender(endpoint)
        self.project_id, self.release, self.environment = project_id, release, environment

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        correlation_id = correlation_id_or_new(headers.get(CORRELATION_HEADER, b"").decode("latin-1"))
        status: dict[str, int] = {}

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message = dict(message, headers=[*message.get("headers", []),
                                                 (CORRELATION_HEADER, correlation_id.encode())])
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            self._report(scope, correlation_id, type(exc).__name__, str(exc) or type(exc).__name__,
                         "".join(traceback.format_exception(exc)))
            raise
        if status.get("code", 200) >= 500:
            self._report(scope, correlation_id, "HTTPError",
                         f"HTTP {status['code']} from {scope['method']} {scope['path']}", None)

    def _report(self, scope, correlation_id: str, type_: str, message: str, stack: str | None) -> None:
        host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
        url = f"{scope.get('scheme', 'http')}://{host}{scope['path']}" if host else scope["path"]
        self.sender.submit({"eventId": uuid.uuid4().hex, "type": type_, "message": message[:4000], "stack": stack,
                            "url": url, "projectId": self.project_id, "release": self.release,
                            "environment": self.environment, "level": "error",
                            "tags": {"source": "asgi", "method": scope["method"]}}, correlation_id)
