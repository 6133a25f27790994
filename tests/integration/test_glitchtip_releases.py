"""One client for every GlitchTip release in use: each difference the recordings show, against the sandbox."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from triageflow.clients.errors import NotFound, Refused, Rejected, Unavailable, UnexpectedAnswer, Unsupported
from triageflow.clients.glitchtip import GlitchTip
from triageflow.sandbox import seed


def test_release_is_learnt_once_from_the_organization(glitchtip, control, glitchtip_release):
    assert glitchtip.release.name == glitchtip_release
    list(glitchtip.issues("is:unresolved"))
    glitchtip.projects()
    assert glitchtip.release.name == glitchtip_release
    org_reads = [r for r in control.requests("/api/0/organizations/acme/") if r["path"] == "/api/0/organizations/acme/"]
    assert len(org_reads) == 1  # one organization GET for all of it


@pytest.mark.parametrize("sort,wire_2024,wire_ninja", [
    ("freq", "freq", "-count"), ("-count", "freq", "-count"),
    ("-lastSeen", "-lastSeen", "-last_seen"), ("-last_seen", "-lastSeen", "-last_seen"),
    ("new", "new", "-first_seen"),
])
def test_sort_names_are_sent_as_the_release_spells_them(glitchtip, control, glitchtip_release, sort, wire_2024,
                                                        wire_ninja):
    issues = list(glitchtip.issues("is:unresolved", sort=sort))
    sent = httpx.QueryParams(control.requests("/api/0/organizations/acme/issues/", "GET")[0]["query"])
    assert sent["sort"] == (wire_2024 if glitchtip_release == "2024" else wire_ninja)
    if sort in ("freq", "-count"):
        counts = [i.event_count for i in issues]
        assert counts == sorted(counts, reverse=True) and len(counts) > 3
    if sort in ("-lastSeen", "-last_seen"):
        seen = [i.last_seen for i in issues]
        assert seen == sorted(seen, reverse=True)


def test_a_sort_the_release_lacks_is_refused_before_sending(glitchtip, control, glitchtip_release):
    sort = "priority" if glitchtip_release == "2024" else "lastSeenAt"
    with pytest.raises(Refused, match=f"sort '{sort}' is not offered by GlitchTip {glitchtip_release}"):
        list(glitchtip.issues(sort=sort))
    assert control.requests("/api/0/organizations/acme/issues/") == []


def test_status_goes_through_the_path_the_release_accepts_and_is_read_back(glitchtip, control, glitchtip_release):
    after = glitchtip.resolve(8)
    assert after.status == "resolved" and after.id == "8" and after.short_id is not None
    puts = control.requests("/api/0/", "PUT")
    expected = "/api/0/organizations/acme/issues/8/" if glitchtip_release == "4.2.1" else "/api/0/issues/8/"
    assert [(r["path"], r["status"]) for r in puts] == [(expected, 200)]
    assert control.requests("/api/0/issues/8/", "GET")  # the answer is the GET shape, not the PUT's
    assert glitchtip.unresolve(8).status == "unresolved"


def test_unknown_issue_status_change_is_not_found(glitchtip):
    with pytest.raises(NotFound, match="issue 999999 not found in org 'acme'"):
        glitchtip.resolve(999999)


def test_a_tag_is_read_where_the_release_serves_it(glitchtip, control, glitchtip_release):
    component = glitchtip.tag(9, "component")
    assert component.key == "component" and component.top_values[0].value == "billing"
    asked = control.requests("/api/0/issues/9/tags/", "GET")[-1]
    if glitchtip_release == "2024":
        assert asked["path"] == "/api/0/issues/9/tags/component/"
    else:
        assert asked["path"] == "/api/0/issues/9/tags/" and asked["query"] == "key=component"
    with pytest.raises(NotFound, match="tag 'nothing'"):
        glitchtip.tag(9, "nothing")


def test_event_lists_read_in_either_casing(glitchtip):
    events = list(glitchtip.events(4, max_pages=1))
    assert events and all(e.event_id == e.id and e.date_created is not None for e in events)
    assert {str(e.issue) for e in events} == {"4"}
    dumped = events[0].model_dump(by_alias=True, mode="json")
    assert "eventID" in dumped and "dateCreated" in dumped


def test_validation_errors_become_one_line_naming_the_field(glitchtip, glitchtip_release):
    with pytest.raises(Rejected) as info:
        glitchtip._request("POST", "/api/0/issues/9/comments/", json_body={"text": "flat"})
    message = str(info.value)
    assert "\n" not in message and "data:" in message
    assert info.value.status == (400 if glitchtip_release == "2024" else 422)


def test_a_web_page_where_data_was_expected_is_named(glitchtip):
    with pytest.raises(Unavailable) as info:
        glitchtip._get("/api/0/issues/9/tags/component/values/")  # unrouted: the web app's 500 page
    assert "answered a web page" in str(info.value) and "Server Error (500)" in str(info.value)
    assert info.value.status == 500 and info.value.path == "/api/0/issues/9/tags/component/values/"


def test_a_200_web_page_is_refused_as_data():
    """Where the frontend is installed, unrouted API paths answer 200 with the app's HTML."""
    page = "<!doctype html><html><head><title>GlitchTip</title></head><body></body></html>"

    def app(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=page, headers={"content-type": "text/html; charset=utf-8"})

    with GlitchTip("http://glitchtip.test", "t" * 40, "acme", rate_limit=0, transport=httpx.MockTransport(app)) as gt:
        with pytest.raises(UnexpectedAnswer) as info:
            gt.issue(9)
    assert str(info.value) == ("glitchtip at http://glitchtip.test answered a web page (text/html), not API data "
                               "(GET /api/0/issues/9/ → 200)")


@pytest.mark.glitchtip_releases("5.1")
def test_issues_stats_gives_many_issues_in_one_call(glitchtip, control, sandbox):
    now = sandbox.sandbox.glitchtip.now
    stats = glitchtip.issues_stats(["1", "9", 4, "999999"])
    assert set(stats) == {"1", "9", "4"}  # an unknown id is absent
    for issue_id in ("1", "9", "4"):
        spec = seed.ISSUE_BY_ID[int(issue_id)]
        got = stats[issue_id]
        assert got.count == sum(spec.daily) == glitchtip.issue(issue_id).event_count
        last_day = sum(1 for t in seed.event_times(spec, now) if now - timedelta(hours=24) <= t <= now)
        assert got.events_in("24h") == last_day
        assert all(n > 0 for _, n in got.buckets("24h"))
        assert got.last_seen >= got.first_seen
    assert len(control.requests("/api/0/organizations/acme/issues-stats/")) == 1
    assert glitchtip.supports_issues_stats


@pytest.mark.glitchtip_releases("5.1")
def test_issues_stats_batches_large_requests(glitchtip, control):
    ids = [str(s.id) for s in seed.ISSUES] * 1 + [str(n) for n in range(5000, 5150)]
    stats = glitchtip.issues_stats(ids)
    assert set(stats) == {str(s.id) for s in seed.ISSUES}
    assert len(control.requests("/api/0/organizations/acme/issues-stats/")) == 2  # 187 ids, 100 a call


@pytest.mark.glitchtip_releases("2024", "4.2.1")
def test_issues_stats_is_unsupported_before_5_1(glitchtip, control):
    assert not glitchtip.supports_issues_stats
    with pytest.raises(Unsupported, match="has no issues-stats endpoint"):
        glitchtip.issues_stats(["1"])
    assert control.requests("/api/0/organizations/acme/issues-stats/") == []


def test_issues_stats_refuses_bad_input_before_sending(glitchtip):
    with pytest.raises(Refused, match="issue id must be a number"):
        glitchtip.issues_stats(["1", "x"])
    with pytest.raises(Refused, match="period must be one of 24h, 14d"):
        glitchtip.issues_stats(["1"], period="7d")
