"""The GitHub client (real PyGithub) against the sandbox's GitHub over loopback, and the sandbox against the
requests PyGithub was recorded making."""

from __future__ import annotations

import json
from urllib.parse import urlparse

import httpx
import pytest

from triageflow.clients.errors import NotFound, Rejected, Unauthorized, Unavailable
from triageflow.clients.github import GitHub
from triageflow.sandbox.github_api import GITHUB_TOKEN


@pytest.fixture
def gh(sandbox):
    with GitHub(GITHUB_TOKEN, "acme/booking", api_url=sandbox.url, per_page=2, seconds_between_writes=0) as client:
        yield client


def test_create_find_by_marker_comment_and_close(gh, control):
    created = gh.create_issue("[alert] HighErrorRate checkout", "summary\n\n<!-- triageflow:alert:ab5a8244 -->",
                              labels=["triage", "sev:critical"], assignees=["alice", "nobody-here"])
    assert created.number == 1 and created.state == "open"
    assert created.labels == ["triage", "sev:critical"] and created.assignees == ["alice"]
    gh.create_issue("[alert] DiskFull search", "other <!-- triageflow:alert:ffff0000 -->", labels=["triage"])

    found = gh.find_open_issue("triageflow:alert:ab5a8244", labels=["triage"])
    assert found is not None and found.number == 1
    assert gh.find_open_issue("triageflow:alert:00000000") is None
    assert [i.number for i in gh.search_issues('"triageflow:alert:ffff0000" in:body')] == [2]
    assert [i.number for i in gh.search_issues("label:triage")] == [2, 1]

    gh.comment(1, "seen again at 06:20Z (count=4)")
    assert [c.body for c in gh.comments(1)] == ["seen again at 06:20Z (count=4)"]
    closed = gh.close(1)
    assert closed.state == "closed"
    assert gh.find_open_issue("triageflow:alert:ab5a8244", labels=["triage"]) is None
    sent = [(m["method"], m.get("number")) for m in control.outbox("github")]
    assert sent == [("issues.create", 1), ("issues.create", 2), ("issues.comment", 1), ("issues.update", 1)]


def test_open_issues_follow_every_page(gh):
    for n in range(5):
        gh.create_issue(f"issue {n}", f"body {n}", labels=["triage"])
    gh.create_issue("unlabelled", "x")
    assert sorted(i.title for i in gh.open_issues(["triage"])) == [f"issue {n}" for n in range(5)]


def test_errors_map_onto_the_client_family(sandbox, gh, control):
    with pytest.raises(NotFound) as missing:
        gh.issue(99)
    assert "404" in str(missing.value)
    with pytest.raises(NotFound):
        GitHub(GITHUB_TOKEN, "o/missing", api_url=sandbox.url).check()
    with pytest.raises(Unauthorized):
        GitHub("dev_wrong_token_0000", "acme/booking", api_url=sandbox.url).check()
    with pytest.raises(Rejected) as rejected:
        gh.create_issue("", "no title")
    assert "422" in str(rejected.value)
    control.fault("/repos/acme/booking/issues", "error", status=502, method="POST", times=1)
    before = len(control.requests("/repos/acme/booking/issues", "POST"))
    with pytest.raises(Unavailable):
        gh.create_issue("t", "b")
    assert len(control.requests("/repos/acme/booking/issues", "POST")) == before + 1  # no hidden retries


EXPECTED_STATUS = {("GET", "/repos/o/r"): 200, ("POST", "/repos/o/r/issues"): 201, ("GET", "/repos/o/r/issues"): 200,
                   ("POST", "/repos/o/r/issues/1/comments"): 201, ("PATCH", "/repos/o/r/issues/1"): 200,
                   ("GET", "/search/issues"): 200, ("GET", "/repos/o/missing"): 404,
                   ("GET", "/repos/o/r/issues/1"): 200}
ISSUE_KEYS = {"url", "number", "html_url", "labels", "state", "title", "body", "assignees", "comments_url", "user"}


def _urls(value):
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith("url") and isinstance(item, str) and item.startswith("http"):
                yield item
            else:
                yield from _urls(item)
    elif isinstance(value, list):
        for item in value:
            yield from _urls(item)


def test_contract_replays_recorded_pygithub_calls(sandbox, peers):
    calls = json.loads((peers / "clients" / "github" / "pygithub-calls.json").read_text())
    host = urlparse(sandbox.url).netloc
    headers = {"Authorization": f"token {GITHUB_TOKEN}", "User-Agent": "PyGithub/Python"}
    for call in calls:
        response = httpx.request(call["method"], sandbox.url + call["path"], params=call["query"],
                                 json=call["body"], headers=headers)
        expected = EXPECTED_STATUS[(call["method"], call["path"])]
        assert response.status_code == expected, (call["method"], call["path"], response.text)
        body = response.json()
        if expected >= 400:
            assert body["message"] == "Not Found" and "documentation_url" in body
            continue
        assert all(urlparse(u).netloc == host for u in _urls(body)), call["path"]
        if call["path"] == "/search/issues":
            assert {"total_count", "incomplete_results", "items"} <= body.keys()
            # the recorded session closed issue 1 (body "fingerprint ab5a8244") before searching for open ones
            assert body["total_count"] == len(body["items"]) == 0
        elif call["path"].startswith("/repos/o/r/issues") and call["path"].endswith("/comments"):
            assert {"id", "url", "body", "issue_url", "html_url", "user"} <= body.keys()
        elif call["path"].startswith("/repos/o/r/issues"):
            for issue in body if isinstance(body, list) else [body]:
                assert ISSUE_KEYS <= issue.keys()
        else:
            assert {"full_name", "url", "owner"} <= body.keys()
    issues = httpx.get(f"{sandbox.url}/_sandbox/github/issues", params={"repo": "o/r"}).json()
    assert [(i["number"], i["state"], i["comment_bodies"]) for i in issues] == [
        (1, "closed", ["seen again at 06:20Z (count=4)"]), (2, "open", [])]
    assert [lbl["name"] for lbl in issues[0]["labels"]] == ["triage", "sev:critical"]
    assert httpx.get(f"{sandbox.url}/repos/o/r", headers={"Authorization": "token wrong"}).status_code == 401


def test_open_or_comment_files_one_issue_per_marker_and_recovers_a_crash(gh, control, database_url):
    from tasks.alert_github import comment_once, issue_marker, open_or_comment
    from triageflow.audit import recent

    marker = issue_marker("alert", "ab5a8244")
    kw = dict(marker=marker, title="[alert] HighErrorRate", body="summary for jane@example.com",
              labels=["triage"], assignees=[])
    first = open_or_comment(gh, database_url, comment="again", dry_run=False, **kw)
    second = open_or_comment(gh, database_url, comment="seen again", dry_run=False, **kw)
    assert (first.action, second.action, first.number, second.number) == ("created", "commented", 1, 1)
    # a crash after creating, before the number was recorded: the marker finds it
    gh.create_issue("[alert] other", f"body\n\n{issue_marker('alert', 'c0ffee00')}", labels=["triage"])
    recovered = open_or_comment(gh, database_url, comment="recovered", dry_run=False,
                                **dict(kw, marker=issue_marker("alert", "c0ffee00")))
    assert (recovered.action, recovered.number) == ("commented", 2)
    dry = open_or_comment(gh, database_url, comment=None, dry_run=True, **dict(kw, marker="<!-- new -->"))
    assert dry.action == "dry-run"
    assert comment_once(gh, database_url, 1, "resolved", "<!-- resolved:1 -->", dry_run=False)
    assert not comment_once(gh, database_url, 1, "resolved", "<!-- resolved:1 -->", dry_run=False)
    issues = httpx.get(f"{control.url}/_sandbox/github/issues").json()
    assert len(issues) == 2 and "jane@example.com" not in issues[0]["body"] and marker in issues[0]["body"]
    assert len(issues[0]["comment_bodies"]) == 2
    actions = [(r.action, r.outcome) for r in recent(database_url, 10, system="github")]
    assert ("issue.create", "dry-run") in actions and actions.count(("issue.create", "ok")) == 1


def test_branch_file_and_draft_pull_request_and_their_repeats(gh, control):
    base, sha = gh.default_branch_head()
    assert base == "main" and len(sha) == 40
    assert gh.create_branch("triage/notes-1", sha) is True
    assert gh.create_branch("triage/notes-1", sha) is False          # GitHub's 422 "Reference already exists"
    assert gh.put_file("triage/notes-1", "triage-notes/a.md", "# notes\n", "add notes") is True
    assert gh.put_file("triage/notes-1", "triage-notes/a.md", "# other\n", "again") is False  # no sha: kept as is
    assert gh.find_pull("triage/notes-1") is None
    issue = gh.create_issue("an issue first", "body")
    pull = gh.create_pull("Triage notes", "Refs #1", head="triage/notes-1", base=base)
    assert pull.draft and pull.state == "open" and pull.head == "triage/notes-1" and pull.base == "main"
    assert pull.number == issue.number + 1                               # one sequence, as on GitHub
    assert gh.find_pull("triage/notes-1").number == pull.number
    with pytest.raises(Rejected, match="already exists"):
        gh.create_pull("Triage notes", "again", head="triage/notes-1", base=base)
    [stored] = httpx.get(f"{control.url}/_sandbox/github/pulls").json()
    assert stored["files"] == {"triage-notes/a.md": "# notes\n"} and stored["body"] == "Refs #1"
    assert gh.default_branch_head() == (base, sha)                       # main did not move


def test_pull_request_refusals_are_clear(gh):
    _, sha = gh.default_branch_head()
    with pytest.raises(Rejected, match="Object does not exist"):
        gh.create_branch("triage/x", "0" * 40)
    gh.create_branch("triage/empty", sha)
    with pytest.raises(Rejected, match="No commits between"):
        gh.create_pull("t", "b", head="triage/empty", base="main")
    with pytest.raises(NotFound):
        gh.put_file("no-such-branch", "a.md", "x", "m")
