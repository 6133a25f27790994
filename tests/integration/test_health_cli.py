"""`triage health`, `triage feedback` and `triage snooze` against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from typer.testing import CliRunner

from models.audit import AuditLog
from models.db import session_scope
from models.flow_health import FlowHealth
from models.investigations import InvestigationLog
from models.runbooks import RunbookUnlink
from triageflow.cli import app
from triageflow.settings import reset_settings
from triageflow.snooze import is_snoozed, snooze, snoozed_until, unsnooze

runner = CliRunner()


@pytest.fixture
def db_env(database_url, monkeypatch, tmp_path):
    monkeypatch.setenv("TRIAGE_DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    reset_settings()
    yield database_url
    reset_settings()


def invoke(*args):
    return runner.invoke(app, list(args), catch_exceptions=False)


def _history(url: str) -> None:
    now = datetime.now(timezone.utc)
    with session_scope(url) as session:
        for n, (flow, state, secs, summary) in enumerate([
            ("investigate-issue", "Completed", 2.0, "3 files, 2 suspects, fresh, comment posted"),
            ("investigate-issue", "Completed", 4.0, "1 files, 0 suspects, cached, comment already posted"),
            ("investigate-issue", "Failed", 6.0, ""),
            ("runbook-sweep", "Completed", 900.0, "37 scanned, 5 linked"),
        ]):
            session.add(FlowHealth(flow_run_id=f"run-{n}", flow_name=flow, state=state, duration_s=secs,
                                   summary=summary, finished_at=now - timedelta(hours=n),
                                   error="Unavailable: glitchtip unreachable" if state == "Failed" else None))
        session.add(FlowHealth(flow_run_id="old", flow_name="daily-metrics", state="Completed", duration_s=1,
                               finished_at=now - timedelta(days=30)))
        for cached in (False, True, True):
            session.add(InvestigationLog(issue_id="9", title="t", duration_ms=10, cached=cached, comment_status="posted"))
        for issue in ("1", "2", "3", "4"):
            session.add(AuditLog(actor="flow:runbook-sweep", system="glitchtip", action="comment.add",
                                 target=f"issue:{issue}", outcome="ok",
                                 detail={"marker": f"<!-- triageflow:runbook:disk-full -->"}))
        session.add(AuditLog(actor="flow:investigate", system="glitchtip", action="comment.add", target="issue:9",
                             outcome="ok", detail={"marker": "<!-- triageflow:investigation:9 -->"}))
        session.add(AuditLog(actor="flow:alert-triage", system="github", action="issue.create", target="repo#1",
                             outcome="ok", detail={}))
        session.add(RunbookUnlink(issue_id="2", actor="cli"))


def test_health_shows_each_flow_and_the_outcomes(db_env):
    _history(db_env)
    result = invoke("health", "--days", "7")
    assert result.exit_code == 0, result.output
    lines = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.count("│") > 3
             and line.split("│")[1].strip()}
    assert "3" in lines["investigate-issue"].split("│")[2] and "67 %" in lines["investigate-issue"]
    assert "4.0 s" in lines["investigate-issue"]  # the median of 2, 4 and 6 s
    assert "15.0 min" in lines["runbook-sweep"] and "daily-metrics" not in result.output  # older than 7 days
    assert "investigations: 3, cache hit ratio 67 %" in result.output
    assert "runbook links added: 4, unlinked by people: 1, accuracy 75 %" in result.output
    assert "issues created: 1" in result.output


def test_health_shows_the_last_canary_and_urls_down(db_env):
    from models.flow_health import CanaryRun, UptimeState

    now = datetime.now(timezone.utc)
    with session_scope(db_env) as session:
        session.add(CanaryRun(canary_id="tfcanary1", outcome="ok", latency_s=0.42, issue_id="40", detail="intact"))
        session.add(UptimeState(url="http://a/health", up=True, since=now, checked_at=now))
        session.add(UptimeState(url="http://b/health", up=False, since=now, checked_at=now))
    output = invoke("health").output
    assert "last canary: ok, 0.42 s" in output and "uptime: 1 of 2 URLs up; down: http://b/health" in output


def test_health_with_no_history_says_so(db_env):
    result = invoke("health")
    assert result.exit_code == 0 and "no flow runs recorded in the last 7 days" in result.output


def test_feedback_fills_the_latest_investigation(db_env):
    _history(db_env)
    result = invoke("feedback", "9", "helpful")
    assert result.exit_code == 0 and "marked helpful" in result.output
    assert "helpful 100 % of 1 rated" in invoke("health").output
    assert invoke("feedback", "9", "not").exit_code == 0
    assert "helpful 0 % of 1 rated" in invoke("health").output


def test_feedback_names_what_is_wrong(db_env):
    bad = invoke("feedback", "9", "maybe")
    assert bad.exit_code == 2 and "verdict must be 'helpful' or 'not'" in bad.output
    missing = invoke("feedback", "12345", "helpful")
    assert missing.exit_code == 1 and "issue 12345 has no investigation in the log" in missing.output


def test_snooze_lasts_its_duration_and_unsnooze_ends_it(database_url):
    now = datetime.now(timezone.utc)
    until = snooze(database_url, "9", timedelta(hours=24), "telegram:1001", now=now)
    assert is_snoozed(database_url, "9", now + timedelta(hours=23))
    assert not is_snoozed(database_url, "9", now + timedelta(hours=25))
    assert snoozed_until(database_url, "9", now) == until and not is_snoozed(database_url, "10", now)
    assert unsnooze(database_url, "9", "cli") and not is_snoozed(database_url, "9")
    assert not unsnooze(database_url, "9", "cli")


def test_snooze_command_refuses_a_bad_duration(db_env):
    result = invoke("snooze", "9", "forever")
    assert result.exit_code == 2 and "'forever' is not a duration" in result.output
    assert invoke("snooze", "9", "2h").exit_code == 0 and is_snoozed(db_env, "9")
