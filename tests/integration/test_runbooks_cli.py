"""`triage runbooks list|test|unlink` against the real runbooks and the sandbox."""

from __future__ import annotations

from typer.testing import CliRunner

from triageflow.cli import app

runner = CliRunner()


def test_list_shows_every_runbook(triage_env):
    result = runner.invoke(app, ["runbooks", "list"])
    assert result.exit_code == 0
    assert "8 runbooks" in result.output and "disk-full" in result.output


def test_list_reports_a_malformed_file_and_exits_1(triage_env, tmp_path, monkeypatch):
    from triageflow.settings import reset_settings

    (tmp_path / "oops.md").write_text("---\ntitle: [unclosed\n---\n")
    monkeypatch.setenv("RUNBOOKS_DIR", str(tmp_path))
    reset_settings()
    result = runner.invoke(app, ["runbooks", "list"])
    assert result.exit_code == 1 and "oops.md: front matter is not valid YAML" in result.output


def test_test_text_names_runbook_and_pattern(triage_env):
    result = runner.invoke(app, ["runbooks", "test", "OSError: [Errno 28] No space left on device"])
    assert result.exit_code == 0
    assert "matches disk-full" in result.output and "pattern 'No space left on device' fired on title" in result.output


def test_test_issue_uses_the_issue_fields(triage_env):
    result = runner.invoke(app, ["runbooks", "test", "--issue", "14"])
    assert result.exit_code == 0, result.output
    assert "matches redis-connection-refused" in result.output and "fired on any" in result.output


def test_test_without_a_match_exits_1(triage_env):
    result = runner.invoke(app, ["runbooks", "test", "ZeroDivisionError: division by zero"])
    assert result.exit_code == 1 and "no runbook: no match" in result.output


def test_test_needs_text_or_issue(triage_env):
    assert runner.invoke(app, ["runbooks", "test"]).exit_code == 2


def test_unlink_unknown_issue_records_nothing(triage_env):
    result = runner.invoke(app, ["runbooks", "unlink", "4812"])
    assert result.exit_code == 1 and "issue 4812 not found" in result.output
    from tasks.runbook_links import unlinked_issue_ids

    assert unlinked_issue_ids(triage_env["TRIAGE_DATABASE_URL"]) == set()


def test_unlink_keeps_the_record_when_the_server_refuses_the_delete(triage_env, glitchtip, control):
    from tasks.glitchtip_actions import post_comment_once
    from tasks.runbook_links import runbook_marker, unlinked_issue_ids

    post_comment_once(glitchtip, "3", "link", runbook_marker("upstream-rate-limited"), dry_run=False,
                      database_url=triage_env["TRIAGE_DATABASE_URL"])
    control.fault("/api/0/issues/3/comments/", "error", method="DELETE", status=500, times=20)
    result = runner.invoke(app, ["runbooks", "unlink", "3"])
    assert result.exit_code == 0, result.output
    assert "kept" in result.output
    assert unlinked_issue_ids(triage_env["TRIAGE_DATABASE_URL"]) == {"3"}
