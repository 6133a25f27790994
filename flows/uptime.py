"""uptime_check: each configured URL answers its expected status within its timeout — one alert when it goes
down, one when it comes back (with how long it was down); every check kept in `uptime_probe`."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from html import escape

import httpx
from prefect import flow, get_run_logger, task

from models.db import session_scope
from models.flow_health import UptimeProbe, UptimeState
from tasks.flow_health import WATCHED, note_summary
from tasks.health_alerts import alert
from tasks.uptime import Change, Known, Probe, Target, outage_text, parse_targets, transition
from triageflow.scrub import scrub
from triageflow.settings import load_settings


@task(name="probe-url")
def probe(target: Target) -> Probe:
    started = time.perf_counter()
    try:
        response = httpx.get(target.url, timeout=target.timeout, follow_redirects=False)
    except httpx.TimeoutException:
        return Probe(target.url, False, None, None, f"no answer within {target.timeout:g} s")
    except httpx.HTTPError as exc:
        return Probe(target.url, False, None, None, f"{exc.__class__.__name__}: {exc}"[:500])
    latency = int((time.perf_counter() - started) * 1000)
    ok = response.status_code == target.expect
    return Probe(target.url, ok, response.status_code, latency,
                 None if ok else f"answered {response.status_code}, expected {target.expect}")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def record(database_url: str, p: Probe, change: Change, now: datetime) -> None:
    """The probe and the URL's state, in one transaction, before anyone is told."""
    with session_scope(database_url) as session:
        session.add(UptimeProbe(url=p.url, checked_at=now, up=p.up, status=p.status, latency_ms=p.latency_ms,
                                error=scrub(p.error)[:500] if p.error else None))
        row = session.get(UptimeState, p.url) or UptimeState(url=p.url, up=p.up, since=now, checked_at=now)
        row.up, row.since, row.checked_at = change.state.up, change.state.since, now
        session.add(row)


def known_state(database_url: str, url: str) -> Known | None:
    with session_scope(database_url) as session:
        row = session.get(UptimeState, url)
        return Known(row.up, _aware(row.since)) if row else None


def change_text(p: Probe, change: Change) -> tuple[str, str]:
    if change.kind == "down":
        head, why = f"🔻 DOWN: {p.url}", p.error or "not answering as expected"
    else:
        head, why = f"✅ RECOVERED: {p.url}", f"back up after {outage_text(change.outage.total_seconds())}"
    return f"<b>{escape(head)}</b>\n{escape(scrub(why), quote=False)}", f"{head}\n{scrub(why)}"


@flow(name="uptime-check", log_prints=True, **WATCHED)
def uptime_check(targets: list[dict] | None = None) -> dict:
    """Check each URL (the parameter, else UPTIME_TARGETS); alert on down and on recovery, once each."""
    s = load_settings()
    chosen = [Target(**t) for t in targets] if targets else parse_targets(s.uptime_targets)
    if not chosen:  # the schedule runs on every install: unconfigured is not a failure (it would alert hourly)
        get_run_logger().warning("no URLs to check: pass targets or set UPTIME_TARGETS "
                                 "('URL [status] [timeout]', comma-separated)")
        note_summary("nothing to check (UPTIME_TARGETS is empty)")
        return {}
    url = s.triage_database_url
    results = {}
    for target in chosen:
        p = probe(target)
        now = datetime.now(timezone.utc)
        change = transition(known_state(url, target.url), p, now)
        record(url, p, change, now)
        if change.kind:
            html, plain = change_text(p, change)
            alert(s, change.kind, f"url:{target.url}", html, plain)
        results[target.url] = {"up": p.up, "status": p.status, "latency_ms": p.latency_ms, "error": p.error,
                               "alert": change.kind}
    down = [u for u, r in results.items() if not r["up"]]
    get_run_logger().info("uptime: %d up, %d down %s", len(results) - len(down), len(down), down)
    note_summary(f"{len(results) - len(down)} up, {len(down)} down")
    return results
