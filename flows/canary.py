"""glitchtip_canary: is GlitchTip still taking our errors? A tagged test error through the real sentry-sdk to
GLITCHTIP_DSN, found again through the API, checked field by field, timed, and resolved.

The run fails (and so alerts, through the flow health hooks) when the error does not arrive in time or
arrives mangled; every run is kept in `canary_run`.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext

from models.db import session_scope
from models.flow_health import CanaryRun
from tasks.canary import Canary, CanaryError, differences, new_canary
from tasks.flow_health import WATCHED, note_summary
from tasks.glitchtip_actions import change_status
from triageflow.audit import acting_as
from triageflow.clients.errors import Transient
from triageflow.clients.glitchtip import GlitchTip, glitchtip_from_settings
from triageflow.scrub import scrub
from triageflow.settings import load_settings


class CanaryFailed(RuntimeError):
    """The canary error did not arrive in GlitchTip in time, or arrived different from what was sent."""


@task(name="send-canary-error")
def send_canary(dsn: str, canary: Canary, environment: str) -> str:
    """Capture the canary through sentry-sdk on a client of its own (the process's global SDK is untouched)."""
    import sentry_sdk

    client = sentry_sdk.Client(dsn, default_integrations=False, include_local_variables=False,
                               environment=environment, release="triageflow-canary", max_breadcrumbs=0)
    try:
        with sentry_sdk.new_scope() as scope:
            scope.set_client(client)
            for key, value in canary.tags.items():
                scope.set_tag(key, value)
            scope.set_user(canary.user)
            for key, value in canary.extra.items():
                scope.set_extra(key, value)
            try:
                raise CanaryError(canary.message)
            except CanaryError as exc:
                event_id = scope.capture_exception(exc)
        client.flush(timeout=10)
    finally:
        client.close(timeout=2)
    if not event_id:
        raise CanaryFailed("sentry-sdk did not accept the canary event (is GLITCHTIP_DSN a valid DSN?)")
    return event_id


@task(name="wait-for-canary", cache_policy=NO_CACHE)
def wait_for_canary(gt: GlitchTip, canary: Canary, timeout: float, poll: float):
    """Search until the canary's issue shows up; (issue, latest event, seconds waited) or None when late."""
    started = time.monotonic()
    while True:
        try:
            found = next(iter(gt.issues(canary.token, max_pages=1)), None)
            if found is not None:
                return found, gt.latest_event(found.id), time.monotonic() - started
        except Transient:
            pass  # GlitchTip itself flaky: keep polling until the deadline
        if time.monotonic() - started + poll > timeout:
            return None
        time.sleep(poll)


def record_canary(database_url: str, canary: Canary, outcome: str, latency: float | None, issue_id: str | None,
                  detail: str) -> None:
    with session_scope(database_url) as session:
        session.add(CanaryRun(canary_id=canary.token, outcome=outcome, latency_s=latency, issue_id=issue_id,
                              detail=scrub(detail)[:2000]))


@flow(name="glitchtip-canary", log_prints=True, **WATCHED)
def glitchtip_canary(timeout_seconds: float | None = None, poll_seconds: float = 1.0, resolve: bool = True) -> dict:
    """Send a test error to GLITCHTIP_DSN and find it again through the API; fail when late or mangled."""
    s = load_settings()
    if s.glitchtip_dsn is None:  # scheduled on every install: unconfigured is said, not a failure every 6 hours
        get_run_logger().warning("glitchtip-canary not configured: set GLITCHTIP_DSN to a project's DSN")
        note_summary("not configured (GLITCHTIP_DSN is not set)")
        return {"skipped": "GLITCHTIP_DSN is not set"}
    s.require("GLITCHTIP_URL", "GLITCHTIP_TOKEN", "GLITCHTIP_ORG")
    timeout = timeout_seconds or s.canary_timeout_seconds
    ctx = FlowRunContext.get()
    canary = new_canary(str(ctx.flow_run.id) if ctx and ctx.flow_run else None)
    url = s.triage_database_url
    sent = time.monotonic()
    send_canary(s.glitchtip_dsn.get_secret_value(), canary, s.triage_env)
    with glitchtip_from_settings(s) as gt, acting_as("flow:glitchtip-canary"):
        found = wait_for_canary(gt, canary, timeout, poll_seconds)
        if found is None:
            detail = (f"canary {canary.token} did not arrive in GlitchTip within {timeout:g} s: the DSN's ingestion "
                      f"endpoint refused or dropped it, or GlitchTip is not processing events")
            record_canary(url, canary, "late", None, None, detail)
            raise CanaryFailed(detail)
        issue, event, waited = found
        latency = round(time.monotonic() - sent, 3)
        tags = {t.key: t.value for t in event.tags}
        problems = differences(canary, tags, event.user, getattr(event, "context", None), event.title or issue.title)
        if resolve:
            change_status(gt, issue.id, "resolved", dry_run=s.triage_dry_run, database_url=url)
    outcome = "mangled" if problems else "ok"
    record_canary(url, canary, outcome, latency, issue.id, "; ".join(problems) or f"intact, {latency:.2f} s")
    get_run_logger().info("canary %s: issue %s after %.2f s (%s)", canary.token, issue.id, latency, outcome)
    if problems:
        raise CanaryFailed(f"canary {canary.token} arrived as issue {issue.id} but mangled: " + "; ".join(problems))
    note_summary(f"arrived intact in {latency:.2f} s, issue {issue.id} resolved" if resolve else
                 f"arrived intact in {latency:.2f} s")
    return {"canary": canary.token, "issue_id": issue.id, "latency_s": latency, "outcome": outcome,
            "sent_at": datetime.now(timezone.utc).isoformat()}
