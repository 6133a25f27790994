"""A spike on a seeded sandbox issue (`POST /_sandbox/glitchtip/issues/{id}/events`), for the escalation pass."""

from __future__ import annotations

from datetime import datetime, timezone

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from . import seed
from .seed import SeedEvent


def build_spike_router(sandbox) -> APIRouter:
    router = APIRouter()

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
