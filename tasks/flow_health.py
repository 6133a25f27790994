"""Flow health: the state hooks every triageflow flow carries, and the run history they write.

`@flow(..., **WATCHED)` records each finished run (Completed, Failed or Crashed: hooks run in the flow's
own process, so a crash the engine sees is recorded too) and alerts the team on a failure.
A flow may name its result in one line with `note_summary("3 files, 2 commits")`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from sqlmodel import select

from models.db import session_scope
from models.flow_health import FlowHealth
from triageflow.scrub import scrub

log = logging.getLogger("triageflow.health")
_summaries: dict[str, str] = {}


def note_summary(text: str) -> None:
    """The one-line summary of the running flow, e.g. "3 files, 2 commits" (kept until its hook runs)."""
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    if ctx is not None and ctx.flow_run is not None:
        _summaries[str(ctx.flow_run.id)] = scrub(text)[:500]


def summarize(result: Any) -> str:
    """A line from what the flow returned when it noted none: a dict's "summary", else its sizes."""
    if isinstance(result, dict):
        if isinstance(result.get("summary"), str):
            return result["summary"][:500]
        parts = [f"{len(v)} {k}" for k, v in result.items() if isinstance(v, (list, dict)) and k != "delivery"]
        return ", ".join(parts[:4])[:500]
    if isinstance(result, list):
        return f"{len(result)} items"
    return "" if result is None else scrub(str(result))[:120]


def error_line(state) -> str | None:
    """The exception a failed state holds, as one scrubbed line."""
    from prefect.exceptions import MissingResult

    try:
        state.result(raise_on_failure=True)
    except MissingResult:
        pass  # a state read back from the API holds no result: its message names the error
    except BaseException as exc:  # noqa: BLE001 - the failure itself is what is wanted here
        return scrub(f"{exc.__class__.__name__}: {exc}").splitlines()[0][:2000] if str(exc) else exc.__class__.__name__
    return scrub(state.message or "")[:2000] or None


def _aware(moment):
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def run_row(flow_name: str, flow_run, state) -> FlowHealth:
    """What the history keeps of one finished run."""
    finished = _aware(state.timestamp) or datetime.now(timezone.utc)
    started = _aware(getattr(flow_run, "start_time", None))
    run_id = str(flow_run.id)
    summary = _summaries.pop(run_id, None)
    failed = state.is_failed() or state.is_crashed()
    if summary is None and not failed:
        try:
            summary = summarize(state.result(raise_on_failure=False))
        except Exception:  # noqa: BLE001 - a result not kept in memory: no summary, not a failure
            summary = ""
    return FlowHealth(
        flow_run_id=run_id, flow_name=flow_name, run_name=getattr(flow_run, "name", None),
        deployment_id=str(flow_run.deployment_id) if getattr(flow_run, "deployment_id", None) else None,
        state=state.name if state.name in ("Completed", "Failed", "Crashed", "Cancelled") else state.type.value.title(),
        started_at=started, finished_at=finished,
        duration_s=round((finished - started).total_seconds(), 3) if started else None,
        summary=summary or "", error=error_line(state) if failed else None,
    )


def save_run(database_url: str, row: FlowHealth) -> bool:
    """Store a run once: its hook and the server's automation may both report it; only the first counts."""
    from sqlalchemy.exc import IntegrityError

    try:
        with session_scope(database_url) as session:
            if session.exec(select(FlowHealth.id).where(FlowHealth.flow_run_id == row.flow_run_id)).first():
                return False
            session.add(row)
    except IntegrityError:
        return False  # the hook and the automation raced: the other one stored it (and alerts)
    return True


def record_run(flow, flow_run, state) -> None:
    """The state hook: history first, then the failure alert. Never raises into the flow engine."""
    from triageflow.settings import load_settings

    from .health_alerts import alert_failed_run

    try:
        s = load_settings()
        row = run_row(flow.name, flow_run, state)
        if save_run(s.triage_database_url, row) and row.state in ("Failed", "Crashed"):
            alert_failed_run(s, row.flow_name, row.flow_run_id, row.run_name, row.state, row.error)
    except Exception:  # noqa: BLE001 - a hook failure must not change the run's outcome; it is logged loudly
        log.exception("flow health hook failed for %s run %s", getattr(flow, "name", "?"), getattr(flow_run, "id", "?"))


WATCHED: dict[str, list] = {"on_completion": [record_run], "on_failure": [record_run], "on_crashed": [record_run]}
"""Spread into every `@flow(...)`: each run is kept in the flow health history and a failure alerts."""
