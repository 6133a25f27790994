"""Storage on SQLite and PostgreSQL: migrations, audit rows written before and after an action."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlmodel import select

from models.audit import AuditLog
from models.db import current_revision, engine_for, session_scope, upgrade
from triageflow.audit import acting_as, audited, recent


def test_migrations_create_the_schema(database_url):
    from models.db import head_revision

    assert current_revision(database_url) == head_revision()
    columns = {c["name"] for c in inspect(engine_for(database_url)).get_columns("audit_log")}
    assert {"actor", "system", "action", "target", "dry_run", "outcome", "detail", "created_at"} <= columns


def test_upgrading_again_keeps_existing_rows(database_url):
    with audited(database_url, "glitchtip", "comment.add", "issue:1", dry_run=False):
        pass
    upgrade(database_url)
    assert len(recent(database_url)) == 1


def test_audit_row_records_outcome_actor_and_scrubbed_detail(database_url):
    with acting_as("flow:investigate-issue"), audited(
        database_url, "glitchtip", "comment.add", "issue:9", dry_run=False,
        detail={"to": "client@example.com", "password": "hunter2"},
    ) as entry:
        with session_scope(database_url) as s:  # recorded before the action completes
            pending = s.exec(select(AuditLog)).one()
            assert pending.outcome == "pending"
        entry.detail["comment_id"] = 7
    row = recent(database_url)[0]
    assert (row.actor, row.system, row.action, row.target, row.outcome) == (
        "flow:investigate-issue", "glitchtip", "comment.add", "issue:9", "ok")
    assert row.detail == {"to": "[email]", "password": "[redacted]", "comment_id": 7}
    assert row.created_at is not None and row.dry_run is False


def test_failed_action_is_audited_as_error_and_reraised(database_url):
    with pytest.raises(RuntimeError, match="boom"):
        with audited(database_url, "glitchtip", "issue.status", "issue:3", dry_run=False):
            raise RuntimeError("boom for +79001234567")
    row = recent(database_url)[0]
    assert row.outcome == "error" and row.error == "RuntimeError: boom for [phone]"


def test_dry_run_is_marked(database_url):
    with audited(database_url, "glitchtip", "comment.add", "issue:1", dry_run=True):
        pass
    assert recent(database_url)[0].outcome == "dry-run"


def test_session_scope_rolls_back_half_written_work(database_url):
    with pytest.raises(ValueError):
        with session_scope(database_url) as s:
            s.add(AuditLog(actor="a", system="s", action="x", target="t", outcome="ok", detail={}))
            s.flush()
            raise ValueError("stop")
    with session_scope(database_url) as s:
        assert s.exec(text("select count(*) from audit_log")).one()[0] == 0


def test_an_old_schema_upgrades_without_losing_rows(tmp_path):
    """A database made by the first release (0001) keeps its audit rows through later migrations."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0001")
    with audited(url, "glitchtip", "comment.add", "issue:1", dry_run=False):
        pass
    upgrade(url)
    from models.db import head_revision

    assert current_revision(url) == head_revision() and len(recent(url)) == 1
    assert "runbook_unlink" in inspect(engine_for(url)).get_table_names()


def test_doctor_flags_a_schema_behind_the_code(tmp_path):
    from triageflow.doctor import check_database
    from triageflow.settings import load_settings

    url = f"sqlite:///{tmp_path / 'behind.db'}"
    upgrade(url, "0001")
    check = check_database(load_settings(TRIAGE_DATABASE_URL=url))
    from models.db import head_revision

    assert check.broken and f"schema 0001 is behind {head_revision()}" in check.detail


def test_runbook_index_and_unlinks(database_url):
    from pathlib import Path

    from tasks.runbook_links import index_runbooks, record_unlink, unlinked_issue_ids
    from tasks.runbooks import load_runbooks

    books, _ = load_runbooks(Path(__file__).resolve().parents[2] / "runbooks")
    first = index_runbooks(database_url, books)
    assert first == index_runbooks(database_url, books) > 40  # re-indexing replaces
    assert record_unlink(database_url, "7", "expired-session-or-token", "wrong") is True
    assert record_unlink(database_url, "7", None) is False  # once is enough; the row is kept
    assert unlinked_issue_ids(database_url) == {"7"}
