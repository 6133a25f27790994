"""The FastAPI app: `GET /health` and `POST /webhooks/glitchtip` (authenticated by a shared secret)."""

from __future__ import annotations

import hmac
import json

from fastapi import BackgroundTasks, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from sqlalchemy import text

from models.db import engine_for
from tasks.alerts import WebhookError, parse_glitchtip_alert

from ..settings import load_settings
from .alerting import process_delivery, store_delivery
from .health import build_health_router


def _problem(status: int, detail) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


async def _read_limited(request: Request, limit: int) -> bytes | None:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def create_service() -> FastAPI:
    app = FastAPI(title="triageflow", version="0.1.0")
    app.include_router(build_health_router())  # issue 14: failed/crashed runs from the Prefect automation

    @app.get("/health")
    def health():
        s = load_settings()
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

    @app.post("/webhooks/glitchtip", status_code=202)
    async def glitchtip_webhook(request: Request, background: BackgroundTasks):
        s = load_settings()
        if s.webhook_secret is None:
            return _problem(503, "webhooks are disabled: set WEBHOOK_SECRET")
        provided = request.query_params.get("token") or request.headers.get("x-triage-token") or ""
        if not hmac.compare_digest(provided.encode(), s.webhook_secret.get_secret_value().encode()):
            return _problem(401, "missing or wrong webhook secret (?token=... or X-Triage-Token)")
        raw = await _read_limited(request, s.webhook_max_bytes)
        if raw is None:
            return _problem(413, f"body larger than {s.webhook_max_bytes} bytes")
        try:
            body = json.loads(raw)
        except ValueError as exc:
            return _problem(400, f"body is not JSON: {exc}")
        try:
            alert = parse_glitchtip_alert(body)
        except WebhookError as exc:
            return _problem(422, {"field": exc.field, "reason": exc.reason})
        delivery_id = await run_in_threadpool(store_delivery, s.triage_database_url, "glitchtip", body,
                                              alert.issue_ids, alert.total)
        background.add_task(process_delivery, delivery_id, s)
        return {"delivery": delivery_id, "issues": alert.issue_ids, "total": alert.total}

    return app
