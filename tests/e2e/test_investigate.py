"""investigate_issue end to end: the sandbox GlitchTip, its sample repository, a Prefect harness, a database."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from flows.investigate import investigate_issue
from models.db import session_scope
from models.investigations import InvestigationLog
from triageflow.audit import recent
from triageflow.cli import app
from triageflow.clients.errors import NotFound

MARKER = "<!-- triageflow:investigation:{} -->"


def investigation_comments(glitchtip, issue_id):
    return [c for c in glitchtip.comments(issue_id) if MARKER.format(issue_id) in c.text]


def test_zero_division_names_the_file_the_suspect_commit_and_the_similar_issue(prefect_harness, triage_env, glitchtip):
    result = investigate_issue("9")
    assert result["comment_status"] == "posted"
    [comment] = investigation_comments(glitchtip, 9)
    text = comment.text
    assert "### Automated investigation: ZeroDivisionError: division by zero" in text
    assert "1. `app/services/booking_monitor.py:16 in total_price`" in text
    assert "| `app/services/booking_monitor.py` |" in text
    suspects = text.split("#### Suspect commits")[1].split("####")[0]
    assert suspects.splitlines()[3].startswith("| `") and "Average the price over paid items only" in suspects.splitlines()[3]
    assert "last changed line 16 of app/services/booking_monitor.py (the crashing line)" in suspects
    assert suspects.splitlines()[3].endswith("| high |") and "before it was first seen (high confidence)." in text
    similar = text.split("#### Similar resolved issues")[1].split("####")[0]
    assert "[#26 ZeroDivisionError: float division by zero]" in similar
    assert "empty carts reached total_price" in similar
    assert "No runbook matches." in text
    assert "Automated investigation by triageflow" in text
    assert "client42@example.com" not in text and "@example.com" not in text  # scrubbed


def test_second_run_posts_nothing_and_comes_from_the_cache(prefect_harness, triage_env, glitchtip, control):
    investigate_issue("1")
    posts = len(control.requests("/api/0/issues/1/comments/", "POST"))
    again = investigate_issue("1")
    assert again["cached"] and again["comment_status"] == "already posted"
    assert len(control.requests("/api/0/issues/1/comments/", "POST")) == posts == 1
    assert len(investigation_comments(glitchtip, 1)) == 1


def test_database_timeout_points_at_the_timeout_change_and_the_runbook(prefect_harness, triage_env, glitchtip):
    result = investigate_issue("1", post_comment=False)
    inv = result["investigation"]
    assert inv["frames"][0]["repo_path"] == "app/database/postgres.py"
    assert inv["suspects"][0]["commit"]["subject"] == "Lower the PostgreSQL connect timeout to 3 s to fail fast"
    assert inv["suspects"][0]["reason"].startswith("changed CONNECT_TIMEOUT in app/database/postgres.py, read by connect()")
    assert inv["suspects"][0]["confidence"] == "medium"
    assert "Initial booking service skeleton" in [s["commit"]["subject"] for s in inv["suspects"]]  # 45 days old: kept
    assert inv["similar"][0]["issue_id"] == "23" and inv["similar"][0]["score"] >= 90
    assert inv["runbook"]["id"] == "database-connection"
    assert any(m["term"] == "Connection timeout to PostgreSQL at" and m["path"] == "app/database/postgres.py"
               for m in inv["code_matches"])
    assert result["comment_status"] == "not requested" and investigation_comments(glitchtip, 1) == []


def test_force_posts_again_and_a_new_event_invalidates_the_cache(prefect_harness, triage_env, glitchtip, sandbox):
    investigate_issue("4")
    forced = investigate_issue("4", force=True)
    assert not forced["cached"] and forced["comment_status"] == "posted"
    assert len(investigation_comments(glitchtip, 4)) == 2
    from datetime import datetime, timezone

    from triageflow.sandbox.seed import SeedEvent

    record = sandbox.sandbox.glitchtip.issues[4]
    record.events.append(SeedEvent("f" * 32, 4, datetime.now(timezone.utc), "api-1", None))
    fresh = investigate_issue("4", post_comment=False)
    assert not fresh["cached"] and fresh["investigation"]["event_id"] == "f" * 32


def test_unknown_issue_fails_the_run_with_a_clear_message(prefect_harness, triage_env):
    state = investigate_issue("4812", return_state=True)
    assert state.is_failed()
    with pytest.raises(NotFound, match="issue 4812 not found in org 'acme'"):
        state.result()


def test_without_a_codebase_it_still_reports_what_the_api_says(prefect_harness, triage_env, monkeypatch, tmp_path):
    from triageflow.settings import reset_settings

    monkeypatch.setenv("CODEBASE_PATH", str(tmp_path))  # a folder, not a checkout
    reset_settings()
    result = investigate_issue("9", post_comment=False)
    inv = result["investigation"]
    assert inv["suspects"] == [] and inv["similar"][0]["issue_id"] == "26"
    assert any("is not a git checkout" in note for note in inv["limitations"])
    assert "#### Not checked" in result["markdown"]


def test_message_without_stack_trace_gives_a_sensible_report(prefect_harness, triage_env):
    result = investigate_issue("13", post_comment=False)
    inv = result["investigation"]
    assert inv["frames"] == [] and any("no event of this issue has a stack trace" in n for n in inv["limitations"])
    assert inv["runbook"]["id"] == "expired-session-or-token"


def test_dry_run_posts_nothing_and_logs_the_investigation(prefect_harness, triage_env, glitchtip, control):
    result = investigate_issue("113", dry_run=True)
    assert result["comment_status"] == "dry-run"
    assert control.requests("/api/0/issues/113/comments/", "POST") == []
    assert [r.outcome for r in recent(triage_env["TRIAGE_DATABASE_URL"])] == ["dry-run"]
    with session_scope(triage_env["TRIAGE_DATABASE_URL"]) as s:
        row = s.exec(select(InvestigationLog)).one()
    assert row.issue_id == "113" and row.comment_status == "dry-run" and row.helpful is None
    assert row.result["frames"][0]["repo_path"] == "web/src/pages/checkout.ts" and row.flow_run_id


def test_cli_json_and_markdown(prefect_harness, triage_env):
    runner = CliRunner()
    as_json = runner.invoke(app, ["investigate", "12", "--json", "--dry-run"])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    assert data["frames"][0]["exception_type"] == "ConnectionTimeout" and data["comment_status"] == "dry-run"
    assert {"files", "suspects", "recent_commits", "similar", "runbook", "code_matches"} <= data.keys()
    text = runner.invoke(app, ["investigate", "12", "--dry-run"])
    assert "### Automated investigation: RuntimeError" in text.stdout
    missing = runner.invoke(app, ["investigate", "4812"])
    assert missing.exit_code == 1 and "issue 4812 not found in org 'acme'" in missing.output
