"""Pure parts of an investigation: search terms, suspect ranking, similarity, the comment."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from models.investigations import CommitReport, FrameReport, Investigation, SimilarReport, SuspectReport
from models.payloads import Issue
from tasks.codebase import message_fragment, search_terms
from tasks.git_history import CommitInfo, humanize
from tasks.suspects import CALLEE, FILE, LINE, Evidence, event_release, rank_suspects, suspect_note
from tasks.investigation_report import render
from tasks.similarity import most_similar, similarity
from tasks.stacktrace import StackFrame

NOW = datetime(2026, 11, 23, 12, tzinfo=timezone.utc)


def commit(sha, days_ago, subject="change"):
    return CommitInfo(sha, sha[:7], subject, "Dev", NOW - timedelta(days=days_ago))


def test_message_fragment_drops_dynamic_parts():
    assert message_fragment("Connection timeout to PostgreSQL at db.internal:5432 (attempt 1, pool=main)") == \
        "Connection timeout to PostgreSQL at"
    assert message_fragment("WhatsApp session expired for company 962302") == "WhatsApp session expired for company"
    assert message_fragment("division by zero") == "division by zero"
    assert message_fragment("'price'") is None


def test_search_terms_skip_generic_function_names():
    frames = [StackFrame("a.py", "total_price", None, 1, None, None, True, "python"),
              StackFrame("b.py", "<lambda>", None, 1, None, None, True, "python"),
              StackFrame("c.py", "main", None, 1, None, None, True, "python")]
    assert search_terms(frames, "app.x in total_price", "division by zero") == ["division by zero", "total_price"]


def test_a_blamed_crashing_line_outranks_newer_commits_that_only_touched_the_file():
    first_seen = NOW - timedelta(days=1)
    a, b, c, d = commit("a" * 40, 2), commit("b" * 40, 10), commit("c" * 40, 1.5), commit("d" * 40, 0.5)
    found = {
        "a": (a, [Evidence(FILE, "inner.py", None, 0, False)]),
        "b": (b, [Evidence(LINE, "inner.py", 16, 0, False), Evidence(FILE, "inner.py", None, 0, False)]),
        "c": (c, [Evidence(FILE, "outer.py", None, 1, False)]),
        "d": (d, [Evidence(LINE, "outer.py", 3, 1, False)]),  # landed after the error appeared: not a suspect
    }
    ranked = rank_suspects(found, first_seen)
    assert [s.commit.sha[0] for s in ranked] == ["b", "a", "c"]
    assert [s.confidence for s in ranked] == ["high", "low", "low"]
    assert ranked[0].blamed_line == 16 and "crashing line" in ranked[0].reason
    assert humanize(ranked[1].before_first_seen) == "24 h"


def issue(id_, title, culprit="", type_="", value=""):
    return Issue.model_validate({
        "id": id_, "shortId": f"X-{id_}", "title": title, "culprit": culprit, "level": "error", "status": "resolved",
        "count": "1", "firstSeen": NOW.isoformat(), "lastSeen": NOW.isoformat(),
        "project": {"id": "1", "slug": "api", "name": "api"}, "metadata": {"type": type_, "value": value}})


def test_similarity_ignores_numbers_and_ranks_the_closest_first():
    me = issue("1", "ConnectionTimeout: Connection timeout to PostgreSQL at db.internal:5432 (attempt 1, pool=main)",
               "app.database.postgres in connect", "ConnectionTimeout", "Connection timeout to PostgreSQL (attempt 1)")
    close = issue("23", "ConnectionTimeout: Connection timeout to PostgreSQL at db.internal:5432 (attempt 3, pool=reports)",
                  "app.database.postgres in connect", "ConnectionTimeout", "Connection timeout to PostgreSQL (attempt 3)")
    far = issue("24", "RateLimited: YClients API returned 429", "app.integrations.yclients in fetch_records",
                "RateLimited", "YClients API returned 429")
    assert similarity(me, close) > 90 > 40 > similarity(me, far)
    assert [o.id for o, _ in most_similar(me, [far, close, me])] == ["23"]


def test_comment_has_every_section_and_no_unescaped_table_breaks():
    c = CommitReport(sha="a" * 40, short="aaaaaaa", subject="Average | the price", author="Ivan", date=NOW)
    inv = Investigation(
        issue_id="9", short_id="WORKER-3", title="ZeroDivisionError: division by zero", level="fatal",
        status="unresolved", project="worker", events=13, first_seen=NOW, last_seen=NOW, culprit="x in y",
        event_id="e", link="http://gt/acme/issues/9",
        frames=[FrameReport(location="app/m.py:16 in total_price", repo_path="app/m.py", function="total_price",
                            line=16, context_line="return a / b")],
        stack_excerpt="app/m.py:16", suspects=[SuspectReport(commit=c, path="app/m.py", reason="changed app/m.py",
                                                             blamed_line=16, before_first_seen="2 h",
                                                             landed_seconds_before_first_seen=7200)],
        similar=[SimilarReport(issue_id="26", title="ZeroDivisionError: float division by zero", status="resolved",
                               score=90, link="http://gt/acme/issues/26", resolution=["Rejected empty carts"])])
    text = render(inv)
    for heading in ("Where it fails", "Suspect commits", "Similar resolved issues", "Runbook", "Stack excerpt"):
        assert heading in text
    assert "Average \\| the price" in text and "most likely introduced by `aaaaaaa`" in text
    assert "No runbook matches." in text and "Automated investigation by triageflow" in text


def test_comment_header_names_the_issue_when_the_server_sends_no_short_id_or_culprit():
    inv = Investigation(
        issue_id="12", short_id="", title="Payment gateway timed out", level="error", status="unresolved",
        project="booking", events=3, first_seen=NOW, last_seen=NOW, culprit="", event_id=None,
        link="http://gt/acme/issues/12")
    header = render(inv).splitlines()[1]
    assert header.startswith("issue 12 · error · 3 events")
    assert "``" not in render(inv)


def test_event_release_from_its_object_its_string_or_its_tag():
    assert event_release({"release": {"version": "booking@1.4.2"}}) == "booking@1.4.2"
    assert event_release({"release": "1.4.2"}) == "1.4.2"
    assert event_release({"tags": [{"key": "env", "value": "prod"}, {"key": "release", "value": "v2"}]}) == "v2"
    assert event_release({"release": None, "tags": []}) is None and event_release(None) is None


def test_a_test_frames_own_line_counts_less_than_what_it_called():
    first_seen = NOW - timedelta(days=1)
    found = {
        "t": (commit("t" * 40, 3, "More tests"), [Evidence(LINE, "tests/test_a.py", 9, 0, True)]),
        "c": (commit("c" * 40, 20, "Change a"), [Evidence(CALLEE, "app/a.py", 9, 0, True, "a")]),
    }
    ranked = rank_suspects(found, first_seen, first_code_rank=None)
    assert [(s.commit.subject, s.confidence) for s in ranked] == [("Change a", "high"), ("More tests", "medium")]
    assert suspect_note(ranked, True) is None and suspect_note([], True).startswith("no candidate")
