"""Sandbox GitHub REST: the issue endpoints PyGithub calls (tests/fixtures/peers/clients/github/pygithub-calls.json),
answering with GitHub's shapes, every `url` on the caller's own host and port (PyGithub asserts that).

Mounted in the sandbox app with `api.include_router(build_github_router(sandbox))`; the state lives in
`sandbox.extras["github"]` (reset with the sandbox) and every change is also put in the sandbox outbox as
service `github` (`issues.create`, `issues.comment`, `issues.update`; branches, files and pull requests in
`github_pulls.py`). Repositories: `acme/booking` and
`o/r` exist; others answer 404. Point a client at it with `github_env(server)`.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from .github_pulls import add_pull_routes

GITHUB_TOKEN = "dev_sandbox_github_4b8e2d6f1a"
GITHUB_REPO = "acme/booking"
REPOSITORIES = ("acme/booking", "o/r")
USERS = ("triageflow", "alice", "bob", "carol")
DOCS = "https://docs.github.com/rest"


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class GitHubState:
    """Issues, comments and labels per repository."""

    token: str = GITHUB_TOKEN
    issues: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    comments: dict[str, dict[int, list[dict[str, Any]]]] = field(default_factory=dict)
    labels: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    refs: dict[str, dict[str, str]] = field(default_factory=dict)          # repo → "refs/heads/x" → sha
    files: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)  # repo → branch → path → text
    pulls: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    commits: dict[str, set[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.issues = {r: {} for r in REPOSITORIES}
        self.comments = {r: {} for r in REPOSITORIES}
        self.labels = {r: {} for r in REPOSITORIES}
        self.refs = {r: {"refs/heads/main": initial_commit(r)} for r in REPOSITORIES}
        self.files = {r: {"main": {}} for r in REPOSITORIES}
        self.pulls = {r: {} for r in REPOSITORIES}
        self.commits = {r: set(self.refs[r].values()) for r in REPOSITORIES}
        self._ids = itertools.count(1001)

    def next_id(self) -> int:
        return next(self._ids)

    def next_number(self, repo: str) -> int:
        """GitHub numbers issues and pull requests of a repository in one sequence."""
        return 1 + max([0, *self.issues[repo], *self.pulls[repo]])


def initial_commit(repo: str) -> str:
    return hashlib.sha1(f"initial commit of {repo}".encode()).hexdigest()


def _user(base: str, login: str) -> dict[str, Any]:
    uid = 1000 + (USERS.index(login) if login in USERS else len(login))
    return {"login": login, "id": uid, "node_id": f"U_{uid}", "type": "User", "site_admin": False,
            "url": f"{base}/users/{login}", "html_url": f"{base}/{login}", "avatar_url": ""}


def _label(state: GitHubState, base: str, repo: str, name: str) -> dict[str, Any]:
    labels = state.labels[repo]
    if name not in labels:  # GitHub creates a label the first time an issue names it
        lid = state.next_id()
        labels[name] = {"id": lid, "node_id": f"LA_{lid}", "url": f"{base}/repos/{repo}/labels/{name}",
                        "name": name, "color": "ededed", "default": False, "description": None}
    return labels[name]


def _issue_json(base: str, repo: str, issue: dict[str, Any]) -> dict[str, Any]:
    n = issue["number"]
    api = f"{base}/repos/{repo}/issues/{n}"
    return {
        "id": issue["id"], "node_id": f"I_{issue['id']}", "url": api, "repository_url": f"{base}/repos/{repo}",
        "labels_url": f"{api}/labels{{/name}}", "comments_url": f"{api}/comments", "events_url": f"{api}/events",
        "html_url": f"{base}/{repo}/issues/{n}", "number": n, "state": issue["state"],
        "state_reason": issue.get("state_reason"), "title": issue["title"], "body": issue["body"],
        "user": _user(base, "triageflow"), "labels": [dict(label, url=f"{base}/repos/{repo}/labels/{label['name']}")
                                                     for label in issue["labels"]],
        "assignee": _user(base, issue["assignees"][0]) if issue["assignees"] else None,
        "assignees": [_user(base, a) for a in issue["assignees"]], "milestone": None, "locked": False,
        "comments": issue["comments"], "created_at": issue["created_at"], "updated_at": issue["updated_at"],
        "closed_at": issue.get("closed_at"), "author_association": "OWNER", "active_lock_reason": None,
    }


def _comment_json(base: str, repo: str, number: int, comment: dict[str, Any]) -> dict[str, Any]:
    return {"id": comment["id"], "node_id": f"IC_{comment['id']}",
            "url": f"{base}/repos/{repo}/issues/comments/{comment['id']}",
            "html_url": f"{base}/{repo}/issues/{number}#issuecomment-{comment['id']}",
            "issue_url": f"{base}/repos/{repo}/issues/{number}", "body": comment["body"],
            "user": _user(base, "triageflow"), "created_at": comment["created_at"],
            "updated_at": comment["created_at"], "author_association": "OWNER"}


def _error(status: int, message: str, errors: list[dict] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"message": message, "documentation_url": DOCS, "status": str(status)}
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status)


def _page(request: Request, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
    """GitHub paging: `per_page` (≤ 100, default 30) and `page`, with a `Link` header to the others."""
    try:
        per_page = max(1, min(100, int(request.query_params.get("per_page", 30))))
        page = max(1, int(request.query_params.get("page", 1)))
    except ValueError:
        per_page, page = 30, 1
    last = max(1, -(-len(items) // per_page))
    chunk = items[(page - 1) * per_page: page * per_page]
    links = []
    base = str(request.url).split("?")[0]
    params = {k: v for k, v in request.query_params.items() if k != "page"}
    for rel, target in (("next", page + 1), ("last", last), ("first", 1), ("prev", page - 1)):
        if (rel in ("next", "last") and page < last) or (rel in ("first", "prev") and page > 1):
            links.append(f'<{base}?{urlencode({**params, "page": target})}>; rel="{rel}"')
    return chunk, ({"Link": ", ".join(links)} if links else {})


_QUALIFIER = re.compile(r'(\w+):("[^"]*"|\S+)|"([^"]*)"|(\S+)')


def search_matches(query: str, repo: str, issue: dict[str, Any]) -> bool:
    """The part of GitHub's issue search syntax triageflow uses: repo:, is:, state:, label:, in:, free terms."""
    terms: list[str] = []
    where = ("title", "body")
    for qualifier, value, phrase, word in _QUALIFIER.findall(query):
        value = value.strip('"')
        if qualifier == "repo" and value != repo:
            return False
        if qualifier in ("is", "state") and value in ("open", "closed") and issue["state"] != value:
            return False
        if qualifier == "is" and value == "pr":
            return False
        if qualifier == "label" and value not in [lbl["name"] for lbl in issue["labels"]]:
            return False
        if qualifier == "in":
            where = tuple(value.split(","))
        if qualifier and qualifier not in ("repo", "is", "state", "label", "in"):
            terms.append(f"{qualifier}:{value}")
        if phrase or word:
            terms.append(phrase or word)
    text = " ".join(str(issue.get(w) or "") for w in where).lower()
    return all(term.lower() in text for term in terms)


def build_github_router(sandbox) -> APIRouter:
    state: GitHubState = sandbox.extras.setdefault("github", GitHubState())
    router = APIRouter()

    def base_of(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def authorized(request: Request) -> bool:
        auth = request.headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        return scheme.lower() in ("token", "bearer") and hmac.compare_digest(value, state.token)

    def guard(request: Request, owner: str, name: str) -> tuple[str | None, JSONResponse | None]:
        if not authorized(request):
            return None, _error(401, "Bad credentials")
        repo = f"{owner}/{name}"
        if repo not in state.issues:
            return None, _error(404, "Not Found")
        return repo, None

    async def json_body(request: Request) -> dict[str, Any] | None:
        try:
            body = await request.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    @router.get("/repos/{owner}/{name}")
    def repository(request: Request, owner: str, name: str):
        repo, problem = guard(request, owner, name)
        if problem:
            return problem
        base = base_of(request)
        return {"id": 500 + REPOSITORIES.index(repo), "node_id": f"R_{repo}", "name": name, "full_name": repo,
                "owner": _user(base, owner), "private": True, "html_url": f"{base}/{repo}",
                "url": f"{base}/repos/{repo}", "issues_url": f"{base}/repos/{repo}/issues{{/number}}",
                "has_issues": True, "open_issues_count": sum(1 for i in state.issues[repo].values()
                                                             if i["state"] == "open"),
                "default_branch": "main", "archived": False, "disabled": False}

    @router.post("/repos/{owner}/{name}/issues", status_code=201)
    async def create_issue(request: Request, owner: str, name: str):
        repo, problem = guard(request, owner, name)
        if problem:
            return problem
        body = await json_body(request)
        if body is None:
            return _error(400, "Problems parsing JSON")
        title = body.get("title")
        if not isinstance(title, str) or not title.strip():
            return _error(422, "Validation Failed", [{"resource": "Issue", "code": "missing_field", "field": "title"}])
        if len(title) > 256:
            return _error(422, "Validation Failed", [{"resource": "Issue", "code": "custom", "field": "title",
                                                      "message": "title is too long (maximum is 256 characters)"}])
        if len(str(body.get("body") or "")) > 65536:
            return _error(422, "Validation Failed", [{"resource": "Issue", "code": "custom", "field": "body",
                                                      "message": "body is too long (maximum is 65536 characters)"}])
        base = base_of(request)
        with state.lock:
            number = state.next_number(repo)
            now = _now()
            issue = {"id": state.next_id(), "number": number, "title": title, "body": body.get("body") or "",
                     "state": "open", "labels": [_label(state, base, repo, str(n)) for n in body.get("labels") or []],
                     "assignees": [a for a in body.get("assignees") or [] if a in USERS],  # others dropped silently
                     "comments": 0, "created_at": now, "updated_at": now}
            state.issues[repo][number] = issue
            state.comments[repo][number] = []
            answer = _issue_json(base, repo, issue)
        sandbox.outbox.add("github", "issues.create", repo=repo, number=number, title=title, body=issue["body"],
                           labels=[lbl["name"] for lbl in issue["labels"]], assignees=issue["assignees"])
        return JSONResponse(answer, status_code=201)

    @router.get("/repos/{owner}/{name}/issues")
    def list_issues(request: Request, owner: str, name: str, labels: str = ""):
        repo, problem = guard(request, owner, name)
        if problem:
            return problem
        wanted_state = request.query_params.get("state", "open")
        wanted = [lbl for lbl in labels.split(",") if lbl] if labels else []
        base = base_of(request)
        with state.lock:
            rows = [i for i in sorted(state.issues[repo].values(), key=lambda i: -i["number"])
                    if (wanted_state == "all" or i["state"] == wanted_state)
                    and all(w in [lbl["name"] for lbl in i["labels"]] for w in wanted)]
            rows = [_issue_json(base, repo, i) for i in rows]
        chunk, headers = _page(request, rows)
        return JSONResponse(chunk, headers=headers)

    @router.get("/repos/{owner}/{name}/issues/{number}")
    def get_issue(request: Request, owner: str, name: str, number: int):
        repo, problem = guard(request, owner, name)
        if problem:
            return problem
        with state.lock:
            issue = state.issues[repo].get(number)
            return _issue_json(base_of(request), repo, issue) if issue else _error(404, "Not Found")

    @router.patch("/repos/{owner}/{name}/issues/{number}")
    async def update_issue(request: Request, owner: str, name: str, number: int):
        repo, problem = guard(request, owner, name)
        if problem:
            return problem
        body = await json_body(request)
        if body is None:
            return _error(400, "Problems parsing JSON")
        base = base_of(request)
        with state.lock:
            issue = state.issues[repo].get(number)
            if issue is None:
                return _error(404, "Not Found")
            if "state" in body:
                if body["state"] not in ("open", "closed"):
                    return _error(422, "Validation Failed", [{"resource": "Issue", "code": "invalid", "field": "state"}])
                issue["state"] = body["state"]
                issue["state_reason"] = body.get("state_reason") or ("completed" if body["state"] == "closed"
                                                                     else "reopened")
                issue["closed_at"] = _now() if body["state"] == "closed" else None
            for key in ("title", "body"):
                if key in body:
                    issue[key] = body[key] or ""
            if "labels" in body:
                issue["labels"] = [_label(state, base, repo, str(n)) for n in body["labels"] or []]
            if "assignees" in body:
                issue["assignees"] = [a for a in body["assignees"] or [] if a in USERS]
            issue["updated_at"] = _now()
            answer = _issue_json(base, repo, issue)
        sandbox.outbox.add("github", "issues.update", repo=repo, number=number, changes=body)
        return answer

    @router.get("/repos/{owner}/{name}/issues/{number}/comments")
    def list_comments(request: Request, owner: str, name: str, number: int):
        repo, problem = guard(request, owner, name)
        if problem:
            return problem
        with state.lock:
            if number not in state.issues[repo]:
                return _error(404, "Not Found")
            rows = [_comment_json(base_of(request), repo, number, c) for c in state.comments[repo][number]]
        chunk, headers = _page(request, rows)
        return JSONResponse(chunk, headers=headers)

    @router.post("/repos/{owner}/{name}/issues/{number}/comments", status_code=201)
    async def add_comment(request: Request, owner: str, name: str, number: int):
        repo, problem = guard(request, owner, name)
        if problem:
            return problem
        body = await json_body(request)
        if body is None:
            return _error(400, "Problems parsing JSON")
        text = body.get("body")
        if not isinstance(text, str) or not text.strip():
            return _error(422, "Validation Failed", [{"resource": "IssueComment", "code": "missing_field",
                                                      "field": "body"}])
        with state.lock:
            issue = state.issues[repo].get(number)
            if issue is None:
                return _error(404, "Not Found")
            comment = {"id": state.next_id(), "body": text, "created_at": _now()}
            state.comments[repo][number].append(comment)
            issue["comments"] += 1
            answer = _comment_json(base_of(request), repo, number, comment)
        sandbox.outbox.add("github", "issues.comment", repo=repo, number=number, body=text)
        return JSONResponse(answer, status_code=201)

    @router.get("/search/issues")
    def search(request: Request, q: str = ""):
        if not authorized(request):
            return _error(401, "Bad credentials")
        if not q.strip():
            return _error(422, "Validation Failed", [{"resource": "Search", "field": "q", "code": "missing"}])
        base = base_of(request)
        with state.lock:
            rows = [dict(_issue_json(base, repo, issue), score=1.0)
                    for repo, issues in state.issues.items()
                    for issue in sorted(issues.values(), key=lambda i: -i["number"])
                    if search_matches(q, repo, issue)]
        chunk, headers = _page(request, rows)
        return JSONResponse({"total_count": len(rows), "incomplete_results": False, "items": chunk}, headers=headers)

    add_pull_routes(router, state, sandbox, guard=guard, base_of=base_of, json_body=json_body)

    @router.get("/_sandbox/github/issues")
    def all_issues(request: Request, repo: str = GITHUB_REPO):
        """Every issue of `repo` with its comments, for tests and the demo."""
        base = base_of(request)
        with state.lock:
            return [dict(_issue_json(base, repo, i), comment_bodies=[c["body"] for c in state.comments[repo][n]])
                    for n, i in sorted(state.issues.get(repo, {}).items())]

    return router


def github_env(server) -> dict[str, str]:
    """Environment variables that point triageflow's GitHub client at a running sandbox."""
    return {"GITHUB_API_URL": server.url, "GITHUB_TOKEN": GITHUB_TOKEN, "GITHUB_REPO": GITHUB_REPO}
