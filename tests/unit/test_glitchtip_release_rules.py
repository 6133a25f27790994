"""The client's rules for each GlitchTip release, fed with what the three real servers answered."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from models.payloads import Event, IssueStats
from triageflow.clients.errors import Refused
from triageflow.clients.glitchtip import RELEASES, next_link, release_of, server_message, sort_for

FOLDERS = {"2024": "api", "4.2.1": "api-4.2.1", "5.1": "api-5.1"}


def recorded(peers, release: str, name: str) -> dict:
    return json.loads((peers / "glitchtip" / FOLDERS[release] / f"{name}.json").read_text())


def as_response(recording: dict) -> httpx.Response:
    body = recording["body"]
    content = body if isinstance(body, str) else json.dumps(body)
    return httpx.Response(recording["status"], headers=recording.get("headers") or {}, text=content)


@pytest.mark.parametrize("release", list(FOLDERS))
def test_release_is_told_apart_by_the_organization_detail(peers, release):
    assert release_of(recorded(peers, release, "organization")["body"]).name == release


@pytest.mark.parametrize("release", list(FOLDERS))
@pytest.mark.parametrize("page", ["org-issues-limit2-page1", "org-issues-limit2-page2"])
def test_next_link_is_found_in_both_header_forms(peers, release, page):
    header = recorded(peers, release, page)["headers"]["link"]
    url = next_link(header)
    assert url and url.startswith("http") and "'" not in url and '"' not in url
    query = parse_qs(urlsplit(url).query)
    assert query["limit"] == ["2"] and query["cursor"][0]
    assert header.startswith("{'") == (release != "2024")  # the set-repr form since 4.2.1


def test_no_next_link_when_results_are_false():
    header = ('{\'<http://x/api/0/organizations/acme/issues/?limit=2>; rel="previous"; results="false", '
              '<http://x/api/0/organizations/acme/issues/?cursor=abc&limit=2>; rel="next"; results="false"; '
              'cursor="abc"\'}')
    assert next_link(header) is None and next_link(None) is None and next_link("") is None


@pytest.mark.parametrize("release,name,expected", [
    ("2024", "comment-add-flat-text", "data: This field is required."),
    ("4.2.1", "comment-add-flat-text", "data: Field required"),
    ("5.1", "comment-add-flat-text", "data: Field required"),
    ("2024", "stats-v2", "start: This field may not be null.; end: This field may not be null."),
    ("5.1", "stats-v2", "start: Field required; end: Field required"),
    ("4.2.1", "issue-assign-org-scoped", "status: Field required"),
    ("4.2.1", "org-not-found", "Server Error (500)"),
    ("5.1", "org-not-found", "Not Found"),
    ("2024", "bad-token", "Invalid token."),
])
def test_error_bodies_become_one_line_naming_the_field(peers, release, name, expected):
    assert server_message(as_response(recorded(peers, release, name))) == expected


def test_a_ninja_sort_error_names_the_parameter(peers):
    line = server_message(as_response(recorded(peers, "5.1", "org-issues-sort-freq")))
    assert line.startswith("sort: Input should be 'last_seen'") and "\n" not in line


@pytest.mark.parametrize("given,old,new", [
    ("freq", "freq", "-count"), ("-count", "freq", "-count"),
    ("-lastSeen", "-lastSeen", "-last_seen"), ("-last_seen", "-lastSeen", "-last_seen"),
    ("lastSeen", "lastSeen", "last_seen"), ("new", "new", "-first_seen"), ("-first_seen", "new", "-first_seen"),
])
def test_sort_names_map_both_ways(given, old, new):
    assert sort_for(RELEASES["2024"], given) == old
    assert sort_for(RELEASES["4.2.1"], given) == sort_for(RELEASES["5.1"], given) == new


def test_sorts_a_release_lacks_are_refused():
    with pytest.raises(Refused, match="not offered by GlitchTip 2024"):
        sort_for(RELEASES["2024"], "priority")
    assert sort_for(RELEASES["5.1"], "priority") == "priority"
    with pytest.raises(Refused, match="use one of"):
        sort_for(RELEASES["5.1"], "random")


@pytest.mark.parametrize("release", list(FOLDERS))
def test_event_lists_and_the_latest_event_read_alike(peers, release):
    listed = [Event.model_validate(e) for e in recorded(peers, release, "issue-events-count3")["body"]]
    latest = Event.model_validate(recorded(peers, release, "issue-event-latest")["body"])
    for event in listed + [latest]:
        assert event.event_id and event.date_created and event.issue is not None
        assert event.user is None or event.user.get("email")  # 4.2.1's `{}` reads as no user
    assert str(listed[0].issue) == "1"


def test_issues_stats_reads_the_recorded_answer(peers):
    item = recorded(peers, "5.1", "issues-stats")["body"][0]
    stats = IssueStats.model_validate(item)
    assert (stats.id, stats.count, stats.user_count) == ("6", 2, 2)
    assert stats.events_in("24h") == 2 and stats.buckets("24h")[0][0].minute == 0
    assert stats.buckets("14d") == []


@pytest.mark.parametrize("release,expected", [("2024", "WORKER-3"), ("4.2.1", "#110"), ("5.1", "BOOKING-3F")])
def test_an_empty_short_id_shows_the_issue_number(peers, release, expected):
    from models.payloads import Issue

    assert Issue.model_validate(recorded(peers, release, "issue-detail")["body"]).short_id == expected
