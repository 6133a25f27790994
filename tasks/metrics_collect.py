"""The report's inputs from GlitchTip at the cost of the day's news: changed issues, then only the calls
the count plan asks for (events where they are cheap or needed, one tag summary per issue never seen).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import update

from models.audit import utcnow
from models.db import session_scope
from models.issue_state import IssueState, PassMark
from models.payloads import Issue
from triageflow.clients.glitchtip import GlitchTip

from .issue_state import load_mark, refresh, states, update_states
from .metrics import Window, events_frame
from .metrics_counts import (
    EVENTS_PER_PAGE,
    CountPlan,
    combine,
    count_from_stats,
    counted_frame,
    estimate_notes,
    limit_mix_reads,
    mix_from_events,
    mix_from_tags,
    plan_counts,
    stats_period_for,
)

PASS = "metrics"
MIX_BUDGET = 100  # tag reads (one call each) for the component and service mix of issues never mixed before
REPORT_PASS = "metrics:report"
log = logging.getLogger(__name__)


@dataclass
class Collected:
    frame: pd.DataFrame
    meta: dict[str, dict[str, Any]]
    plan: CountPlan
    backfilled: bool
    notes: list[str] = field(default_factory=list)
    listed: int = 0
    finished_at: datetime | None = None


def issue_events(gt: GlitchTip, state: IssueState, since: datetime) -> list[dict[str, Any]]:
    """The issue's events from `since` on, newest first, as report rows."""
    rows = []
    for event in gt.events(state.issue_id):
        if event.date_created < since:
            break
        tags = {t.key: t.value for t in event.tags}
        rows.append({"issue_id": state.issue_id, "at": event.date_created,
                     "component": tags.get("component") or state.project,
                     "service": tags.get("server_name") or tags.get("service") or "unknown",
                     "level": state.level, "project": state.project})
    return rows


def collect(gt: GlitchTip, database_url: str, window: Window, lookback_start: datetime, *, event_budget: int = 200,
            mix_budget: int | None = MIX_BUDGET, snapshot: bool = True, workers: int = 4,
            progress: Callable[[str, int, int], None] | None = None) -> Collected:
    """Refresh the changed issues, plan each active issue's count, make only the planned calls.

    The first pass reads the mix of every issue it counts (it learns the server once); later passes read
    at most `mix_budget` tag summaries, for the issues with the most events first."""
    say = progress or (lambda what, done, total: None)
    changed = refresh(gt, database_url, PASS, None, stop_before=lookback_start,
                      progress=lambda n: say("issues changed since the last pass", n, 0))
    first_pass = changed.previous_mark is None
    seen = states(database_url, seen_since=lookback_start if first_pass else window.start)
    total_events = sum(s.count for s in seen.values())
    backfill = first_pass and total_events <= event_budget * EVENTS_PER_PAGE
    if backfill:  # the first pass on a small server: every event of the lookback, exactly as before
        plan = CountPlan(source={i: "events" for i in seen}, read_events=sorted(seen))
        since = lookback_start
    else:
        active = [s for s in seen.values() if s.last_seen >= window.start]
        period = stats_period_for(window, utcnow()) if gt.supports_issues_stats else None
        plan = plan_counts(active, window, stats_period=period, event_budget=event_budget)
        since = window.start
        if plan.read_stats:  # up to 100 issues a call
            stats = gt.issues_stats(plan.read_stats, period)
            for issue_id in plan.read_stats:
                plan.counts[issue_id] = count_from_stats(stats.get(issue_id), period, window)
            say("issue stats", len(plan.read_stats), len(plan.read_stats))
        limit_mix_reads(plan, None if first_pass else mix_budget)
    rows: list[dict[str, Any]] = []
    mixes: dict[str, dict] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        done = 0
        for issue_id, got in zip(plan.read_events, pool.map(lambda i: issue_events(gt, seen[i], since), plan.read_events)):
            rows += got
            done += 1
            say("events of active issues", done, len(plan.read_events))
            if got and (seen[issue_id].first_seen >= since or not seen[issue_id].components):
                components, services, n = mix_from_events(got)
                mixes[issue_id] = {"components": components, "services": services, "mix_events": n}
        done = 0
        for issue_id, tags in zip(plan.read_mix, pool.map(gt.tags, plan.read_mix)):
            components, services, n = mix_from_tags(tags, seen[issue_id].project)
            mixes[issue_id] = {"components": components, "services": services, "mix_events": n}
            seen[issue_id].components, seen[issue_id].services = components, services
            done += 1
            say("tags of issues seen for the first time", done, len(plan.read_mix))
    update_states(database_url, mixes)
    finished = utcnow()
    if snapshot:
        remember_report_counts(database_url, finished)
    frame = combine([events_frame(rows), counted_frame(plan.counts, seen, window)])
    meta = {i: {"title": s.title, "level": s.level, "first_seen": s.first_seen, "status": s.status,
                "component": _main(s, mixes.get(i))} for i, s in seen.items()}
    for issue in changed.issues:
        if issue.id not in meta:  # listed but not stored as seen in the window (scrubbing thousands costs seconds)
            meta[issue.id] = _meta_of(issue)
    log.info("report counts: %d issues changed since the last pass; %s", len(changed.issues),
             {src: len(plan.by_source(src)) for src in ("new", "delta", "stats", "events", "estimate")})
    return Collected(frame, meta, plan, backfill, estimate_notes(plan, window), len(changed.issues), finished)


def _main(s: IssueState, mix: dict | None) -> str:
    components = (mix or {}).get("components") or s.components or {s.project: 1}
    return max(sorted(components), key=components.get)


def _meta_of(issue: Issue) -> dict[str, Any]:
    from triageflow.scrub import scrub

    return {"title": scrub(issue.title), "level": issue.level, "first_seen": issue.first_seen, "status": issue.status,
            "component": issue.project.slug}


def remember_report_counts(database_url: str, at: datetime) -> None:
    """Every stored issue's count as of now (unlisted ones did not change): tomorrow's deltas start here."""
    with session_scope(database_url) as session:
        session.exec(update(IssueState).values(report_count=IssueState.count, report_last_seen=IssueState.last_seen,
                                               report_counted_at=at))
        mark = session.get(PassMark, REPORT_PASS) or PassMark(name=REPORT_PASS, high_water=at, finished_at=at)
        mark.high_water = mark.finished_at = at
        session.add(mark)


def previous_report_at(database_url: str) -> datetime | None:
    mark = load_mark(database_url, REPORT_PASS)
    return mark.finished_at if mark else None
