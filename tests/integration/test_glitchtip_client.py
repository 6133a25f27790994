"""The GlitchTip client against the sandbox over loopback: reads, paging, searches, changes, errors."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from triageflow.clients.errors import NotFound, Refused, Rejected, Unauthorized
from triageflow.clients.glitchtip import GlitchTip
from triageflow.sandbox import seed


def unresolved_specs():
    return [s for s in seed.ISSUES if s.status == "unresolved"]


def test_lists_every_unresolved_issue_across_pages(glitchtip, control):
    issues = list(glitchtip.issues("is:unresolved", limit=5))
    assert sorted(int(i.id) for i in issues) == sorted(s.id for s in unresolved_specs())
    pages = control.requests("/api/0/organizations/acme/issues/", "GET")
    assert len(pages) == -(-len(unresolved_specs()) // 5)  # ceil: one request per page, no more
    assert all(i.status == "unresolved" for i in issues)


def test_issue_fields_are_typed_as_the_server_sends_them(glitchtip):
    issue = glitchtip.issue(9)
    spec = seed.ISSUE_BY_ID[9]
    assert issue.count == str(sum(spec.daily)) and issue.event_count == sum(spec.daily)
    assert issue.title == "ZeroDivisionError: division by zero"
    assert issue.culprit == "app.services.booking_monitor in total_price"
    assert issue.project.slug == "worker" and issue.num_comments == 0
    assert issue.last_seen > issue.first_seen
    assert issue.metadata["filename"] == "app/services/booking_monitor.py"


@pytest.mark.parametrize("query,expected", [
    ("is:unresolved level:fatal", {4, 9, 17}),
    ("is:unresolved component:database", {1, 6, 12, 20}),
    ("is:resolved", {23, 24, 25, 26, 27, 28}),
    ("is:ignored", {29, 30}),
    ("ConnectionTimeout", {1, 6, 12, 23}),  # 12's cause is a ConnectionTimeout: the search finds the outer issue
    ("is:unresolved ConnectionTimeout", {1, 6, 12}),
    ("age:-24h", set()),  # accepted by the real server, matches nothing
])
def test_search_syntax_matches_the_real_server(glitchtip, query, expected):
    assert {int(i.id) for i in glitchtip.issues(query)} == expected


def test_project_filter_accepts_slug_or_id(glitchtip):
    by_slug = {i.id for i in glitchtip.issues(None, project="web")}
    by_id = {i.id for i in glitchtip.issues(None, project="3")}
    assert by_slug == by_id == {str(s.id) for s in seed.ISSUES if s.project == "web"}


def test_sort_by_frequency(glitchtip):
    counts = [i.event_count for i in glitchtip.issues("is:unresolved", sort="freq")]
    assert counts == sorted(counts, reverse=True)


def test_unknown_org_is_named_whichever_way_the_release_answers(sandbox, control):
    """The issue list answers 200 [] (2024), a 500 page (4.2.1) or 404 (5.1): the user sees one sentence."""
    expected = f"organization 'nope' not found on {sandbox.url} (check GLITCHTIP_ORG)"
    with GlitchTip(sandbox.url, sandbox.token, "nope", rate_limit=0, retries=0) as gt:
        with pytest.raises(NotFound) as info:
            list(gt.issues())
        assert str(info.value) == expected
        with pytest.raises(NotFound, match=r"organization 'nope' not found on .* \(check GLITCHTIP_ORG\)"):
            gt.organization()
    assert control.requests("/api/0/organizations/nope/issues/") == []  # the org check came first


def test_unknown_issue_names_issue_org_and_request(glitchtip, glitchtip_release):
    with pytest.raises(NotFound) as info:
        glitchtip.issue(4812)
    assert str(info.value) == "issue 4812 not found in org 'acme' (GET /api/0/issues/4812/ → 404)"
    words = "No Issue matches the given query." if glitchtip_release == "2024" else "Not Found"
    assert info.value.status == 404 and info.value.server_message == words


def test_bad_token_is_refused_by_the_named_server(sandbox, glitchtip_release):
    """403 on the 2024 release, 401 since 4.2.1: the same error either way."""
    with GlitchTip(sandbox.url, "x" * 40, "acme", rate_limit=0) as gt, pytest.raises(Unauthorized) as info:
        gt.projects()
    assert info.value.status == (403 if glitchtip_release == "2024" else 401)
    assert f"token refused by {sandbox.url}" in str(info.value)
    assert "x" * 40 not in repr(gt)


def test_organization_projects_teams_members(glitchtip):
    assert [o.slug for o in glitchtip.organizations()] == ["acme"]
    assert {p.slug for p in glitchtip.projects()} == {"api", "worker", "web"}
    assert glitchtip.teams()[0].slug == "backend"
    assert glitchtip.members()[0].email == "admin@example.com"
    assert glitchtip.project("worker").id == "2"
    assert glitchtip.project_keys("worker")[0]["projectId"] == 2  # `projectID` since 4.2.1: both are there


def test_events_latest_event_and_chained_exception(glitchtip):
    latest = glitchtip.latest_event(12)
    types = [e.type for e in latest.exceptions()]
    assert types == ["ConnectionTimeout", "RuntimeError"]  # cause first
    frames = latest.exceptions()[0].stacktrace.frames
    assert frames[-1].function == "connect" and frames[-1].context_line.strip().startswith("raise ConnectionTimeout")
    events = list(glitchtip.events(4, max_pages=None))
    assert len(events) == sum(seed.ISSUE_BY_ID[4].daily)
    assert [e.date_created for e in events] == sorted((e.date_created for e in events), reverse=True)
    assert events[0].id == latest_id(glitchtip, 4)


def latest_id(gt, issue_id):
    return gt.latest_event(issue_id).id


def test_message_event_has_no_frames(glitchtip):
    event = glitchtip.latest_event(13)
    assert event.exceptions() == [] and event.message_text().startswith("Ошибка")


def test_tags_and_one_tag(glitchtip):
    keys = {t.key for t in glitchtip.tags(9)}
    assert {"component", "operation", "server_name", "environment", "release"} <= keys
    component = glitchtip.tag(9, "component")
    assert component.top_values[0].value == "billing" and component.total_values == sum(seed.ISSUE_BY_ID[9].daily)


def test_comments_are_added_and_listed(glitchtip):
    assert glitchtip.comments(9) == []
    posted = glitchtip.add_comment(9, "**Automated investigation** test")
    listed = glitchtip.comments(9)
    assert [c.id for c in listed] == [posted.id] and listed[0].text == "**Automated investigation** test"
    assert glitchtip.issue(9).num_comments == 1


def test_status_changes_really_change_the_issue(glitchtip):
    assert glitchtip.resolve(8).status == "resolved"
    assert glitchtip.issue(8).status == "resolved"
    assert glitchtip.ignore(7).status == "ignored"
    assert glitchtip.unresolve(7).status == "unresolved"
    with pytest.raises(Refused, match="status must be one of"):
        glitchtip.set_status(7, "snoozed")


@pytest.mark.glitchtip_releases("2024")  # later releases do not show `assignedTo` on the issue
def test_assignment_sends_the_status_the_server_requires(glitchtip, control):
    issue = glitchtip.assign(9, "admin@example.com")
    assert issue.assigned_to["email"] == "admin@example.com" and issue.status == "unresolved"


def test_assignment_is_accepted_on_every_release(glitchtip, control):
    assert glitchtip.assign(9, "admin@example.com").status == "unresolved"
    assert [r["status"] for r in control.requests("/api/0/", "PUT")] == [200]


def test_server_validation_error_is_rejected_with_field_message(glitchtip):
    with pytest.raises(Rejected, match="assignedTo: Unknown actor"):
        glitchtip.assign(9, "stranger@example.com")


def test_bulk_change_refuses_without_ids(glitchtip, control):
    with pytest.raises(Refused, match="no issue ids given"):
        glitchtip.bulk_set_status([], "ignored")
    assert control.requests("/api/0/organizations/acme/issues/", "PUT") == []


def test_bulk_change_writes_a_backup_first(glitchtip):
    result = glitchtip.bulk_set_status(["6", "7"], "resolved")
    backup = json.loads(result.backup_path.read_text())
    assert [i["id"] for i in backup["issues"]] == ["6", "7"]
    assert {i["status"] for i in backup["issues"]} == {"unresolved"}  # the state before the change
    assert {glitchtip.issue(6).status, glitchtip.issue(7).status} == {"resolved"}
    assert glitchtip.issue(8).status == "unresolved"  # nothing else touched


def test_dry_run_records_and_sends_nothing(sandbox, control, tmp_path, glitchtip_release):
    with GlitchTip(sandbox.url, sandbox.token, "acme", rate_limit=0, dry_run=True, backup_dir=tmp_path) as gt:
        assert gt.add_comment(9, "hello") is None
        assert gt.resolve(9) is None
        bulk = gt.bulk_set_status([6, 7], "ignored")
        assert bulk.dry_run and bulk.backup_path is None
        status_path = "/api/0/organizations/acme/issues/9/" if glitchtip_release == "4.2.1" else "/api/0/issues/9/"
        assert [(p.method, p.path) for p in gt.planned] == [
            ("POST", "/api/0/issues/9/comments/"), ("PUT", status_path),
            ("PUT", "/api/0/organizations/acme/issues/")]
        assert gt.issue(9).status == "unresolved" and gt.comments(9) == []
    sent = control.requests("/api/0/")
    assert {r["method"] for r in sent} == {"GET"}  # reads only: the release check, the issue, its comments
    assert len(sent) == 3


def test_event_stats_match_the_seeded_events(glitchtip, sandbox):
    now = sandbox.sandbox.glitchtip.now
    start, end = now - timedelta(hours=24), now
    stats = glitchtip.event_stats(start, end)
    assert len(stats.intervals) == 26  # boundary of start .. one past the end's, as the real server answers
    expected = sum(1 for s in seed.ISSUES for t in seed.event_times(s, now) if start <= t < end)
    assert sum(stats.totals()) == expected == sum(s.daily[0] for s in seed.ISSUES)
    web = glitchtip.event_stats(start, end, project_ids=["3"])
    assert sum(web.totals()) == sum(s.daily[0] for s in seed.ISSUES if s.project == "web")


def test_stats_window_must_be_forward(glitchtip):
    now = datetime.now(timezone.utc)
    with pytest.raises(Refused):
        glitchtip.event_stats(now, now - timedelta(hours=1))


@pytest.mark.parametrize("bad", ["abc", "1; DROP", "../9", ""])
def test_non_numeric_issue_ids_are_refused_before_sending(glitchtip, control, bad):
    with pytest.raises(Refused, match="issue id must be a number"):
        glitchtip.issue(bad)
    assert control.requests("/api/0/issues/") == []
