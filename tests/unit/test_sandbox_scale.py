"""The scaled sandbox: sizes as asked, events counted in the right days, the clock hides the future."""

from __future__ import annotations

from datetime import timedelta

from triageflow.sandbox import seed
from triageflow.sandbox.scale import FIRST_SCALED_ID, Scale, ScaledState


def test_sizes_statuses_and_a_days_events_as_asked():
    scale = Scale(issues=400, events_per_day=20_000, active=100, new=10, resolved=150, ignored=20)
    state = ScaledState(token="t", scale=scale)
    assert len(state.issues) == 400
    scaled = [r for i, r in state.issues.items() if i >= FIRST_SCALED_ID]
    statuses = [r.status for r in scaled]
    assert statuses.count("resolved") == 150 and statuses.count("ignored") == 20
    day_start = state.now - timedelta(days=1)
    in_day = [r.events.count_between(day_start, state.now) for r in scaled]
    assert sum(1 for n in in_day if n) == 100
    assert abs(sum(in_day) - 20_000) < 200  # every active issue gets at least one event
    new = [r for r in scaled if r.events[0].at >= day_start]
    assert len(new) == 10
    body = state.issue_json(scaled[0].spec.id)
    assert body["count"] == str(len(scaled[0].events)) and body["lastSeen"] >= body["firstSeen"]
    tags = {t["key"]: t for t in state.tags_json(scaled[0].spec.id)}
    assert tags["component"]["totalValues"] == len(scaled[0].events)


def test_the_clock_hides_later_events_and_issues_new_since():
    scale = Scale(issues=200, events_per_day=5_000, active=50, new=5, resolved=100, ignored=5)
    state = ScaledState(token="t", scale=scale)
    yesterday = state.now - timedelta(days=1)
    shown = state.set_visible_until(yesterday)
    assert shown["hidden"] >= 5  # the new issues and hand-written ones first seen today
    assert all(r.events[-1].at <= yesterday for r in state.issues.values())
    assert all(i not in state.issues for i in range(FIRST_SCALED_ID, FIRST_SCALED_ID + 5))
    state.set_visible_until(None)
    assert len(state.issues) == 200 and len(state.search("is:unresolved")) > len(seed.ISSUES) // 2
