"""runbook_sweep end to end: the sandbox's issues, the real runbooks, a Prefect harness, a real database."""

from __future__ import annotations

import shutil

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from flows.runbook_sweep import MalformedRunbooks, runbook_sweep
from models.db import session_scope
from models.runbooks import RunbookPattern
from triageflow.audit import recent
from triageflow.cli import app
from triageflow.sandbox import seed

EXPECTED = {  # sandbox issue → runbook, as an on-call engineer would link them
    "1": "database-connection", "6": "database-connection", "20": "database-connection",
    "3": "upstream-rate-limited", "8": "upstream-rate-limited",
    "2": "expired-session-or-token", "7": "expired-session-or-token", "13": "expired-session-or-token",
    "19": "expired-session-or-token", "14": "redis-connection-refused", "15": "upstream-timeout",
    "31": "upstream-timeout", "32": "upstream-timeout", "16": "module-not-found", "17": "out-of-memory",
    "18": "disk-full",
}


def linked_runbooks(glitchtip) -> dict[str, str]:
    found = {}
    for issue in glitchtip.issues(None):
        for comment in glitchtip.comments(issue.id):
            if "<!-- triageflow:runbook:" in comment.text:
                found[issue.id] = comment.text.split("<!-- triageflow:runbook:")[1].split(" -->")[0]
    return found


def test_first_sweep_links_second_links_nothing_new(prefect_harness, triage_env, glitchtip, control):
    first = runbook_sweep()
    assert linked_runbooks(glitchtip) == EXPECTED
    counts = first["counts"]
    unresolved = sum(1 for s in seed.ISSUES if s.status == "unresolved")
    assert counts["linked"] == len(EXPECTED) and counts["scanned"] == unresolved
    assert counts["skipped_no_match"] == unresolved - len(EXPECTED)

    comment = next(c for c in glitchtip.comments(1) if "Runbook:" in c.text)
    assert "**Runbook: [Database connection timeout or pool exhausted](runbooks/database-connection.md)**" in comment.text
    assert "### Quick fix" in comment.text and "pg_stat_activity" in comment.text
    assert "triage runbooks unlink 1" in comment.text

    posts = len(control.requests("/api/0/issues/", "POST"))
    second = runbook_sweep()  # nothing changed since: nothing to consider
    assert second["counts"]["scanned"] == 0 and second["counts"]["linked"] == 0
    full = runbook_sweep(full=True)  # every issue again: each link is found on the server
    assert full["counts"]["linked"] == 0 and full["counts"]["skipped_already_linked"] == len(EXPECTED)
    assert len(control.requests("/api/0/issues/", "POST")) == posts
    audit = [(r.action, r.outcome) for r in recent(triage_env["TRIAGE_DATABASE_URL"], 100)]
    assert audit.count(("comment.add", "ok")) == len(EXPECTED)


def test_unlinked_issue_stays_unlinked(prefect_harness, triage_env, glitchtip):
    runbook_sweep()
    result = CliRunner().invoke(app, ["runbooks", "unlink", "1", "--reason", "it was the replica"])
    assert result.exit_code == 0, result.output
    assert "issue 1: unlinked; removed comments:" in result.output
    assert "1" not in linked_runbooks(glitchtip)
    assert runbook_sweep()["counts"]["linked"] == 0  # nothing changed: nothing considered
    again = runbook_sweep(full=True)  # reconsidered, it is still not linked
    row = next(r for r in again["rows"] if r["issue_id"] == "1")
    assert row["outcome"] == "unlinked by a human" and again["counts"]["skipped_unlinked"] == 1
    assert "1" not in linked_runbooks(glitchtip)
    second_unlink = CliRunner().invoke(app, ["runbooks", "unlink", "1"])
    assert "already unlinked" in second_unlink.output


def test_dry_run_posts_nothing_and_audits(prefect_harness, triage_env, glitchtip, control):
    result = runbook_sweep(dry_run=True)
    assert result["counts"]["linked"] == len(EXPECTED) and result["dry_run"] is True
    assert control.requests("/api/0/issues/", "POST") == []
    rows = recent(triage_env["TRIAGE_DATABASE_URL"], 100)
    assert len(rows) == len(EXPECTED) and all(r.dry_run and r.outcome == "dry-run" for r in rows)


def test_patterns_are_indexed_on_each_sweep(prefect_harness, triage_env):
    runbook_sweep(query="is:ignored")
    with session_scope(triage_env["TRIAGE_DATABASE_URL"]) as s:
        rows = list(s.exec(select(RunbookPattern)))
    assert {r.runbook_id for r in rows} >= set(EXPECTED.values())
    assert any(r.kind == "exclude" for r in rows)
    runbook_sweep(query="is:ignored")
    with session_scope(triage_env["TRIAGE_DATABASE_URL"]) as s:
        assert len(list(s.exec(select(RunbookPattern)))) == len(rows)  # replaced, not appended


def test_malformed_runbook_fails_the_run_after_linking_with_the_rest(prefect_harness, triage_env, glitchtip,
                                                                     tmp_path, monkeypatch):
    from triageflow.settings import reset_settings

    books = tmp_path / "books"
    shutil.copytree(triage_env_runbooks(), books)
    (books / "broken.md").write_text("---\ntitle: Broken\npatterns: ['(unclosed']\n---\n## Symptoms\nx\n")
    monkeypatch.setenv("RUNBOOKS_DIR", str(books))
    reset_settings()
    state = runbook_sweep(return_state=True)
    assert state.is_failed()
    with pytest.raises(MalformedRunbooks, match="broken.md: .*bad regular expression"):
        state.result()
    assert linked_runbooks(glitchtip) == EXPECTED


def triage_env_runbooks():
    from triageflow.settings import load_settings

    return load_settings().runbooks_dir
