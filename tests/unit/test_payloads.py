"""The typed models parse what the real GlitchTip sent (recorded bodies), with its quirks."""

from __future__ import annotations

import json

import httpx
import pytest

from models.payloads import Comment, Event, Issue, StatsSeries, TagSummary
from triageflow.clients.glitchtip import server_message


def body(peers, name):
    return json.loads((peers / "glitchtip" / "api" / f"{name}.json").read_text())["body"]


def test_issue_list_items_parse_with_string_counts(peers):
    issues = [Issue.model_validate(i) for i in body(peers, "org-issues-unresolved")]
    assert len(issues) == 10
    assert all(isinstance(i.count, str) and i.event_count >= 1 for i in issues)
    message = next(i for i in issues if i.type == "default")
    assert message.culprit == "" and message.exception_type == "" and message.exception_value == message.title


def test_issue_detail_has_comment_count(peers):
    issue = Issue.model_validate(body(peers, "issue-detail"))
    assert issue.num_comments == 0 and issue.short_id == "WORKER-3" and issue.project.id == "2"


def test_python_event_frames_innermost_last(peers):
    event = Event.model_validate(body(peers, "issue-event-latest"))
    frames = event.exceptions()[0].stacktrace.frames
    assert frames[-1].filename == "app/services/booking_monitor.py" and frames[-1].line_no == 16
    assert frames[-1].in_app is None  # the Python SDK sent no in_app: decided from the path later
    assert frames[-1].context[-1][0] == 16
    assert event.tag("component") == "billing"


def test_chained_exception_is_cause_first(peers):
    event = Event.model_validate(body(peers, "event-latest-chained-exception"))
    assert [e.type for e in event.exceptions()] == ["ConnectionTimeout", "RuntimeError"]
    assert event.user is None


def test_node_event_with_webpack_paths_and_null_sdk_fields(peers):
    event = Event.model_validate(body(peers, "event-latest-node-webpack"))
    frames = event.exceptions()[0].stacktrace.frames
    assert frames[-1].abs_path == "webpack://web/./src/pages/checkout.ts" and frames[-1].col_no == 17
    assert frames[0].in_app is False


def test_message_event_has_text_and_no_exception(peers):
    event = Event.model_validate(body(peers, "event-latest-message-cyrillic"))
    assert event.exceptions() == [] and event.message_text().startswith("Ошибка")


def test_comments_tags_and_stats(peers):
    comment = Comment.model_validate(body(peers, "comment-add"))
    assert comment.text == "**Automated investigation** test"
    tags = [TagSummary.model_validate(t) for t in body(peers, "issue-tags")]
    assert {t.key for t in tags} >= {"component", "server_name"}
    stats = StatsSeries.model_validate(body(peers, "stats-v2-with-start-end"))
    assert len(stats.intervals) == 26 and sum(stats.totals()) == 21


@pytest.mark.parametrize("name,expected", [
    ("issue-not-found", "No Issue matches the given query."),
    ("comment-add-flat-text", "data: This field is required."),
    ("stats-v2", "start: This field may not be null.; end: This field may not be null."),
    ("comment-add-org-scoped", "403 Forbidden — CSRF verification failed. Request aborted."),
    ("project-stats", "Server Error (500)"),
])
def test_server_messages_are_extracted_from_every_error_shape(peers, name, expected):
    recording = json.loads((peers / "glitchtip" / "api" / f"{name}.json").read_text())
    raw = recording["body"] if isinstance(recording["body"], str) else json.dumps(recording["body"])
    response = httpx.Response(recording["status"], headers={"content-type": recording["headers"]["content-type"]},
                              content=raw.encode())
    assert server_message(response) == expected
