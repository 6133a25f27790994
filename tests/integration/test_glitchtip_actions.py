"""Idempotent, dry-run-able, audited changes to GlitchTip, against the sandbox and a real database."""

from __future__ import annotations

from tasks.glitchtip_actions import change_status, comment_marker, post_comment_once
from triageflow.audit import recent


def test_comment_is_posted_once_and_scrubbed(glitchtip, database_url):
    marker = comment_marker("investigation", "9")
    body = "Card 4111-1111-1111-1111 failed for client@example.com"
    first = post_comment_once(glitchtip, "9", body, marker, dry_run=False, database_url=database_url)
    second = post_comment_once(glitchtip, "9", body, marker, dry_run=False, database_url=database_url)
    assert first.posted and first.reason == "posted"
    assert not second.posted and second.reason == "already posted" and second.comment_id == first.comment_id
    comments = glitchtip.comments(9)
    assert len(comments) == 1
    assert "4111" not in comments[0].text and "client@example.com" not in comments[0].text
    assert comments[0].text.endswith(marker)
    assert [(r.action, r.outcome) for r in recent(database_url)] == [("comment.add", "ok")]


def test_dry_run_comment_posts_nothing_but_is_audited(glitchtip, database_url, control):
    outcome = post_comment_once(glitchtip, "9", "hello", comment_marker("x", "9"), dry_run=True,
                                database_url=database_url)
    assert outcome.reason == "dry-run" and not outcome.posted
    assert control.requests("/api/0/issues/9/comments/", "POST") == []
    row = recent(database_url)[0]
    assert row.dry_run and row.outcome == "dry-run"


def test_forced_comment_posts_again(glitchtip, database_url):
    marker = comment_marker("x", "9")
    post_comment_once(glitchtip, "9", "one", marker, dry_run=False, database_url=database_url)
    again = post_comment_once(glitchtip, "9", "two", marker, dry_run=False, database_url=database_url, force=True)
    assert again.posted and len(glitchtip.comments(9)) == 2


def test_status_change_is_idempotent(glitchtip, database_url):
    first = change_status(glitchtip, "8", "resolved", dry_run=False, database_url=database_url)
    second = change_status(glitchtip, "8", "resolved", dry_run=False, database_url=database_url)
    assert (first.changed, first.before, first.after) == (True, "unresolved", "resolved")
    assert (second.changed, second.reason) == (False, "already resolved")
    assert [(r.action, r.outcome, r.target) for r in recent(database_url)] == [("issue.status", "ok", "issue:8")]


def test_failed_status_change_is_audited_as_error(glitchtip, database_url, control):
    control.fault("/api/0/", "error", method="PUT", status=500, times=10)  # whichever path the release takes
    import pytest

    from triageflow.clients.errors import Unavailable

    with pytest.raises(Unavailable):
        change_status(glitchtip, "8", "resolved", dry_run=False, database_url=database_url)
    row = recent(database_url)[0]
    assert row.outcome == "error" and "500" in row.error
