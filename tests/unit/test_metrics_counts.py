"""Where each issue's window count comes from, and how counts become report rows."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from models.issue_state import IssueState
from tasks.metrics import Window
from tasks.metrics_counts import counted_frame, estimate_notes, plan_counts, split

END = datetime(2026, 12, 1, tzinfo=timezone.utc)
WINDOW = Window(END - timedelta(days=1), END, END.date() - timedelta(days=1))
H = timedelta(hours=1)


def state(issue_id, first, last, count, *, report=None, report_last=None, report_at=None, components=None):
    return IssueState(issue_id=issue_id, project="api", level="error", status="unresolved", title=f"T{issue_id}",
                      first_seen=first, last_seen=last, count=count, counted_at=END, report_count=report,
                      report_last_seen=report_last, report_counted_at=report_at, components=components)


@pytest.mark.parametrize("s, source, count", [
    (state("1", WINDOW.start + H, END - H, 40), "new", 40),
    (state("2", END - timedelta(days=9), END - H, 90, report=60, report_last=WINDOW.start - H,
           report_at=WINDOW.start + timedelta(seconds=5)), "delta", 30),
    # the stored count was taken before the window starts: no delta, the events are read
    (state("3", END - timedelta(days=9), END - H, 90, report=60, report_last=WINDOW.start - 2 * H,
           report_at=WINDOW.start - H), "events", None),
    # an event came between the stored last-seen and the window's start: no delta either
    (state("4", END - timedelta(days=9), END - H, 90, report=60, report_last=WINDOW.start + H,
           report_at=WINDOW.start + 2 * H), "events", None),
    # last seen after the window ends: its count holds later events too
    (state("5", WINDOW.start + H, END + H, 40), "events", None),
])
def test_each_issue_gets_its_cheapest_exact_source(s, source, count):
    plan = plan_counts([s], WINDOW)
    assert plan.source[s.issue_id] == source
    assert plan.counts.get(s.issue_id) == count
    assert (s.issue_id in plan.read_events) == (source == "events")
    assert s.issue_id in plan.read_mix or source == "events"


def test_over_the_event_budget_the_rest_is_estimated_and_the_report_says_so():
    big = state("9", END - timedelta(days=10), END - H, 10_000)
    small = state("8", END - timedelta(days=10), END - H, 50)
    plan = plan_counts([big, small], WINDOW, event_budget=5)
    assert plan.source == {"8": "events", "9": "estimate"}
    assert plan.counts["9"] == round(10_000 * (WINDOW.end - H - WINDOW.start) / (END - H - big.first_seen))
    notes = estimate_notes(plan, WINDOW)
    assert len(notes) == 1 and f"{plan.counts['9']} events of 1 issues" in notes[0]


def test_quiet_for_three_days_then_back_is_a_regression():
    back = state("2", END - timedelta(days=30), END - H, 12, report=10, report_last=WINDOW.start - timedelta(days=4),
                 report_at=WINDOW.start)
    assert plan_counts([back], WINDOW).back_after_quiet == {"2"}


@pytest.mark.parametrize("total, weights, expected", [
    (10, {"a": 1, "b": 1}, {"a": 5, "b": 5}),
    (7, {"a": 2, "b": 1}, {"a": 5, "b": 2}),
    (3, {"a": 1, "b": 1, "c": 1, "d": 1}, {"a": 1, "b": 1, "c": 1}),
    (0, {"a": 1}, {}),
    (4, {}, {"unknown": 4}),
])
def test_split_shares_whole_events_that_add_up(total, weights, expected):
    assert split(total, weights) == expected


def test_counted_frame_has_one_row_per_event_over_the_mix():
    s = state("1", WINDOW.start + H, END - H, 7)
    s.components, s.services = {"database": 3, "cache": 1}, {"api-1": 1, "api-2": 1}
    frame = counted_frame({"1": 7}, {"1": s}, WINDOW)
    assert len(frame) == 7
    assert frame.groupby("component", observed=True).size().to_dict() == {"cache": 2, "database": 5}
    assert (frame["at"] == WINDOW.start).all()


NOW = END + timedelta(hours=7)


@pytest.mark.parametrize("window, now, period", [
    (Window(NOW - timedelta(hours=24), NOW, NOW.date()), NOW, "24h"),
    (WINDOW, NOW, "14d"),  # yesterday, a whole UTC day
    (Window(WINDOW.start - timedelta(days=20), WINDOW.end - timedelta(days=20), WINDOW.day), NOW, None),  # too old
    (Window(NOW - timedelta(hours=30), NOW - timedelta(hours=6), NOW.date()), NOW, None),  # neither
])
def test_which_issue_stats_period_counts_a_window_exactly(window, now, period):
    from tasks.metrics_counts import stats_period_for

    assert stats_period_for(window, now) == period


def test_with_issue_stats_known_issues_are_counted_from_them_not_their_events():
    s = state("3", END - timedelta(days=9), END - H, 90)
    plan = plan_counts([s], WINDOW, stats_period="14d")
    assert plan.source == {"3": "stats"} and plan.read_stats == ["3"] and plan.read_events == []


def test_tag_reads_over_the_mix_budget_go_to_the_busiest_issues_and_the_report_says_so():
    from tasks.metrics_counts import limit_mix_reads

    issues = [state(str(n), WINDOW.start + H, END - H, n * 10) for n in range(1, 6)]  # all new: counts known
    plan = plan_counts(issues + [state("9", WINDOW.start + H, END - H, 7, components={"db": 7})], WINDOW)
    assert plan.read_mix == ["1", "2", "3", "4", "5"]  # one already mixed: no read
    limit_mix_reads(plan, 2)
    assert plan.read_mix == ["4", "5"] and plan.unmixed == ["1", "2", "3"]
    notes = estimate_notes(plan, WINDOW)
    assert len(notes) == 1 and "60 events of 3 issues" in notes[0] and "under their project" in notes[0]
    unlimited = plan_counts(issues, WINDOW)
    limit_mix_reads(unlimited, None)
    assert len(unlimited.read_mix) == 5 and unlimited.unmixed == [] and estimate_notes(unlimited, WINDOW) == []
