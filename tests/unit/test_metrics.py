"""The report's numbers, trends, priorities and renderings, on frames built in the test."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from tasks.metrics import Thresholds, aggregate, daily_counts, events_frame, window_for
from tasks.metrics_report import slack_blocks, telegram_html
from triageflow.sandbox.messaging_api import telegram_html_error

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)


def ev(issue, hours_ago, component="db", level="error", service="api-1"):
    return {"issue_id": issue, "at": NOW - timedelta(hours=hours_ago), "component": component, "service": service,
            "level": level, "project": "api"}


META = {
    "1": {"title": "Timeout <db> & pool", "level": "error", "first_seen": NOW - timedelta(days=9), "status": "unresolved",
          "component": "db"},
    "2": {"title": "New thing", "level": "fatal", "first_seen": NOW - timedelta(hours=5), "status": "unresolved",
          "component": "billing"},
    "3": {"title": "Back after a week", "level": "warning", "first_seen": NOW - timedelta(days=9), "status": "unresolved",
          "component": "db"},
}


def frame():
    rows = [ev("1", h) for h in (1, 2, 3, 4, 5, 6)] + [ev("1", 30), ev("1", 31)]
    rows += [ev("2", 2, "billing", "fatal", "worker-1")]
    rows += [ev("3", 10, level="warning"), ev("3", 24 * 6)]  # quiet for 5 days, then back
    return events_frame(rows)


def test_window_for_a_day_and_for_now():
    assert window_for(None, 24, NOW).start == NOW - timedelta(hours=24)
    w = window_for(date(2026, 11, 20), 24, NOW)
    assert (w.start, w.end, w.day) == (datetime(2026, 11, 20, tzinfo=timezone.utc),
                                       datetime(2026, 11, 21, tzinfo=timezone.utc), date(2026, 11, 20))
    with pytest.raises(ValueError, match="has not started yet"):
        window_for(date(2026, 11, 30), 24, NOW)
    with pytest.raises(ValueError, match="hours must be positive"):
        window_for(None, 0, NOW)


def test_totals_components_top_new_and_regressed():
    w = window_for(None, 24, NOW)
    report = aggregate(frame(), META, w, history={"db": {w.day - timedelta(days=1): 2}}, history_is_complete=True)
    assert (report.total_events, report.total_issues) == (8, 3)
    db, billing = {c.component: c for c in report.components}["db"], {c.component: c for c in report.components}["billing"]
    assert (db.events, db.issues, db.previous, db.trend, db.rising) == (7, 2, 2, "↑", True)
    assert (billing.events, billing.new_issues, billing.priority, billing.trend) == (1, 1, "P1", "↑")  # fatal → P1
    assert db.priority == "P3" and report.components[0].component == "billing"
    assert [i.issue_id for i in report.top_issues] == ["1", "2", "3"]
    assert [i.issue_id for i in report.new_issues] == ["2"]
    assert [i.issue_id for i in report.regressed] == ["3"]
    assert report.levels == [("fatal", 1), ("error", 6), ("warning", 1)]
    assert report.previous_total == 2


def test_thresholds_and_unknown_history():
    w = window_for(None, 24, NOW)
    report = aggregate(frame(), META, w, history={}, thresholds=Thresholds(p1=100, p2=5, rise_factor=3))
    db = {c.component: c for c in report.components}["db"]
    assert (db.priority, db.trend, db.previous, db.average_7d) == ("P2", "new", None, None)


def test_daily_counts_assign_each_event_to_its_window():
    counts = daily_counts(frame(), NOW, NOW.date(), 14)
    by = {(r["day"], r["component"]): r["error_count"] for r in counts.to_dict("records")}
    assert by[(NOW.date(), "db")] == 7 and by[(NOW.date() - timedelta(days=1), "db")] == 2
    assert by[(NOW.date() - timedelta(days=6), "db")] == 1


def test_telegram_html_escapes_titles_and_passes_telegrams_parser():
    w = window_for(None, 24, NOW)
    meta = dict(META, **{"1": dict(META["1"], title="TemplateError: unexpected '<' in <b>{{ total }}</b> & tax_*rate*")})
    html = telegram_html(aggregate(frame(), meta, w, history={}, link=lambda i: f"https://gt.example/acme/issues/{i}"))
    assert "&lt;b&gt;{{ total }}&lt;/b&gt; &amp; tax_*rate*" in html
    assert telegram_html_error(html) is None


def test_telegram_html_stays_under_the_limit():
    rows = [ev(str(n), 1, component=f"component-{n}-" + "x" * 60) for n in range(400)]
    meta = {str(n): {"title": "T" * 200, "level": "error", "first_seen": NOW - timedelta(days=3)} for n in range(400)}
    html = telegram_html(aggregate(events_frame(rows), meta, window_for(None, 24, NOW), history={}))
    assert len(html) <= 4096 and html.endswith("more lines)") and telegram_html_error(html) is None


def test_quiet_day_says_so():
    report = aggregate(events_frame([]), {}, window_for(None, 24, NOW), history={})
    assert report.quiet and "All quiet" in telegram_html(report)
    text, blocks = slack_blocks(report)
    assert "all quiet" in text and len(blocks) == 2


def test_slack_blocks_escape_and_fit():
    w = window_for(None, 24, NOW)
    text, blocks = slack_blocks(aggregate(frame(), META, w, history={}))
    body = str(blocks)
    assert "Timeout &lt;db&gt; &amp; pool" in body
    assert len(blocks) <= 50 and all(len(b.get("text", {}).get("text", "")) <= 3000 for b in blocks)
