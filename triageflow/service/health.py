"""`POST /health/flow-runs`: what the Prefect automation calls when a flow run fails or crashes on the server.

The run is read back from the Prefect API, kept in the flow health history and alerted on — unless its
own hook recorded it first (a run is stored once, so it alerts once).
"""

from __future__ import annotations

import hmac
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ..settings import load_settings


def record_server_state(flow_run_id: UUID) -> dict:
    from prefect.client.orchestration import get_client

    from tasks.flow_health import run_row, save_run
    from tasks.health_alerts import alert_failed_run

    s = load_settings()
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run_id)
        flow_name = client.read_flow(run.flow_id).name
    row = run_row(flow_name, run, run.state)
    if not save_run(s.triage_database_url, row):
        return {"recorded": False, "reason": "already recorded by the run's own hook"}
    decision = alert_failed_run(s, row.flow_name, row.flow_run_id, row.run_name, row.state, row.error) \
        if row.state in ("Failed", "Crashed") else None
    return {"recorded": True, "state": row.state, "alert": decision.kind if decision and decision.send else None}


def build_health_router() -> APIRouter:
    router = APIRouter()

    @router.post("/health/flow-runs")
    async def flow_run_state(request: Request):
        s = load_settings()
        if s.webhook_secret is None:
            return JSONResponse({"detail": "disabled: set WEBHOOK_SECRET"}, status_code=503)
        provided = request.headers.get("x-triage-token") or request.query_params.get("token") or ""
        if not hmac.compare_digest(provided.encode(), s.webhook_secret.get_secret_value().encode()):
            return JSONResponse({"detail": "missing or wrong secret (X-Triage-Token)"}, status_code=401)
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"detail": "body is not JSON"}, status_code=400)
        try:
            flow_run_id = UUID(str((body or {}).get("flow_run_id")))
        except ValueError:
            return JSONResponse({"detail": {"field": "flow_run_id", "reason": "must be a flow run UUID"}},
                                status_code=422)
        return await run_in_threadpool(record_server_state, flow_run_id)

    return router
