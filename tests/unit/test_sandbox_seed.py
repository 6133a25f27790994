"""The sandbox's seed is consistent: frames point at real lines, suspect commits precede first events."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from triageflow.sandbox import seed
from triageflow.sandbox.glitchtip_state import GlitchTipState
from triageflow.sandbox.sample_repo import HISTORY, SAMPLE_APP

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def test_enough_realistic_issues():
    assert len(seed.ISSUES) >= 30
    assert {s.level for s in seed.ISSUES} >= {"error", "warning", "fatal"}
    assert {s.status for s in seed.ISSUES} == {"unresolved", "resolved", "ignored"}
    assert len({s.component for s in seed.ISSUES}) >= 8
    assert all(s.comments for s in seed.ISSUES if s.status == "resolved")


@pytest.mark.parametrize("spec", [s for s in seed.ISSUES if s.frames], ids=lambda s: str(s.id))
def test_in_app_frames_point_at_lines_of_the_sample_app(spec):
    for frame in spec.frames:
        if frame.library:
            continue
        line = seed.locate(frame)
        source = (SAMPLE_APP / frame.path).read_text().splitlines()
        assert source[line.line_no - 1] == line.text and frame.needle in line.text


def test_events_fall_in_their_days_and_counts_vary():
    for spec in seed.ISSUES:
        times = seed.event_times(spec, NOW)
        assert len(times) == sum(spec.daily)
        for day, count in enumerate(spec.daily):
            lo, hi = NOW - timedelta(days=day + 1), NOW - timedelta(days=day)
            assert sum(lo < t < hi for t in times) == count
    totals = [sum(s.daily[d] for s in seed.ISSUES) for d in range(seed.DAYS)]
    assert len(set(totals)) > 5


def test_files_changed_by_a_commit_exist_in_the_sample_app():
    for commit in HISTORY:
        for path in commit.files:
            assert (SAMPLE_APP / path).is_file(), path


def test_each_regression_file_changed_before_its_issue_first_appeared():
    """The suspect commits land before the first events they cause, as a real history would have it."""
    suspects = {"app/services/booking_monitor.py": 4, "app/database/postgres.py": 1,
                "app/integrations/yclients.py": 3, "app/services/reports.py": 17}
    for path, issue_id in suspects.items():
        last_change = min(c.days_ago for c in HISTORY if path in c.files)
        first_day = max(d for d, n in enumerate(seed.ISSUE_BY_ID[issue_id].daily) if n)
        assert last_change >= first_day + 1 - 1e-9, (path, last_change, first_day)


def test_state_renders_issue_and_event_like_the_server():
    state = GlitchTipState(NOW)
    issue = state.issue_json(9, detail=True)
    assert issue["count"] == str(sum(seed.ISSUE_BY_ID[9].daily)) and issue["shortId"].startswith("WORKER-")
    event = state.event_json(12, len(state.issues[12].events) - 1, detail=True)
    values = event["entries"][0]["data"]["values"]
    assert [v["type"] for v in values] == ["ConnectionTimeout", "RuntimeError"]
    assert event["nextEventID"] is None and event["previousEventID"]
