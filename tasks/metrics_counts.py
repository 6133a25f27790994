"""Where each issue's count for a report window comes from: the cheapest source that is exact.

In order: an issue first seen inside the window counts its whole `count`; an issue whose count was
stored by the previous report at or after the window's start, with no event between its last-seen
then and the start, counts the change since (count deltas); the server's hourly issue stats when it
has them and the window falls on whole hours; the events themselves while a budget of calls allows.
Anything left is estimated from its count spread over its lifetime, and the report says so.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from models.issue_state import IssueState

from .metrics import EVENT_COLUMNS, Window

EVENTS_PER_PAGE = 100
QUIET_BEFORE_REGRESSION = timedelta(days=3)


@dataclass
class CountPlan:
    """Per issue: how its window count is known (`counts`, by source) or which calls still need to be made."""

    counts: dict[str, int] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)  # issue id -> new, delta, stats, events, estimate
    read_events: list[str] = field(default_factory=list)
    read_stats: list[str] = field(default_factory=list)
    read_mix: list[str] = field(default_factory=list)
    unmixed: list[str] = field(default_factory=list)  # over the mix budget: counted under their project
    back_after_quiet: set[str] = field(default_factory=set)

    def by_source(self, name: str) -> list[str]:
        return [i for i, s in self.source.items() if s == name]


def stats_period_for(window: Window, now: datetime) -> str | None:
    """The issues-stats period that counts this window exactly, if any: the server's own last 24 hours
    for the rolling daily window, or the daily buckets of its last 14 days for whole UTC days."""
    if window.end - window.start == timedelta(hours=24) and abs(now - window.end) <= timedelta(minutes=5):
        return "24h"
    midnight = window.start == window.start.replace(hour=0, minute=0, second=0, microsecond=0)
    whole_days = (window.end - window.start) % timedelta(days=1) == timedelta(0)
    oldest_whole_day = (now - timedelta(days=14)).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    if midnight and whole_days and window.start >= oldest_whole_day and window.end <= now + timedelta(minutes=5):
        return "14d"
    return None


def count_from_stats(stats, period: str, window: Window) -> int:
    """An issue's window count from its issues-stats buckets (absent: no events)."""
    if stats is None:
        return 0
    if period == "24h":
        return stats.events_in("24h")
    return sum(n for start, n in stats.buckets(period) if window.start <= start < window.end)


def plan_counts(active: Iterable[IssueState], window: Window, *, stats_period: str | None = None,
                event_budget: int = 200, events_since: datetime | None = None) -> CountPlan:
    """Decide, for each issue last seen since the window's start, where its count comes from.

    `stats_period`: the issues-stats period that counts this window exactly (None: the server has none).
    `event_budget` is how many event pages may be read; issues needing the fewest pages get them first.
    `events_since` (default: the window's start) is how far back events would be read.
    """
    plan = CountPlan()
    active = list(active)
    since = events_since or window.start
    undecided: list[IssueState] = []
    for s in active:
        ends_inside = s.last_seen < window.end
        if s.first_seen >= window.start and ends_inside:
            plan.counts[s.issue_id], plan.source[s.issue_id] = s.count, "new"
        elif ends_inside and _delta_holds(s, window):
            plan.counts[s.issue_id], plan.source[s.issue_id] = s.count - s.report_count, "delta"
            if window.start - s.report_last_seen >= QUIET_BEFORE_REGRESSION:
                plan.back_after_quiet.add(s.issue_id)
        elif stats_period is not None:
            plan.source[s.issue_id] = "stats"
            plan.read_stats.append(s.issue_id)
        else:
            undecided.append(s)
    pages_left = event_budget
    for s in sorted(undecided, key=lambda s: (s.count, s.issue_id)):
        pages = max(math.ceil(_events_upper_bound(s, since) / EVENTS_PER_PAGE), 1)
        if pages <= pages_left:
            pages_left -= pages
            plan.source[s.issue_id] = "events"
            plan.read_events.append(s.issue_id)
        else:
            plan.counts[s.issue_id], plan.source[s.issue_id] = _estimate(s, window), "estimate"
    mixed = {s.issue_id for s in active if s.components}
    plan.read_mix = sorted(i for i, src in plan.source.items() if src != "events" and i not in mixed)
    return plan


def limit_mix_reads(plan: CountPlan, budget: int | None) -> None:
    """Keep the tag reads (one call each) within `budget`, for the issues with the most events in the
    window first; the others are counted under their project and the report says so. None: no limit."""
    wanted = [i for i in plan.read_mix if plan.counts.get(i, 1) > 0]  # no event in the window: no mix needed
    wanted.sort(key=lambda i: (-plan.counts.get(i, 0), i))
    keep = wanted if budget is None else wanted[:max(budget, 0)]
    plan.read_mix, plan.unmixed = sorted(keep), sorted(wanted[len(keep):])


def _delta_holds(s: IssueState, window: Window) -> bool:
    """The stored count is the count at the window's start: taken after it, with no event in between."""
    return (s.report_count is not None and s.report_last_seen is not None and s.report_counted_at is not None
            and s.report_last_seen <= window.start <= s.report_counted_at and s.count >= s.report_count)


def _events_upper_bound(s: IssueState, since: datetime) -> int:
    if s.report_count is not None and s.report_counted_at is not None and s.report_counted_at <= since:
        return max(s.count - s.report_count, 0) + 1
    return s.count


def _estimate(s: IssueState, window: Window) -> int:
    """The count spread evenly over the issue's lifetime, the part inside the window (at least one)."""
    life = (s.last_seen - s.first_seen).total_seconds()
    if life <= 0:
        return s.count
    lo, hi = max(s.first_seen, window.start), min(s.last_seen, window.end)
    return max(round(s.count * max((hi - lo).total_seconds(), 0) / life), 1)


def mix_from_tags(tags: list, project: str) -> tuple[dict[str, int], dict[str, int], int]:
    """Component and service mix from an issue's tag summaries (component falls back to the project)."""
    by_key = {t.key: t for t in tags}
    total = max((t.total_values for t in tags), default=0)
    components = {v.value: v.count for v in by_key["component"].top_values} if "component" in by_key else {project: total}
    service_tag = by_key.get("server_name") or by_key.get("service")
    services = {v.value: v.count for v in service_tag.top_values} if service_tag else {"unknown": total}
    return components, services, total


def mix_from_events(rows: list[dict]) -> tuple[dict[str, int], dict[str, int], int]:
    components: dict[str, int] = {}
    services: dict[str, int] = {}
    for r in rows:
        components[r["component"]] = components.get(r["component"], 0) + 1
        services[r["service"]] = services.get(r["service"], 0) + 1
    return components, services, len(rows)


def split(total: int, weights: dict[str, int]) -> dict[str, int]:
    """`total` shared out in proportion to `weights`, whole numbers that add up (largest remainder)."""
    if total <= 0:
        return {}
    if not weights or sum(weights.values()) <= 0:
        return {"unknown": total}
    whole = sum(weights.values())
    exact = {k: total * w / whole for k, w in weights.items()}
    out = {k: int(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: (-(exact[k] - out[k]), k))[:total - sum(out.values())]:
        out[k] += 1
    return {k: v for k, v in out.items() if v}


def counted_frame(counts: dict[str, int], states: dict[str, IssueState], window: Window) -> pd.DataFrame:
    """Event-shaped rows for issues counted without reading their events: one row per event, all at the
    window's start, split over the issue's component and service mix (built with numpy, not dicts)."""
    issue, comp, serv, level, project, reps = [], [], [], [], [], []
    for issue_id, n in counts.items():
        if n <= 0:
            continue
        s = states[issue_id]
        components = split(n, s.components or {s.project: 1})
        for component, k in components.items():
            for service, m in split(k, s.services or {"unknown": 1}).items():
                issue.append(issue_id), comp.append(component), serv.append(service)
                level.append(s.level), project.append(s.project), reps.append(m)
    reps_arr = np.asarray(reps, dtype=np.int64)
    start = pd.Timestamp(window.start).tz_convert("UTC").tz_localize(None).to_datetime64()
    frame = pd.DataFrame({
        "issue_id": _repeat(issue, reps_arr), "at": np.full(int(reps_arr.sum()), start),
        "component": _repeat(comp, reps_arr), "service": _repeat(serv, reps_arr), "level": _repeat(level, reps_arr),
        "project": _repeat(project, reps_arr)}, columns=EVENT_COLUMNS)
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    return frame


def _repeat(values: list[str], reps: np.ndarray) -> pd.Categorical:
    labels, codes = np.unique(np.asarray(values, dtype=object).astype(str), return_inverse=True) if values else \
        (np.array([], dtype=object), np.array([], dtype=np.int64))
    return pd.Categorical.from_codes(np.repeat(codes, reps), categories=list(labels))


def combine(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Event frames one after the other, categorical columns kept categorical (no object copies)."""
    frames = [f for f in frames if len(f)] or frames[:1]
    if len(frames) == 1:
        return frames[0]
    out = {"at": pd.concat([f["at"] for f in frames], ignore_index=True)}
    for column in EVENT_COLUMNS:
        if column != "at":
            out[column] = pd.api.types.union_categoricals([pd.Categorical(f[column]) for f in frames])
    return pd.DataFrame(out, columns=EVENT_COLUMNS)


def estimate_notes(plan: CountPlan, window: Window) -> list[str]:
    """The report's lines on how its figures were obtained, where any of them is not an exact count."""
    notes = []
    estimated = plan.by_source("estimate")
    if estimated:
        total = sum(plan.counts[i] for i in estimated)
        notes.append(f"Estimated, not counted: {total} events of {len(estimated)} issues (their count spread over "
                     f"their lifetime; no earlier snapshot and too many events to read).")
    if plan.unmixed:
        events = sum(plan.counts.get(i, 0) for i in plan.unmixed)
        notes.append(f"Component and service estimated, not read: {events} events of {len(plan.unmixed)} issues "
                     f"whose tags were never read are counted under their project (the tag reads went to the "
                     f"issues with the most events).")
    return notes
