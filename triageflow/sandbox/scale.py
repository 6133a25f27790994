"""The sandbox GlitchTip at scale: thousands of issues and a million events a day, held compactly.

Each scaled issue keeps its event times as one slice of a numpy array; an event is rendered only
when a page of events asks for it. The 37 hand-written issues stay as they are (ids 1..113), so the
investigations and runbooks of the small sandbox still have their targets. A clock
(`visible_until`) hides what happened after a moment, so a bench can run "yesterday's" pass and then
"today's" against one seeded server.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from . import seed
from .glitchtip_state import GlitchTipState, IssueRecord, _base36
from .seed import DAYS, IssueSpec, SeedEvent, event_id

FIRST_SCALED_ID = 1001
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_EDGE_SECONDS = 300  # events keep 5 minutes clear of each day's edges, as the small seed does
COMPONENTS = ("database", "yclients", "whatsapp", "billing", "payments", "storage", "cache", "auth", "checkout",
              "reports", "search", "notifications", "calendar", "exports", "imports", "webhooks", "admin",
              "analytics", "inventory", "loyalty")
WORDS = ("alpha", "amber", "birch", "cedar", "delta", "ember", "fjord", "garnet", "harbor", "indigo", "juniper",
         "kestrel", "lumen", "maple", "nectar", "onyx", "prism", "quartz", "raven", "saffron", "tundra", "umber",
         "vertex", "willow", "xenon", "yarrow", "zephyr")
FIXES = ("raised the limit and added a dashboard alert", "rolled back the release that introduced it",
         "added a retry with backoff", "fixed the null check in the handler", "rotated the expired credentials",
         "moved the job off the primary database", "cleaned the disk and added logrotate")


@dataclass(frozen=True)
class Scale:
    """How big the scaled sandbox is. `issues` counts the 37 hand-written ones too."""

    issues: int = 20_000
    events_per_day: int = 1_000_000
    active: int = 5_000  # issues with events in the last 24 hours
    new: int = 500  # of those, first seen in the last 24 hours
    resolved: int = 10_000
    ignored: int = 500
    history_days: int = 60
    seed: int = 15

    @classmethod
    def proportional(cls, issues: int, events_per_day: int | None = None) -> "Scale":
        """The shape of the 20,000-issue sandbox at another size (a quarter active, a tenth of those new)."""
        active = max(issues // 4, 1)
        return cls(issues=issues, events_per_day=events_per_day or issues * 50, active=active,
                   new=max(active // 10, 1), resolved=issues // 2, ignored=max(issues // 40, 0))

    def __post_init__(self) -> None:
        if self.issues < 0 or self.events_per_day < 0:
            raise ValueError("issues and events per day must not be negative")
        if self.new > self.active:
            raise ValueError(f"new issues ({self.new}) must be among the active ones ({self.active})")


class CompactEvents:
    """An issue's events as a sorted array of epoch microseconds; `SeedEvent`s are made on access."""

    __slots__ = ("issue_id", "times", "servers")

    def __init__(self, issue_id: int, times: np.ndarray, servers: tuple[str, ...]) -> None:
        self.issue_id, self.times, self.servers = issue_id, times, servers

    def __len__(self) -> int:
        return len(self.times)

    def _event(self, n: int) -> SeedEvent:
        at = _EPOCH + timedelta(microseconds=int(self.times[n]))
        return SeedEvent(event_id(self.issue_id, n), self.issue_id, at, self.servers[n % len(self.servers)], None)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._event(n) for n in range(*index.indices(len(self)))]
        n = index + len(self) if index < 0 else index
        if not 0 <= n < len(self):
            raise IndexError(index)
        return self._event(n)

    def __iter__(self) -> Iterator[SeedEvent]:
        return (self._event(n) for n in range(len(self)))

    def count_between(self, start: datetime, end: datetime) -> int:
        lo, hi = np.searchsorted(self.times, [_micros(start), _micros(end)], side="left")
        return int(hi - lo)

    def hourly(self, start: datetime, end: datetime, step: timedelta) -> np.ndarray:
        """Counts per `step` from `start` (inclusive) to `end` (exclusive)."""
        lo, hi = _micros(start), _micros(end)
        inside = self.times[(self.times >= lo) & (self.times < hi)]
        buckets = int(np.ceil((hi - lo) / (step.total_seconds() * 1e6)))
        return np.bincount(((inside - lo) // int(step.total_seconds() * 1e6)).astype(np.int64), minlength=buckets)


def _micros(moment: datetime) -> int:
    return int((moment - _EPOCH) / timedelta(microseconds=1))


def scaled_specs(scale: Scale) -> list[IssueSpec]:
    """Issues derived from the hand-written ones: same frames (so stack traces point into the sample app),
    varied titles and components; the first `active` unresolved, then resolved, ignored, quiet ones."""
    count = max(scale.issues - len(seed.ISSUES), 0)
    rng = random.Random(scale.seed)
    unresolved = [s for s in seed.ISSUES if s.status == "unresolved" and s.type]
    resolved = [s for s in seed.ISSUES if s.status == "resolved"]
    specs = []
    for n in range(count):
        issue_id = FIRST_SCALED_ID + n
        if n < scale.active:
            status = "unresolved"
        elif n < scale.active + scale.resolved:
            status = "resolved"
        elif n < scale.active + scale.resolved + scale.ignored:
            status = "ignored"
        else:
            status = "unresolved"
        template = rng.choice(resolved if status == "resolved" and rng.random() < 0.3 else unresolved)
        words = f"{rng.choice(WORDS)} {rng.choice(WORDS)}"
        component = template.component if rng.random() < 0.5 else rng.choice(COMPONENTS)
        comments = ((rng.uniform(1, scale.history_days), f"Resolved: {rng.choice(FIXES)} ({words})."),) \
            if status == "resolved" else ()
        specs.append(dataclasses.replace(
            template, id=issue_id, value=f"{template.value} [{words}]", component=component, status=status,
            daily=(0,) * DAYS, comments=comments, with_user=False, cause=None))
    return specs


def scaled_times(scale: Scale, specs: list[IssueSpec], now: datetime) -> dict[int, np.ndarray]:
    """Event times per issue: `events_per_day` over the active issues in the last 24 h (a few issues get
    most of them), plus a little history for the others and for the active issues that are not new."""
    rng = np.random.default_rng(scale.seed)
    now_us = _micros(now)
    day_us = 86_400 * 1_000_000
    edge_us = _EDGE_SECONDS * 1_000_000
    active = min(scale.active, len(specs))
    out: dict[int, np.ndarray] = {}
    if active:
        weights = 1.0 / np.arange(1, active + 1) ** 1.1
        rng.shuffle(weights)
        counts = np.maximum((weights / weights.sum() * scale.events_per_day).astype(np.int64), 1)
        owner = np.repeat(np.arange(active), counts)
        times = now_us - rng.integers(edge_us, day_us - edge_us, size=len(owner))
        order = np.lexsort((times, owner))
        times, bounds = times[order], np.concatenate([[0], np.cumsum(counts)])
        for n in range(active):
            out[specs[n].id] = times[bounds[n]:bounds[n + 1]]
    for n, spec in enumerate(specs):
        if n < min(scale.new, active):
            continue  # new today: nothing before
        k = int(rng.integers(1, 30))
        days_ago = rng.integers(1, scale.history_days, size=k)
        if n < active:  # an old issue active today recurs: it fired on each of the three days before too
            days_ago = np.concatenate([days_ago, [1, 2, 3]])
            k += 3
        history = now_us - days_ago * day_us - rng.integers(edge_us, day_us - edge_us, size=k)
        out[spec.id] = np.sort(np.concatenate([history, out.get(spec.id, np.empty(0, dtype=np.int64))]))
    return out


class ScaledState(GlitchTipState):
    """The hand-written issues plus `scale` derived ones, rendered exactly as the small sandbox renders."""

    scale: Scale = Scale.proportional(len(seed.ISSUES))

    def __init__(self, now: datetime | None = None, token: str = "", release=None, scale: Scale | None = None) -> None:
        self.scale = scale or self.scale  # Sandbox.reset() calls __init__(now, token, release): keep the size
        self._search_cache: dict[Any, list[int]] = {}
        super().__init__(now, token, release)
        specs = scaled_specs(self.scale)
        times = scaled_times(self.scale, specs, self.now)
        counters: Counter = Counter()
        for spec in specs:
            counters[spec.project] += 1
            short = f"{spec.project.upper()}-S{_base36(counters[spec.project])}"
            record = IssueRecord(spec, short, spec.status, CompactEvents(spec.id, times[spec.id], seed.SERVERS[spec.project]))
            record.tag_values = self._tag_values(record)
            self.issues[spec.id] = record
            for days_ago, text in spec.comments:
                self._add_comment(record, text, self.now - timedelta(days=days_ago))
        self._all_events = {i: r.events for i, r in self.issues.items()}
        self._hidden: dict[int, IssueRecord] = {}
        self.visible_until: datetime | None = None

    # ---------------------------------------------------------------- compact versions of the base's walks

    def _tag_values(self, r: IssueRecord) -> dict[str, Counter]:
        if not isinstance(r.events, CompactEvents):
            return super()._tag_values(r)
        n, servers = len(r.events), r.events.servers
        per_server = Counter({s: n // len(servers) + (1 if k < n % len(servers) else 0) for k, s in enumerate(servers)})
        return {"release": Counter({r.spec.release: n}), "component": Counter({r.spec.component: n}),
                "operation": Counter({r.spec.operation: n}), "environment": Counter({"production": n}),
                "server_name": +per_server}

    def _user_count(self, r: IssueRecord) -> int:
        return 0 if isinstance(r.events, CompactEvents) else super()._user_count(r)

    def search(self, query: str | None, project_ids: list[str] | None = None, sort: str | None = None) -> list[int]:
        key = (query, tuple(project_ids or ()), sort)
        with self.lock:
            if key not in self._search_cache:
                self._search_cache[key] = super().search(query, project_ids, sort)
            return self._search_cache[key]

    def set_status(self, issue_ids: list[int], status: str) -> None:
        with self.lock:
            self._search_cache.clear()
            super().set_status(issue_ids, status)

    def event_counts(self, start, end, step, project_ids=None):
        """`stats_v2` as the base renders it, counted with numpy over every issue's times."""
        first, last = _floor(start, step), _floor(end, step) + step
        intervals = [first + k * step for k in range(int((last - first) / step) + 1)]
        chunks = []
        for r in self.issues.values():
            if project_ids and seed.PROJECT_BY_SLUG[r.spec.project]["id"] not in project_ids:
                continue
            chunks.append(r.events.times if isinstance(r.events, CompactEvents)
                          else np.array([_micros(e.at) for e in r.events], dtype=np.int64))
        times = np.concatenate(chunks) if chunks else np.empty(0, dtype=np.int64)
        times = times[(times >= _micros(start)) & (times < _micros(end))]
        step_us = int(step.total_seconds() * 1e6)
        counts = np.bincount((times - _micros(first)) // step_us, minlength=len(intervals))[:len(intervals)]
        return intervals, [int(c) or None for c in counts]

    def issues_stats_json(self, issue_ids: list[int], period: str) -> list[dict[str, Any]]:
        """5.1's `issues-stats` as the base answers it, bucketed with numpy for compactly held issues."""
        plain = [i for i in issue_ids if not isinstance(self.issues[i].events, CompactEvents)]
        rendered = {int(b["id"]): b for b in super().issues_stats_json(plain, period)} if plain else {}
        step = timedelta(days=1) if period.endswith("d") else timedelta(hours=1)
        span = timedelta(days=int(period[:-1])) if period.endswith("d") else timedelta(hours=int(period[:-1]))
        start, step_us = self.now - span, int(step.total_seconds() * 1e6)
        for i in issue_ids:
            r = self.issues[i]
            if i in rendered:
                continue
            times = r.events.times
            inside = times[(times >= _micros(start)) & (times <= _micros(self.now))]
            starts, counts = np.unique((inside // step_us) * step_us, return_counts=True)
            rendered[i] = {
                "id": str(i), "count": str(len(r.events)), "userCount": 0,
                "firstSeen": seed.fmt_time(r.events[0].at), "lastSeen": seed.fmt_time(r.events[-1].at),
                "isUnhandled": False,
                "stats": {"24h": None, "14d": None} | {period: [[int(t // 1_000_000), int(n)]
                                                              for t, n in zip(starts, counts)]},
            }
        return [rendered[i] for i in issue_ids]

    # ---------------------------------------------------------------- the clock

    def set_visible_until(self, moment: datetime | None) -> dict[str, int]:
        """Show the server as it was at `moment` (None: as seeded): later events and issues disappear."""
        with self.lock:
            self._search_cache.clear()
            self.issues.update(self._hidden)
            self._hidden = {}
            for issue_id, events in self._all_events.items():
                r = self.issues[issue_id]
                if moment is None:
                    r.events = events
                elif isinstance(events, CompactEvents):
                    k = int(np.searchsorted(events.times, _micros(moment), side="right"))
                    r.events = CompactEvents(issue_id, events.times[:k], events.servers)
                else:
                    r.events = [e for e in events if e.at <= moment]
                r.tag_values = self._tag_values(r)
                if not r.events:
                    self._hidden[issue_id] = self.issues.pop(issue_id)
            self.visible_until = moment
            return {"issues": len(self.issues), "hidden": len(self._hidden)}


def _floor(moment: datetime, step: timedelta) -> datetime:
    return _EPOCH + ((moment - _EPOCH) // step) * step


def build_scale_router(state: GlitchTipState) -> APIRouter:
    """`/_sandbox/clock`: what a bench uses to step the scaled server from yesterday to today."""
    router = APIRouter()

    @router.post("/_sandbox/clock")
    async def clock(request: Request):
        if not isinstance(state, ScaledState):
            return JSONResponse({"detail": "the clock needs a scaled sandbox (triage sandbox --issues N)"}, 409)
        body = await request.json()
        raw = body.get("visible_until") if isinstance(body, dict) else None
        try:
            moment = None if raw is None else datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        except ValueError:
            return JSONResponse({"detail": f"visible_until must be an ISO 8601 time, got {raw!r}"}, 422)
        if moment is not None and moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return state.set_visible_until(moment)

    return router


def scaled_sandbox(scale: Scale, *, latency_ms: float = 0.0, now: datetime | None = None, release: str | None = None):
    """A `Sandbox` whose GlitchTip holds `scale` issues, answering after `latency_ms`."""
    from .app import Sandbox

    sandbox = Sandbox(now=now, latency_ms=latency_ms, glitchtip_release=release)
    sandbox.glitchtip = ScaledState(sandbox.now, sandbox.token, sandbox.glitchtip_release, scale=scale)
    return sandbox
