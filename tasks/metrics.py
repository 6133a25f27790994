"""The morning report's numbers, from a frame of events: pure pandas, no servers.

Event rows have: issue_id, at (UTC), component, service, level, project.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

EVENT_COLUMNS = ["issue_id", "at", "component", "service", "level", "project"]
LEVEL_ORDER = ["fatal", "error", "warning", "info", "debug"]


@dataclass(frozen=True)
class Thresholds:
    """Priority per component: P1 at `p1` events (or any fatal), P2 at `p2`; rising at `rise_factor` x."""

    p1: int = 50
    p2: int = 10
    rise_factor: float = 2.0
    rise_minimum: int = 5


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    day: date  # the history key of this report
    period: str = "daily"

    @property
    def previous(self) -> "Window":
        span = self.end - self.start
        return Window(self.start - span, self.start, self.day - timedelta(days=span.days or 1), self.period)


def window_for(day: date | None, hours: int, now: datetime, period: str = "daily") -> Window:
    """`day` given: the `hours` up to the end of that UTC day. Otherwise: the `hours` up to now."""
    if hours <= 0:
        raise ValueError(f"hours must be positive, got {hours}")
    if day is None:
        return Window(now - timedelta(hours=hours), now, now.date(), period)
    end = datetime(day.year, day.month, day.day, tzinfo=now.tzinfo) + timedelta(days=1)
    if end - timedelta(hours=hours) > now:
        raise ValueError(f"{day.isoformat()} has not started yet")
    return Window(end - timedelta(hours=hours), end, day, period)


def events_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=EVENT_COLUMNS)
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    for column in ("issue_id", "component", "service", "level", "project"):
        frame[column] = frame[column].astype("category")
    return frame


@dataclass
class ComponentRow:
    component: str
    events: int
    issues: int
    new_issues: int
    resolved: int
    fatal: int
    previous: int | None
    average_7d: float | None
    trend: str  # "↑", "↓", "→", "new"
    rising: bool
    priority: str


@dataclass
class IssueLine:
    issue_id: str
    title: str
    events: int
    level: str
    component: str
    link: str


@dataclass
class DayReport:
    window: Window
    total_events: int
    total_issues: int
    previous_total: int | None
    components: list[ComponentRow]
    services: list[tuple[str, int]]
    levels: list[tuple[str, int]]
    top_issues: list[IssueLine]
    new_issues: list[IssueLine]
    regressed: list[IssueLine]
    resolved: int
    notes: list[str] = field(default_factory=list)

    @property
    def quiet(self) -> bool:
        return self.total_events == 0


def _trend(today: int, previous: int | None, t: Thresholds) -> tuple[str, bool]:
    if previous is None:
        return "new", False
    rising = today >= t.rise_minimum and today >= t.rise_factor * max(previous, 1)
    if today > previous:
        return "↑", rising
    if today < previous:
        return "↓", False
    return "→", False


def _priority(events: int, fatal: int, t: Thresholds) -> str:
    if events >= t.p1 or fatal:
        return "P1"
    if events >= t.p2:
        return "P2"
    return "P3"


def aggregate(frame: pd.DataFrame, issues: dict[str, dict[str, Any]], window: Window, *,
              history: dict[str, dict[date, int]], thresholds: Thresholds = Thresholds(),
              resolved_ids: set[str] = frozenset(), reopened_ids: set[str] = frozenset(),
              link=lambda issue_id: issue_id, history_is_complete: bool = False,
              back_after_quiet: set[str] = frozenset()) -> DayReport:
    """The report for `window`. `issues` maps issue id → {title, level, first_seen, status}; `history` maps
    component → {day: events} of earlier reports (the previous day and the week before). With
    `history_is_complete`, a day missing from it had no events (it was rebuilt from the events).
    `back_after_quiet`: issues known (from stored state) to have been quiet for 3 days before the window."""
    unit = frame["at"].dt.unit
    at = frame["at"].array.asi8  # integers in the column's own unit: no per-row Timestamp objects
    lo, hi = _epoch(window.start, unit), _epoch(window.end, unit)
    inside = (at >= lo) & (at < hi)
    every = bool(inside.all())
    in_window = frame if every else frame[inside]

    def line(issue_id: str, events: int, component: str) -> IssueLine:
        meta = issues.get(issue_id, {})
        return IssueLine(issue_id, meta.get("title", ""), int(events), meta.get("level", ""), component, link(issue_id))

    # counting on category codes: one bincount over (component, issue) pairs gives events and issues per
    # component and events per issue; services, levels and fatal events are bincounts too
    comp_codes, comps = _codes(in_window["component"])
    issue_codes, issue_labels = _codes(in_window["issue_id"])
    pair_counts = np.bincount(comp_codes.astype(np.int64) * len(issue_labels) + issue_codes,
                              minlength=len(comps) * len(issue_labels)).reshape(len(comps), len(issue_labels))
    issue_events = pair_counts.sum(axis=0)
    seen = np.flatnonzero(issue_events)
    main_component = pair_counts.argmax(axis=0) if pair_counts.size else np.zeros(len(issue_labels), dtype=np.int64)
    per_issue = pd.DataFrame({"events": issue_events[seen], "component": [comps[c] for c in main_component[seen]]},
                             index=pd.Index([issue_labels[i] for i in seen], name="issue_id"))
    new_ids = {i for i in per_issue.index if (fs := issues.get(i, {}).get("first_seen")) and fs >= window.start}
    quiet_then_back: set[str] = set()
    if not every:
        before = frame[at < lo]
        if len(before):
            first_in = in_window.groupby("issue_id", observed=True)["at"].min()
            first_in.index = first_in.index.astype(str)  # plain labels: categorical indexes of unlike sizes misalign
            last_before = before.groupby("issue_id", observed=True)["at"].max()
            last_before.index = last_before.index.astype(str)
            gap = (first_in - last_before.reindex(first_in.index)).dropna()
            quiet_then_back = {str(i) for i in gap[gap >= pd.Timedelta(days=3)].index}
    regressed_ids = (quiet_then_back | ((set(reopened_ids) | set(back_after_quiet)) & set(per_issue.index))) - new_ids

    comp_events = pair_counts.sum(axis=1)
    comp_issues = (pair_counts > 0).sum(axis=1)
    grouped = pd.DataFrame({"events": comp_events, "issues": comp_issues}, index=comps)
    level_codes, levels_seen = _codes(in_window["level"])
    fatal = {}
    if "fatal" in levels_seen:
        fatal_counts = np.bincount(comp_codes[level_codes == levels_seen.index("fatal")], minlength=len(comps))
        fatal = {comps[c]: int(n) for c, n in enumerate(fatal_counts) if n}
    issues_by_component: dict[str, set[str]] = {}
    for c, i in zip(*np.nonzero(pair_counts)):
        issues_by_component.setdefault(comps[c], set()).add(issue_labels[i])
    components = []
    for component, row in grouped[grouped["events"] > 0].iterrows():
        past = history.get(str(component), {})
        days = [window.day - timedelta(days=n) for n in range(1, 8)]
        if history_is_complete:
            previous = past.get(window.previous.day, 0)
            week = [past.get(d, 0) for d in days]
        else:
            previous = past.get(window.previous.day)
            week = [past[d] for d in days if d in past]
        trend, rising = _trend(int(row["events"]), previous, thresholds)
        comp_issues = issues_by_component.get(str(component), set())
        components.append(ComponentRow(
            component=str(component), events=int(row["events"]), issues=int(row["issues"]),
            new_issues=len(comp_issues & new_ids),
            resolved=sum(1 for i in resolved_ids if issues.get(i, {}).get("component") == component),
            fatal=fatal.get(str(component), 0), previous=previous,
            average_7d=round(sum(week) / len(week), 1) if week else None, trend=trend, rising=rising,
            priority=_priority(int(row["events"]), fatal.get(str(component), 0), thresholds)))
    components.sort(key=lambda c: (c.priority, -c.events, c.component))
    service_codes, service_labels = _codes(in_window["service"])
    service_counts = np.bincount(service_codes, minlength=len(service_labels))
    services = pd.Series(service_counts, index=service_labels).sort_values(ascending=False, kind="stable")
    levels = pd.Series(np.bincount(level_codes, minlength=len(levels_seen)), index=levels_seen)
    top = per_issue.rename_axis("issue_id").reset_index().sort_values(
        ["events", "issue_id"], ascending=[False, True]).set_index("issue_id").head(10)
    previous_totals = [h.get(window.previous.day) for h in history.values() if window.previous.day in h]
    if history_is_complete and not previous_totals:
        previous_totals = [0]
    return DayReport(
        window=window, total_events=int(len(in_window)), total_issues=int(len(per_issue)),
        previous_total=sum(previous_totals) if previous_totals else None, components=components,
        services=[(str(k), int(v)) for k, v in services.items() if v],
        levels=sorted(((str(k), int(v)) for k, v in levels.items() if v),
                      key=lambda kv: LEVEL_ORDER.index(kv[0]) if kv[0] in LEVEL_ORDER else 99),
        top_issues=[line(i, r["events"], str(r["component"])) for i, r in top.iterrows()],
        new_issues=[line(i, per_issue.loc[i, "events"], str(per_issue.loc[i, "component"])) for i in sorted(new_ids)],
        regressed=[line(i, per_issue.loc[i, "events"], str(per_issue.loc[i, "component"])) for i in sorted(regressed_ids)],
        resolved=len(resolved_ids))


def _epoch(moment: datetime, unit: str) -> int:
    """`moment` as an integer count of `unit` since the epoch (UTC), like the column's own values."""
    naive = pd.Timestamp(moment).tz_convert("UTC").tz_localize(None).to_datetime64()
    return int(naive.astype(f"datetime64[{unit}]").astype(np.int64))


def _codes(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Category codes and labels of a column (made categorical when it is not)."""
    cat = column if isinstance(column.dtype, pd.CategoricalDtype) else column.astype("category")
    return cat.cat.codes.to_numpy().astype(np.int64), [str(c) for c in cat.cat.categories]


def daily_counts(frame: pd.DataFrame, end: datetime, end_day: date, days: int) -> pd.DataFrame:
    """Events and distinct issues per (report day, component) for the `days` 24-hour windows before `end`;
    the window ending at `end` is `end_day`, the one before it the day before, and so on."""
    start = end - timedelta(days=days)
    recent = frame[(frame["at"] >= start) & (frame["at"] < end)].copy()
    # window n covers (end - (n+1) days, end - n days]; its report day is the day its window ends on
    offset = ((end - recent["at"]) / pd.Timedelta(days=1)).astype(int)
    recent["day"] = [end_day - timedelta(days=int(n)) for n in offset]
    return (recent.groupby(["day", "component"], observed=True)
            .agg(error_count=("at", "size"), issue_count=("issue_id", "nunique")).reset_index())
