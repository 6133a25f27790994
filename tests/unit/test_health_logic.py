"""The watcher's decisions: failure alerts per hour, run statistics, durations, thresholds."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from models.flow_health import FlowHealth
from tasks.health_alerts import failure_alert_decision, failure_text
from tasks.health_report import change, flow_stats, parse_thresholds
from triageflow.snooze import BadDuration, parse_duration


@pytest.mark.parametrize("failures, sent, expected", [
    (1, [], ("failure", True)),
    (2, ["failure"], ("", False)),
    (3, ["failure"], ("", False)),
    (4, ["failure"], ("critical", True)),
    (5, ["critical", "failure"], ("", False)),
    (4, [], ("critical", True)),
])
def test_failure_alert_decision(failures, sent, expected):
    decision = failure_alert_decision(failures, sent)
    assert (decision.kind, decision.send) == expected


def test_failure_text_scrubs_the_error_and_links_the_run():
    html, plain = failure_text("failure", "daily-metrics", "brave-fox", "Failed",
                               "Rejected: card 4111 1111 1111 1111 <refused>\nsecond line", 1,
                               "http://127.0.0.1:4200/runs/flow-run/abc")
    assert "4111 1111" not in html and "&lt;refused&gt;" in html and "second line" not in html
    assert 'href="http://127.0.0.1:4200/runs/flow-run/abc"' in html and plain.endswith("/runs/flow-run/abc")


def _row(flow, state, secs, hours_ago=0):
    return FlowHealth(flow_run_id=f"{flow}-{state}-{secs}-{hours_ago}", flow_name=flow, state=state, duration_s=secs,
                      finished_at=datetime(2026, 12, 1, tzinfo=timezone.utc) - timedelta(hours=hours_ago))


def test_flow_stats_counts_success_median_and_slow_runs():
    rows = [_row("a", "Completed", 1, 3), _row("a", "Failed", 3, 2), _row("a", "Crashed", 5, 1),
            _row("a", "Completed", 100, 0), _row("b", "Cancelled", 2)]
    a, b = flow_stats(rows, {"a": 50}, 600)
    assert (a.flow, a.runs, a.completed, a.failed, a.median_s) == ("a", 4, 2, 2, 4.0)
    assert a.success_rate == 0.5 and [r.duration_s for r in a.slow] == [100]
    assert a.last[0].duration_s == 100  # newest first
    assert b.success_rate is None and b.slow == []


@pytest.mark.parametrize("text, expected", [("30m", timedelta(minutes=30)), ("24h", timedelta(hours=24)),
                                            ("7d", timedelta(days=7)), (" 2W ", timedelta(weeks=2))])
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "24", "h", "0h", "1y", "999d", "-1h"])
def test_parse_duration_refuses(text):
    with pytest.raises(BadDuration):
        parse_duration(text)


def test_parse_thresholds():
    assert parse_thresholds("investigate-issue=120, daily-metrics=300") == {"investigate-issue": 120,
                                                                            "daily-metrics": 300}
    assert parse_thresholds("") == {}
    with pytest.raises(ValueError, match="HEALTH_SLOW_SECONDS: 'oops' is not"):
        parse_thresholds("oops")


@pytest.mark.parametrize("now, before, expected", [(12, 10, "+20 %"), (5, 10, "−50 %"), (3, 0, "new"),
                                                   (0, 0, "="), (None, 3, "—"), (10, 10, "=")])
def test_change(now, before, expected):
    assert change(now, before) == expected


# --------------------------------------------------------------------------- escalation

from tasks.escalation import Counts, LastPass, Thresholds, judge  # noqa: E402

T0 = datetime(2026, 12, 1, 12, tzinfo=timezone.utc)
FIRST = T0 - timedelta(days=10)


def _judge(events, users, last_events=240, last_users=5, hours=1.0, rate=1.0, escalated=False):
    last = LastPass(last_events, last_users, T0 - timedelta(hours=hours), rate, T0 if escalated else None)
    return judge(Counts("9", events, users, FIRST), last, T0, Thresholds(factor=10, new_users=10, min_events=20))


def test_first_pass_learns_the_lifetime_rate():
    v = judge(Counts("9", 240, 3, FIRST), None, T0, Thresholds())
    assert v.kind == "first pass" and v.hourly_rate == 1.0 and not v.crossed


@pytest.mark.parametrize("events, users, kwargs, kind", [
    (245, 5, {}, "calm"),                                  # 5/h against 1/h: not 10×
    (270, 5, {}, "spike"),                                 # 30 in an hour: 30× the usual
    (255, 5, {}, "calm"),                                  # 15 new events: under the minimum
    (270, 5, {"escalated": True}, "still escalated"),      # crossed already: no second alert
    (241, 16, {}, "spike"),                                # 11 new users
    (250, 5, {"hours": 1 / 3600, "rate": 0.5}, "calm"),    # a second apart: counted as a minute, 10 < min_events
])
def test_judge(events, users, kwargs, kind):
    assert _judge(events, users, **kwargs).kind == kind


def test_a_calm_pass_moves_the_baseline_and_a_spike_does_not():
    assert _judge(245, 5).hourly_rate == pytest.approx(0.7 * 1 + 0.3 * 5)
    assert _judge(400, 5).hourly_rate == 1.0


# --------------------------------------------------------------------------- uptime

from tasks.uptime import Known, Probe, Target, outage_text, parse_targets, transition  # noqa: E402


def test_parse_targets():
    assert parse_targets("https://a/health 204 5, http://b/") == [Target("https://a/health", 204, 5.0),
                                                                  Target("http://b/", 200, 10.0)]
    assert parse_targets("") == []
    for bad in ("ftp://x", "https://a 2000", "https://a 200 0", "https://a ok"):
        with pytest.raises(ValueError, match="UPTIME_TARGETS"):
            parse_targets(bad)


UP, DOWN = Probe("u", True, 200, 5, None), Probe("u", False, 503, 5, "answered 503")


@pytest.mark.parametrize("known, probe, kind", [
    (None, UP, None), (None, DOWN, "down"), (Known(True, T0), UP, None), (Known(True, T0), DOWN, "down"),
    (Known(False, T0), DOWN, None), (Known(False, T0), UP, "up"),
])
def test_transition(known, probe, kind):
    assert transition(known, probe, T0 + timedelta(minutes=5)).kind == kind


def test_recovery_knows_how_long_the_outage_lasted():
    change = transition(Known(False, T0), UP, T0 + timedelta(minutes=7, seconds=5))
    assert change.outage == timedelta(minutes=7, seconds=5) and outage_text(change.outage.total_seconds()) == "7 min 5 s"
    assert transition(Known(False, T0), DOWN, T0 + timedelta(hours=1)).state.since == T0  # still the same outage
