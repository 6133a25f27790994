"""The escalation rule: an open issue that suddenly spreads (events far above its usual hourly rate, or many
new users) alerts once, until it calms down again. Pure: the flow hands in counts and the last pass."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

MIN_ELAPSED = timedelta(minutes=1)  # two passes a second apart are not a rate of thousands an hour
SMOOTHING = 0.3  # how much of a calm pass's rate moves the baseline


@dataclass(frozen=True)
class Thresholds:
    factor: float = 10.0  # this many times the usual hourly rate
    new_users: int = 10
    min_events: int = 20  # fewer new events than this is never a spike


@dataclass(frozen=True)
class Counts:
    issue_id: str
    events: int
    users: int
    first_seen: datetime


@dataclass(frozen=True)
class LastPass:
    events: int
    users: int
    checked_at: datetime
    hourly_rate: float
    escalated_at: datetime | None


@dataclass(frozen=True)
class Verdict:
    issue_id: str
    kind: str  # "first pass", "spike", "still escalated", "calm"
    rate: float  # events per hour since the last pass
    baseline: float  # the usual events per hour
    new_events: int
    new_users: int
    reasons: tuple[str, ...]
    # what the next pass compares with
    hourly_rate: float
    escalated: bool

    @property
    def crossed(self) -> bool:
        return self.kind == "spike"


def _hours(delta: timedelta) -> float:
    return max(delta, MIN_ELAPSED).total_seconds() / 3600


def judge(now: Counts, last: LastPass | None, at: datetime, t: Thresholds) -> Verdict:
    """Compare this pass with the last one."""
    if last is None:
        lifetime = now.events / _hours(at - now.first_seen)
        return Verdict(now.issue_id, "first pass", 0.0, lifetime, 0, 0, (), lifetime, False)
    new_events = max(now.events - last.events, 0)
    new_users = max(now.users - last.users, 0)
    rate = new_events / _hours(at - last.checked_at)
    baseline = last.hourly_rate or last.events / _hours(last.checked_at - now.first_seen)
    reasons = []
    if new_events >= t.min_events and rate >= t.factor * max(baseline, 1 / 24):
        reasons.append(f"{rate:.0f} events/h, {rate / max(baseline, 1 / 24):.0f}× its usual {baseline:.1f}/h")
    if new_users >= t.new_users:
        reasons.append(f"{new_users} new users")
    if not reasons:
        smoothed = (1 - SMOOTHING) * baseline + SMOOTHING * rate
        return Verdict(now.issue_id, "calm", rate, baseline, new_events, new_users, (), smoothed, False)
    kind = "still escalated" if last.escalated_at else "spike"
    return Verdict(now.issue_id, kind, rate, baseline, new_events, new_users, tuple(reasons), baseline, True)
