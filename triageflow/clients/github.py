"""GitHub issues of one repository through PyGithub, with its errors mapped onto the client family.

    gh = GitHub(token, "owner/name", api_url="https://api.github.com")
    issue = gh.find_open_issue("triageflow:alert:ab5a8244")      # marker in the body, or None
    issue = issue or gh.create_issue(title, body, labels=["triage"], assignees=["alice"])
    gh.comment(issue.number, "seen again")
    gh.close(issue.number)
    base, sha = gh.default_branch_head()                      # draft pull requests (telemetry triage notes)
    gh.create_branch("triage/notes", sha)                     # False: the branch was already there
    gh.put_file("triage/notes", "notes.md", "text", "commit message")
    pull = gh.find_pull("triage/notes") or gh.create_pull("title", "body", head="triage/notes", base=base)

The client does what it is told: dry-run and auditing belong to the call sites
(`triageflow.audit.audited(...)`, see `tasks/alert_github.py`). Retries are the caller's (Prefect task
retries on `Transient`): PyGithub's own retry is off, or a 500 becomes eleven requests and a
`requests` exception. Every failure is a `ClientError` subclass (see `clients/errors.py`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import requests
from github import Auth, Github, GithubException
from github.GithubException import BadCredentialsException, RateLimitExceededException, UnknownObjectException
from pydantic import BaseModel, SecretStr

from .errors import ClientError, NotFound, RateLimited, Refused, Rejected, Unauthorized, Unavailable


class GitHubIssue(BaseModel):
    """What triageflow reads of an issue."""

    number: int
    title: str
    body: str = ""
    state: str
    html_url: str
    labels: list[str] = []
    assignees: list[str] = []
    comments: int = 0
    created_at: datetime | None = None
    closed_at: datetime | None = None


class GitHubComment(BaseModel):
    id: int
    body: str = ""
    html_url: str = ""
    created_at: datetime | None = None


class GitHubPull(BaseModel):
    """What triageflow reads of a pull request."""

    number: int
    title: str
    state: str
    draft: bool = False
    html_url: str = ""
    head: str = ""
    base: str = ""


def _pull(raw) -> GitHubPull:
    return GitHubPull(number=raw.number, title=raw.title, state=raw.state, draft=bool(raw.draft),
                      html_url=raw.html_url or "", head=raw.head.ref, base=raw.base.ref)


def _issue(raw) -> GitHubIssue:
    return GitHubIssue(number=raw.number, title=raw.title, body=raw.body or "", state=raw.state,
                       html_url=raw.html_url or "", labels=[label.name for label in raw.labels],
                       assignees=[a.login for a in raw.assignees], comments=raw.comments or 0,
                       created_at=raw.created_at, closed_at=raw.closed_at)


def _comment(raw) -> GitHubComment:
    return GitHubComment(id=raw.id, body=raw.body or "", html_url=raw.html_url or "", created_at=raw.created_at)


class GitHub:
    """The issues of one repository (`owner/name`) on github.com, GitHub Enterprise or the sandbox."""

    service = "github"

    def __init__(self, token: SecretStr | str, repo: str, *, api_url: str = "https://api.github.com",
                 timeout: int = 15, per_page: int = 100, seconds_between_writes: float = 1.0) -> None:
        raw = token.get_secret_value() if isinstance(token, SecretStr) else token
        if "/" not in repo:
            raise Refused(f"GitHub repository must be 'owner/name', got {repo!r}", service="github")
        self.repo_name = repo
        self.api_url = api_url.rstrip("/")
        # PyGithub spaces writes (GitHub's secondary rate limit asks for about a second between them)
        self._gh = Github(auth=Auth.Token(raw), base_url=self.api_url, timeout=timeout, retry=None,
                          per_page=per_page, seconds_between_requests=min(0.25, seconds_between_writes),
                          seconds_between_writes=seconds_between_writes)
        self._repo = None

    def __repr__(self) -> str:
        return f"GitHub({self.api_url!r}, repo={self.repo_name!r}, token=**********)"

    def close_connection(self) -> None:
        self._gh.close()

    def __enter__(self) -> "GitHub":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close_connection()

    # --- errors -------------------------------------------------------------------------------------------

    def _call(self, what: str, method: str, path: str, fn, *args, **kwargs):
        kw = {"service": self.service, "method": method, "path": path}
        try:
            return fn(*args, **kwargs)
        except UnknownObjectException as exc:
            raise NotFound(f"github: {what} not found ({method} {path} → 404)", status=404,
                           server_message=_message(exc), **kw) from None
        except BadCredentialsException as exc:
            raise Unauthorized(f"github refused the token ({method} {path} → {exc.status})", status=exc.status,
                               server_message=_message(exc), **kw) from None
        except RateLimitExceededException as exc:
            retry = (exc.headers or {}).get("retry-after") if hasattr(exc, "headers") else None
            raise RateLimited(f"github rate limited on {what}", retry_after=float(retry) if retry else None,
                              status=exc.status, server_message=_message(exc), **kw) from None
        except GithubException as exc:
            status = exc.status
            if status is None or status >= 500:
                raise Unavailable(f"github unavailable on {what} ({method} {path} → {status})", status=status,
                                  server_message=_message(exc), **kw) from None
            if status == 429:
                raise RateLimited(f"github rate limited on {what}", status=status, **kw) from None
            if status in (401, 403):
                raise Unauthorized(f"github refused {what} ({method} {path} → {status}): {_message(exc)}",
                                   status=status, server_message=_message(exc), **kw) from None
            raise Rejected(f"github rejected {what} ({method} {path} → {status}): {_message(exc)}", status=status,
                           server_message=_message(exc), **kw) from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise Unavailable(f"github unreachable on {what}: {exc.__class__.__name__}: {exc}", **kw) from None
        except requests.RequestException as exc:
            raise Unavailable(f"github request failed on {what}: {exc}", **kw) from None
        except AssertionError as exc:  # PyGithub asserts every url in an answer is on its base_url
            raise ClientError(f"github answered with a url outside {self.api_url} on {what}: {exc}", **kw) from None

    def _repository(self):
        if self._repo is None:
            self._repo = self._call(f"repository {self.repo_name}", "GET", f"/repos/{self.repo_name}",
                                    self._gh.get_repo, self.repo_name)
        return self._repo

    def _raw_issue(self, number: int):
        path = f"/repos/{self.repo_name}/issues/{number}"
        return self._call(f"issue #{number}", "GET", path, self._repository().get_issue, number)

    # --- reads --------------------------------------------------------------------------------------------

    def check(self) -> str:
        """The repository's full name, or a ClientError: for doctor-style checks."""
        return self._repository().full_name

    def issue(self, number: int) -> GitHubIssue:
        return _issue(self._raw_issue(number))

    def open_issues(self, labels: list[str] | tuple[str, ...] = ()) -> Iterator[GitHubIssue]:
        """Open issues (not pull requests) carrying every label in `labels`, every page followed."""
        path = f"/repos/{self.repo_name}/issues"
        pages = self._call("open issues", "GET", path, self._repository().get_issues, state="open",
                           labels=list(labels))
        iterator = iter(pages)
        while True:
            raw = self._call("open issues", "GET", path, next, iterator, None)
            if raw is None:
                return
            if raw.pull_request is None:
                yield _issue(raw)

    def search_issues(self, text: str, *, state: str = "open") -> list[GitHubIssue]:
        """GitHub's issue search within the repository; note the search index lags behind writes."""
        query = f"repo:{self.repo_name} is:issue is:{state} {text}"
        results = self._call("issue search", "GET", "/search/issues", self._gh.search_issues, query)
        return self._call("issue search", "GET", "/search/issues", lambda: [_issue(r) for r in results])

    def find_open_issue(self, marker: str, *, labels: list[str] | tuple[str, ...] = ()) -> GitHubIssue | None:
        """The open issue whose body contains `marker`: search first, then the (consistent) list of open
        issues, so an issue created just before a crash is found even while search has not indexed it."""
        quoted = f'"{marker}" in:body'
        for issue in self.search_issues(quoted):
            if marker in issue.body:
                return issue
        for issue in self.open_issues(labels):
            if marker in issue.body:
                return issue
        return None

    def comments(self, number: int) -> list[GitHubComment]:
        path = f"/repos/{self.repo_name}/issues/{number}/comments"
        raw = self._raw_issue(number)
        return self._call(f"comments of #{number}", "GET", path, lambda: [_comment(c) for c in raw.get_comments()])

    # --- changes (audit and dry-run at the call site) -----------------------------------------------------

    def create_issue(self, title: str, body: str, *, labels: list[str] | tuple[str, ...] = (),
                     assignees: list[str] | tuple[str, ...] = ()) -> GitHubIssue:
        path = f"/repos/{self.repo_name}/issues"
        raw = self._call("new issue", "POST", path, self._repository().create_issue, title=title, body=body,
                         labels=list(labels), assignees=list(assignees))
        return _issue(raw)

    def comment(self, number: int, body: str) -> GitHubComment:
        path = f"/repos/{self.repo_name}/issues/{number}/comments"
        raw = self._raw_issue(number)
        return _comment(self._call(f"comment on #{number}", "POST", path, raw.create_comment, body))

    def close(self, number: int, *, reason: str = "completed") -> GitHubIssue:
        path = f"/repos/{self.repo_name}/issues/{number}"
        raw = self._raw_issue(number)
        self._call(f"closing #{number}", "PATCH", path, raw.edit, state="closed", state_reason=reason)
        return _issue(raw)

    # --- branches, files and draft pull requests ----------------------------------------------------------

    def default_branch_head(self) -> tuple[str, str]:
        """(default branch, the commit sha at its tip)."""
        repo = self._repository()
        branch = repo.default_branch
        ref = self._call(f"branch {branch}", "GET", f"/repos/{self.repo_name}/git/ref/heads/{branch}",
                         lambda: repo.get_git_ref(f"heads/{branch}").object.sha)
        return branch, ref

    def create_branch(self, branch: str, sha: str) -> bool:
        """Create `branch` at `sha`; False when a branch of that name already exists (GitHub's 422)."""
        path = f"/repos/{self.repo_name}/git/refs"
        try:
            self._call(f"branch {branch}", "POST", path, self._repository().create_git_ref, f"refs/heads/{branch}", sha)
        except Rejected as exc:
            if exc.status == 422 and "already exists" in (exc.server_message or "").lower():
                return False
            raise
        return True

    def put_file(self, branch: str, path: str, text: str, message: str) -> bool:
        """Commit a new file on `branch`; False when the file is already there (GitHub's 422 without a sha)."""
        api = f"/repos/{self.repo_name}/contents/{path}"
        try:
            self._call(f"file {path}", "PUT", api, self._repository().create_file, path, message, text, branch=branch)
        except Rejected as exc:
            if exc.status == 422 and "sha" in (exc.server_message or ""):
                return False
            raise
        return True

    def find_pull(self, branch: str, *, state: str = "all") -> GitHubPull | None:
        """The pull request from `branch` of this repository (any state by default), or None."""
        owner = self.repo_name.split("/", 1)[0]
        path = f"/repos/{self.repo_name}/pulls"
        pulls = self._call("pull requests", "GET", path, self._repository().get_pulls, state=state,
                           head=f"{owner}:{branch}")
        first = self._call("pull requests", "GET", path, lambda: next(iter(pulls), None))
        return _pull(first) if first is not None else None

    def create_pull(self, title: str, body: str, *, head: str, base: str, draft: bool = True) -> GitHubPull:
        path = f"/repos/{self.repo_name}/pulls"
        raw = self._call("new pull request", "POST", path, self._repository().create_pull, base=base, head=head,
                         title=title, body=body, draft=draft)
        return _pull(raw)


def _message(exc: GithubException) -> str:
    data = exc.data
    if isinstance(data, dict):
        message = str(data.get("message", ""))
        errors = data.get("errors")
        return f"{message} {errors}" if errors else message
    return str(data or "")[:300]


def github_from_settings(s) -> GitHub:
    s.require("GITHUB_TOKEN", "GITHUB_REPO")
    return GitHub(s.github_token, s.github_repo, api_url=s.github_api_url,
                  seconds_between_writes=s.github_seconds_between_writes)
