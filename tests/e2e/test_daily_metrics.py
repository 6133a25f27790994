"""daily_metrics end to end: seeded GlitchTip, real python-telegram-bot and slack-sdk into the sandbox."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest
from sqlmodel import select

from flows.daily_metrics import ReportNotDelivered, daily_metrics
from models.db import session_scope
from models.metrics import ComponentDay, ReportDelivery
from triageflow.audit import recent
from triageflow.clients.errors import CircuitOpen, Unavailable
from triageflow.sandbox import seed


def expected_by_component(day_index: int) -> Counter:
    counts: Counter = Counter()
    for spec in seed.ISSUES:
        counts[spec.component] += spec.daily[day_index]
    return +counts


def rows(url, **where):
    with session_scope(url) as s:
        query = select(ComponentDay)
        for key, value in where.items():
            query = query.where(getattr(ComponentDay, key) == value)
        return list(s.exec(query))


def test_report_numbers_match_the_seeded_data(prefect_harness, triage_env, control):
    result = daily_metrics()
    today = expected_by_component(0)
    assert result["total_events"] == sum(today.values())
    assert result["total_issues"] == sum(1 for s in seed.ISSUES if s.daily[0])
    got = {c["component"]: c for c in result["components"]}
    assert {k: v["events"] for k, v in got.items()} == dict(today)
    yesterday = expected_by_component(1)
    assert all(got[c]["previous"] == yesterday.get(c, 0) for c in got)
    assert got["database"]["trend"] == "↑" and got["auth"]["trend"] == "↓"
    assert got["cache"]["new_issues"] == 1 and got["cache"]["rising"] is True
    top = max(seed.ISSUES, key=lambda s: s.daily[0])
    assert result["top_issues"][0]["issue_id"] == str(top.id)
    assert set(result["new_issues"]) == {str(s.id) for s in seed.ISSUES if s.daily[0] and not any(s.daily[1:])}
    assert "31" in result["regressed"]  # resolved a week ago, back today
    assert result["delivery"] == {"telegram": "sent", "slack": "sent"}


def test_history_is_stored_once_per_day_and_component(prefect_harness, triage_env):
    url = triage_env["TRIAGE_DATABASE_URL"]
    daily_metrics(send=False)
    today = date.today()
    first = {(r.day, r.component): r.error_count for r in rows(url)}
    assert {c for (d, c) in first if d == today} == set(expected_by_component(0))
    assert first[(today - timedelta(days=1), "database")] == expected_by_component(1)["database"]
    assert all(r.backfilled for r in rows(url) if r.day < today)
    daily_metrics(send=False)
    again = {(r.day, r.component): r.error_count for r in rows(url)}
    assert again == first and len(rows(url)) == len(first)  # updated in place, no duplicates


def test_telegram_and_slack_get_the_report_with_chart_buttons_and_escaping(prefect_harness, triage_env, control):
    daily_metrics()
    telegram = control.outbox("telegram")
    message = next(m for m in telegram if m["method"] == "sendMessage")
    assert message["parse_mode"] == "HTML" and len(message["text"]) <= 4096
    assert "Daily error report" in message["text"]
    assert "unexpected '&lt;' in &lt;b&gt;{{ total }}&lt;/b&gt; &amp; tax_*rate*" in message["text"]
    top = max(seed.ISSUES, key=lambda s: s.daily[0])
    buttons = message["reply_markup"]["inline_keyboard"][0]
    assert buttons[0]["callback_data"] == f"investigate:{top.id}" and buttons[1]["url"].endswith(f"/acme/issues/{top.id}")
    photo = next(m for m in telegram if m["method"] == "sendPhoto")
    assert photo["photo_is_png"] and photo["photo_bytes"] > 10_000
    slack = control.outbox("slack")
    post = next(m for m in slack if m["method"] == "chat.postMessage")
    assert post["blocks"][0]["type"] == "header" and "&lt;b&gt;" in str(post["blocks"])
    upload = next(m for m in slack if m["method"] == "files.upload")
    assert upload["is_png"] and upload["thread_ts"] == post["ts"]


def test_a_day_is_sent_once_and_again_only_with_force(prefect_harness, triage_env, control):
    daily_metrics()
    second = daily_metrics()
    assert second["delivery"] == {"telegram": "already sent", "slack": "already sent"}
    assert len(control.outbox()) == 4
    forced = daily_metrics(force=True)
    assert forced["delivery"] == {"telegram": "sent", "slack": "sent"} and len(control.outbox()) == 8


def test_dry_run_sends_nothing_and_audits(prefect_harness, triage_env, control):
    result = daily_metrics(dry_run=True)
    assert result["delivery"] == {"telegram": "dry-run", "slack": "dry-run"} and control.outbox() == []
    audit = recent(triage_env["TRIAGE_DATABASE_URL"])
    assert {(r.system, r.outcome) for r in audit} == {("telegram", "dry-run"), ("slack", "dry-run")}
    with session_scope(triage_env["TRIAGE_DATABASE_URL"]) as s:
        assert list(s.exec(select(ReportDelivery))) == []
    assert daily_metrics()["delivery"] == {"telegram": "sent", "slack": "sent"}  # a dry run does not count as sent


def test_telegram_down_slack_still_gets_it_and_the_run_fails_naming_telegram(prefect_harness, triage_env, control):
    control.fault("/bot", "error", status=502, times=100)
    state = daily_metrics(return_state=True)
    assert state.is_failed()
    with pytest.raises(ReportNotDelivered, match="not delivered to telegram"):
        state.result()
    assert control.outbox("telegram") == []
    slack = control.outbox("slack")
    health = [m for m in slack if "Flow daily-metrics failed" in (m.get("text") or "")]  # the failed run alerts (issue 14)
    assert [m["method"] for m in slack if m not in health] == ["chat.postMessage", "files.upload"] and len(health) == 1
    assert rows(triage_env["TRIAGE_DATABASE_URL"], day=date.today())  # the history was stored first


def test_glitchtip_down_fails_the_run_and_writes_nothing(prefect_harness, triage_env, control):
    control.fault("/api/0/", "error", status=503, times=1000)
    state = daily_metrics(return_state=True)
    assert state.is_failed()
    with pytest.raises((Unavailable, CircuitOpen), match="glitchtip"):
        state.result()
    sent = control.outbox()  # only the failed run's own alert (issue 14), no report
    assert rows(triage_env["TRIAGE_DATABASE_URL"]) == [] and len(sent) == 2
    assert all("Flow daily-metrics failed" in m["text"] for m in sent)


def test_a_day_without_errors_is_an_all_quiet_report(prefect_harness, triage_env, control):
    result = daily_metrics(day=date.today() - timedelta(days=30))
    assert result["quiet"] and result["total_events"] == 0
    message = next(m for m in control.outbox("telegram") if m["method"] == "sendMessage")
    assert "All quiet" in message["text"]


def test_weekly_report_and_the_cli(prefect_harness, triage_env, control):
    from typer.testing import CliRunner

    from triageflow.cli import app

    runner = CliRunner()
    weekly = runner.invoke(app, ["metrics", "--weekly", "--dry-run"])
    assert weekly.exit_code == 0, weekly.output
    week_total = sum(sum(s.daily[:7]) for s in seed.ISSUES)
    assert "# Weekly error report" in weekly.stdout and f"**{week_total} events in" in weekly.stdout
    bad = runner.invoke(app, ["metrics", "--day", "23/11/2026"])
    assert bad.exit_code == 2 and "--day must be YYYY-MM-DD" in bad.output
    future = runner.invoke(app, ["metrics", "--day", (date.today() + timedelta(days=3)).isoformat()])
    assert future.exit_code == 2 and "has not started yet" in future.output
    # no report went out; the one run that failed (the future day) alerted as every failed run does (issue 14)
    assert [m for m in control.outbox() if "Flow daily-metrics failed" not in m["text"]] == []
