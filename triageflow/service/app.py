"""The FastAPI app: `GET /health` and `POST /webhooks/glitchtip` (authenticated by a shared secret).

A webhook's request path only checks, stores and acknowledges it (or spools it when the database is
unreachable); the service's worker (`worker.py`) does the rest in the background.
"""

from __future__ import annotations

import contextlib
import hmac

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from sqlalchemy import text
from sqlalchemy.exc import InterfaceError, OperationalError

from models.batch_writer import BatcherClosed
from models.db import engine_for
from tasks.alerts import WebhookError, parse_glitchtip_alert

from ..settings import load_settings, settings
from .delivery_store import close_delivery_writers, delivery_values, delivery_writer_for
from .telemetry import telemetry_router
from .telemetry_sentry import SentryIngestMiddleware
from .alerts import build_alerts_router
from .known_issues import build_known_issues_router
from .limits import BodyRefused, parse_json, read_limited
from .spool import SpoolFull
from .worker import WebhookWorker
from .health import build_health_router


def _problem(status: int, detail) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


class TriageService(FastAPI):
    """The FastAPI app with the Sentry SDK endpoints answered before FastAPI's dispatch (`telemetry_sentry.py`)."""

    sentry_ingest: SentryIngestMiddleware | None = None

    async def __call__(self, scope, receive, send) -> None:
        if self.sentry_ingest is not None:  # it passes what is not a Sentry SDK request on to FastAPI
            await self.sentry_ingest(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_service(*, start_worker: bool | None = None) -> FastAPI:
    """The app; its worker starts with the app (or on the first webhook when the server runs no lifespan),
    unless WEBHOOK_BACKGROUND=external says a `triage webhook-worker` process does that work."""
    from prefect.settings import PREFECT_API_URL

    if start_worker is None:
        start_worker = load_settings().webhook_background == "thread"
    prefect_api_url = PREFECT_API_URL.value()  # read here: the caller's Prefect context, not a worker thread's
    state: dict[str, WebhookWorker] = {}

    def worker() -> WebhookWorker:
        if "worker" not in state:
            state["worker"] = WebhookWorker(load_settings(), prefect_api_url=prefect_api_url)
        return state["worker"].start() if start_worker else state["worker"]

    def stop_worker() -> None:
        if "worker" in state:
            state.pop("worker").stop()

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        if start_worker and load_settings().webhook_secret is not None:
            worker()  # a restart finishes what the last process accepted, without waiting for a webhook
        yield
        await run_in_threadpool(close_delivery_writers)  # what requests were promised is committed first
        await run_in_threadpool(stop_worker)
        await run_in_threadpool(close_telemetry)  # the relay's thread: the outbox keeps what it had not sent

    async def glitchtip_webhook(request: Request):
        s = settings()  # read once per process: 10+ ms a time
        if s.webhook_secret is None:
            return _problem(503, "webhooks are disabled: set WEBHOOK_SECRET")
        provided = request.query_params.get("token") or request.headers.get("x-triage-token") or ""
        if not hmac.compare_digest(provided.encode(), s.webhook_secret.get_secret_value().encode()):
            return _problem(401, "missing or wrong webhook secret (?token=... or X-Triage-Token)")
        try:
            body = parse_json(await read_limited(request, s.webhook_max_bytes, s.webhook_read_timeout),
                              max_depth=s.webhook_max_depth)
            alert = parse_glitchtip_alert(body)
        except BodyRefused as exc:
            return _problem(exc.status, str(exc))
        except WebhookError as exc:
            return _problem(422, {"field": exc.field, "reason": exc.reason})
        work = worker()
        answer = {"issues": alert.issue_ids, "total": alert.total}
        try:
            row = delivery_values("glitchtip", body, alert.issue_ids, alert.total)
            delivery_id = await delivery_writer_for(s.triage_database_url).write(row)  # answered after its COMMIT
        except (OperationalError, InterfaceError) as exc:  # unreachable, not a bad row: keep it on disk
            try:
                spooled = await run_in_threadpool(work.spool.append, "glitchtip", body, alert.issue_ids, alert.total)
            except SpoolFull as full:
                return _problem(503, f"database unreachable ({exc.__class__.__name__}) and {full}: send it again later")
            return JSONResponse({"delivery": None, "spooled": spooled, **answer, "detail":
                                 "database unreachable: kept in the local spool, stored and handled when it is back"},
                                status_code=202)
        except BatcherClosed:
            return _problem(503, "the service is shutting down: send it again")
        if start_worker:
            work.enqueue(delivery_id)
        return JSONResponse({"delivery": delivery_id, **answer}, status_code=202)

    app = TriageService(title="triageflow", version="0.1.0", lifespan=lifespan)
    app.state.worker, app.state.stop_worker = worker, stop_worker
    app.add_api_route("/webhooks/glitchtip", glitchtip_webhook, methods=["POST"], status_code=202,
                      summary="Glitchtip Webhook")  # first: the route a burst hits is matched first
    telemetry, telemetry_ingest, close_telemetry = telemetry_router()
    app.include_router(telemetry)
    app.sentry_ingest = SentryIngestMiddleware(FastAPI.__call__.__get__(app), telemetry_ingest)
    app.include_router(build_alerts_router())
    app.include_router(build_known_issues_router())
    app.include_router(build_health_router())  # issue 14: failed/crashed runs from the Prefect automation

    @app.get("/health")
    def health():
        s = settings()
        checks: dict[str, str] = {}
        try:
            with engine_for(s.triage_database_url).connect() as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            checks["database"] = f"failed: {exc.__class__.__name__}"
        from prefect.settings import PREFECT_API_URL

        api = PREFECT_API_URL.value()
        if api:
            import httpx

            try:
                httpx.get(api.rstrip("/") + "/health", timeout=3).raise_for_status()
                checks["prefect"] = "ok"
            except httpx.HTTPError as exc:
                checks["prefect"] = f"failed: {exc.__class__.__name__}"
        else:
            checks["prefect"] = "not configured (flows run in-process)"
        healthy = all(not v.startswith("failed") for v in checks.values())
        return JSONResponse({"status": "ok" if healthy else "failing", **checks}, status_code=200 if healthy else 503)

    return app
