"""The Sentry-compatible REST API as a GlitchTip server really serves it (as the recordings in tests/fixtures/peers/glitchtip show).

One client for the three releases in use — early 2024 (Django REST Framework), 4.2.1 and 5.1 (Django
Ninja). It learns which one it talks to from the organization's own answer, once per client, and
every difference between them is handled here (`RELEASES`, `SORT_NAMES`, `next_link`,
`server_message`, the status path), so flows and tasks never branch on a server's version.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import unescape
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from models.payloads import (
    Comment,
    Event,
    Issue,
    IssueStats,
    Member,
    Organization,
    Project,
    StatsSeries,
    TagSummary,
    Team,
)

from .errors import (
    ClientError,
    NotFound,
    RateLimited,
    Refused,
    Rejected,
    Transient,
    Unauthorized,
    Unavailable,
    UnexpectedAnswer,
    Unsupported,
)
from .resilience import CircuitBreaker, RateLimiter, retrying
from .tls import tls_context

Status = Literal["resolved", "ignored", "unresolved"]
STATUSES: tuple[str, ...] = ("resolved", "ignored", "unresolved")
_IDEMPOTENT = {"GET", "PUT", "DELETE", "HEAD", "OPTIONS"}


@dataclass
class PlannedRequest:
    """A mutating request that dry-run mode recorded instead of sending."""

    method: str
    path: str
    params: dict[str, Any] | None
    body: Any
    at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


@dataclass
class BulkChange:
    ids: list[str]
    status: str
    backup_path: Path | None
    dry_run: bool


@dataclass(frozen=True)
class Release:
    """What a GlitchTip release offers and how it wants to be asked (see ../shared/peers/glitchtip/NOTES.md)."""

    name: str                 # "2024", "4.2.1", "5.1"
    api: str                  # "Django REST Framework" or "Django Ninja"
    ninja_sorts: bool         # sort names `-count`/`-last_seen` (422 on `freq`/`-lastSeen`)
    short_status_put: bool    # PUT /api/0/issues/{id}/ changes a status (405 on 4.2.1)
    tag_by_path: bool         # /issues/{id}/tags/{key}/ (gone since 4.2.1: /tags/?key=)
    issues_stats: bool        # /organizations/{org}/issues-stats/ (5.1)

    def __str__(self) -> str:
        return f"GlitchTip {self.name} ({self.api} API)"


RELEASES: dict[str, Release] = {
    "2024": Release("2024", "Django REST Framework", ninja_sorts=False, short_status_put=True, tag_by_path=True,
                    issues_stats=False),
    "4.2.1": Release("4.2.1", "Django Ninja", ninja_sorts=True, short_status_put=False, tag_by_path=False,
                     issues_stats=False),
    "5.1": Release("5.1", "Django Ninja", ninja_sorts=True, short_status_put=True, tag_by_path=False,
                   issues_stats=True),
}

# Sort names: the 2024 release's and, for the same order, 4.2.1's and 5.1's (which answer 422 to the old ones).
SORT_NAMES: dict[str, str] = {"freq": "-count", "-lastSeen": "-last_seen", "lastSeen": "last_seen", "new": "-first_seen"}
_NINJA_SORTS = {f"{sign}{name}" for sign in ("", "-") for name in ("last_seen", "first_seen", "count", "priority")}
ISSUES_STATS_PERIODS = ("24h", "14d")
ISSUES_STATS_BATCH = 100  # groups per issues-stats call: keeps the URL well under proxies' limits


def release_of(organization: dict[str, Any]) -> Release:
    """Which release sent this organization detail: DRF spells `require2FA`; Ninja `require2fa`, and 5.1
    adds the token's `access` and sends the id as a string."""
    if "require2FA" in organization:
        return RELEASES["2024"]
    if "access" in organization or isinstance(organization.get("id"), str):
        return RELEASES["5.1"]
    return RELEASES["4.2.1"]


def sort_for(release: Release, sort: str) -> str:
    """The name `release` understands for a sort given in either spelling (`freq` ↔ `-count`)."""
    if release.ninja_sorts:
        mapped = SORT_NAMES.get(sort, sort)
        known = sorted(_NINJA_SORTS | set(SORT_NAMES))
        if mapped in _NINJA_SORTS:
            return mapped
    else:
        mapped = {new: old for old, new in SORT_NAMES.items()}.get(sort, sort)
        known = sorted(set(SORT_NAMES) | set(SORT_NAMES.values()))
        if mapped in SORT_NAMES:
            return mapped
    raise Refused(f"sort {sort!r} is not offered by {release}; use one of {', '.join(known)}", service="glitchtip")


_LINK = re.compile(r"<([^>]*)>([^<]*)")


def next_link(header: str | None) -> str | None:
    """The `rel="next"` URL while `results="true"`, from a Link header in RFC 8288 form or wrapped in the
    Python set repr 4.2.1 and 5.1 send (`{'<…>; rel="previous"; …, <…>; rel="next"; …'}`)."""
    if not header:
        return None
    for url, params in _LINK.findall(header):
        if re.search(r'rel="?next"?', params) and re.search(r'results="?true"?', params):
            return url
    return None


def _is_json(response: httpx.Response) -> bool:
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


_LOCATIONS = {"body", "payload", "query", "path"}


def _field_errors(value: Any, where: str = "") -> list[str]:
    """DRF's `{"field": ["msg"]}`, nested (`{"data": {"text": [...]}}`) flattened to `data.text: msg`."""
    if isinstance(value, dict):
        out = []
        for key, inner in value.items():
            out += _field_errors(inner, f"{where}.{key}" if where else str(key))
        return out
    msgs = value if isinstance(value, list) else [value]
    return [f"{where}: {' '.join(str(m) for m in msgs)}" if where else " ".join(str(m) for m in msgs)]


def _ninja_errors(items: list[Any]) -> list[str]:
    """Ninja's `{"detail": [{"type", "loc": ["query", "sort"], "msg"}]}` as `sort: msg`."""
    out = []
    for item in items:
        if not isinstance(item, dict):
            out.append(str(item))
            continue
        loc = [str(p) for p in item.get("loc") or [] if str(p) not in _LOCATIONS]
        msg = str(item.get("msg", item.get("type", "invalid")))
        out.append(f"{'.'.join(loc)}: {msg}" if loc else msg)
    return out


def server_message(response: httpx.Response) -> str:
    """The server's own words on one line: `detail`, field errors (DRF 400 or Ninja 422) naming the field,
    or an HTML page's title."""
    text = response.text or ""
    try:
        body = response.json() if _is_json(response) or text.lstrip().startswith(("{", "[")) else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        detail = body.get("detail")
        if isinstance(detail, list):
            return "; ".join(_ninja_errors(detail))[:500]
        if detail is not None:
            return str(detail)[:500]
        return "; ".join(_field_errors(body))[:500]
    if body is not None:
        return json.dumps(body)[:500]
    found = re.search(r"<title>(.*?)</title>", text, re.S | re.I)
    para = re.search(r"<p>(.+?)</p>", text, re.S | re.I)
    bits = [unescape(m.group(1)).strip() for m in (found, para) if m and m.group(1).strip()]
    line = " — ".join(bits) if bits else " ".join(text.split())
    return line[:200]


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        try:
            from email.utils import parsedate_to_datetime

            return max((parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds(), 0.0)
        except (TypeError, ValueError):
            return None


class GlitchTip:
    """The API of one GlitchTip organization. Thread-safe; open it once and close it when done."""

    service = "glitchtip"

    def __init__(
        self,
        base_url: str,
        token: SecretStr | str,
        org: str,
        *,
        timeout: float = 30.0,
        retries: int = 4,
        rate_limit: float = 10.0,
        max_in_flight: int = 2,
        backoff_initial: float = 0.5,
        backoff_max: float = 20.0,
        dry_run: bool = False,
        backup_dir: Path | str = Path(".triageflow/backups"),
        circuit: CircuitBreaker | None = None,
        transport: httpx.BaseTransport | None = None,
        release: str | None = None,
    ) -> None:
        secret = token if isinstance(token, SecretStr) else SecretStr(token)
        self.base_url = base_url.rstrip("/")
        self.org = org
        self.dry_run = dry_run
        self.backup_dir = Path(backup_dir)
        self.planned: list[PlannedRequest] = []
        self._retries = retries
        self._release: Release | None = None if release is None else RELEASES[release]
        self._org_checked = False
        self._learn_lock = threading.Lock()
        self._backoff = (backoff_initial, backoff_max)
        self._limiter = RateLimiter(rate_limit, max_in_flight)
        self.circuit = circuit or CircuitBreaker(self.service)
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {secret.get_secret_value()}", "Accept": "application/json"},
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=max(max_in_flight, 1) * 2, keepalive_expiry=4.0),
            follow_redirects=False,
            verify=tls_context(),
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"GlitchTip({self.base_url!r}, org={self.org!r}, token=**********, dry_run={self.dry_run})"

    def __enter__(self) -> "GlitchTip":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # ----------------------------------------------------------------- transport

    def _url(self, path_or_url: str) -> str:
        """A Link header may name another host (a proxy's inner name): keep its path, use our base."""
        if not path_or_url.startswith(("http://", "https://")):
            return path_or_url
        parts = urlsplit(path_or_url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def _send_once(self, method: str, url: str, params: Any, body: Any) -> httpx.Response:
        self.circuit.before_call()
        path = urlsplit(url).path
        ctx = {"service": self.service, "method": method, "path": path}
        with self._limiter.slot():
            try:
                response = self._http.request(method, url, params=params, json=body)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                self.circuit.record_failure()
                raise Unavailable(f"{self.service} unreachable: {exc.__class__.__name__}: {exc}", **ctx) from exc
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                self.circuit.record_failure()
                err = Unavailable(f"{self.service} connection failed: {exc.__class__.__name__}: {exc}", **ctx)
                err.maybe_processed = True  # the request may have reached the server
                raise err from exc
        status = response.status_code
        ctx["status"] = status
        if status < 400:
            self.circuit.record_success()
            return response
        message = server_message(response)
        if not _is_json(response) and "<html" in (response.text or "")[:500].lower():
            message = f"the server answered a web page: {message}" if message else "the server answered a web page"
        ctx["server_message"] = message
        if status == 429:
            self.circuit.record_failure()
            raise RateLimited(f"{self.service} rate limited: {message}", retry_after=_retry_after(response), **ctx)
        if status >= 500:
            self.circuit.record_failure()
            err = Unavailable(f"{self.service} server error {status}: {message}", **ctx)
            err.maybe_processed = status not in (502, 503, 504)
            raise err
        self.circuit.record_success()  # the server is up; the request was wrong
        if status in (401, 403):  # 403 on the 2024 release, 401 since 4.2.1
            raise Unauthorized(f"{self.service}: token refused by {self.base_url} ({status} {message})", **ctx)
        if status == 404:
            raise NotFound(f"{self.service}: not found: {message}", **ctx)
        raise Rejected(f"{self.service} rejected the request: {message}", **ctx)

    def _request(self, method: str, path: str, *, params: Any = None, json_body: Any = None) -> httpx.Response:
        idempotent = method in _IDEMPOTENT

        def retry_on(exc: BaseException) -> bool:
            # A POST that may have reached the server is not sent again: it could post twice.
            return isinstance(exc, Transient) and (idempotent or not getattr(exc, "maybe_processed", False))

        policy = retrying(self._retries + 1, initial=self._backoff[0], maximum=self._backoff[1], retry_on=retry_on)
        url = self._url(path)
        return policy(self._send_once, method, url, params, json_body)

    def _data(self, response: httpx.Response) -> Any:
        """The JSON body; a web page (a path the API does not route, a login page) is refused as data."""
        request = response.request
        line = f"{request.method} {request.url.path} → {response.status_code}"
        if not _is_json(response):
            kind = response.headers.get("content-type", "no content type").split(";")[0]
            raise UnexpectedAnswer(
                f"{self.service} at {self.base_url} answered a web page ({kind}), not API data ({line})",
                service=self.service, method=request.method, path=request.url.path, status=response.status_code,
                server_message=server_message(response))
        try:
            return response.json()
        except ValueError as exc:
            raise UnexpectedAnswer(f"{self.service} sent malformed JSON ({line}): {exc}", service=self.service,
                                   method=request.method, path=request.url.path, status=response.status_code) from None

    def _get(self, path: str, params: Any = None) -> Any:
        return self._data(self._request("GET", path, params=params))

    def _paged(self, path: str, params: Any = None, max_pages: int | None = None) -> Iterator[Any]:
        """Every item of a list endpoint, following `Link: rel="next"; results="true"` cursors (either form)."""
        url, query, pages = path, params, 0
        while True:
            response = self._request("GET", url, params=query)
            items = self._data(response)
            if not isinstance(items, list):
                raise UnexpectedAnswer(f"{self.service} sent {type(items).__name__} where a list was expected "
                                       f"(GET {urlsplit(url).path} → {response.status_code})", service=self.service,
                                       method="GET", path=urlsplit(url).path, status=response.status_code)
            yield from items
            pages += 1
            nxt = next_link(response.headers.get("link"))
            if not nxt or (max_pages and pages >= max_pages):
                return
            url, query = self._url(nxt), None

    def _mutate(self, method: str, path: str, *, params: Any = None, body: Any = None) -> httpx.Response | None:
        if self.dry_run:
            self.planned.append(PlannedRequest(method, path, params, body))
            return None
        return self._request(method, path, params=params, json_body=body)

    @staticmethod
    def _issue_path(issue_id: str | int) -> str:
        text = str(issue_id).strip()
        if not text.isdigit():
            raise Refused(f"issue id must be a number, got {issue_id!r}", service="glitchtip")
        return f"/api/0/issues/{text}/"

    # ----------------------------------------------------------------- which server

    @property
    def release(self) -> Release:
        """The release this server runs, learnt once from the organization's detail (one GET) and kept."""
        self._learn()
        assert self._release is not None
        return self._release

    @property
    def supports_issues_stats(self) -> bool:
        """True when `issues_stats` can answer (5.1 and later)."""
        return self.release.issues_stats

    def _learn(self) -> None:
        """One GET of the organization: tells the release apart and proves the org exists, which the
        issue list cannot (it answers 200 [] on 2024, a 500 page on 4.2.1 and 404 on 5.1)."""
        if self._org_checked:
            return
        with self._learn_lock:
            if self._org_checked:
                return
            detail = self.organization()
            if self._release is None:
                self._release = release_of(detail)
            self._org_checked = True

    def _org_not_found(self, exc: ClientError) -> NotFound:
        return NotFound(
            f"organization {self.org!r} not found on {self.base_url} (check GLITCHTIP_ORG)",
            service=exc.service or self.service, method=exc.method, path=exc.path, status=exc.status,
            server_message=exc.server_message,
        )

    def _not_found(self, what: str, exc: NotFound) -> NotFound:
        return NotFound(
            f"{what} not found in org {self.org!r} ({exc.request_line})",
            service=exc.service, method=exc.method, path=exc.path, status=exc.status, server_message=exc.server_message,
        )

    # ----------------------------------------------------------------- organization

    def organizations(self) -> list[Organization]:
        return [Organization.model_validate(o) for o in self._paged("/api/0/organizations/")]

    def organization(self) -> dict[str, Any]:
        """The organization with its projects and teams. An unknown org is a NotFound naming GLITCHTIP_ORG."""
        try:
            detail = self._get(f"/api/0/organizations/{self.org}/")
        except NotFound as exc:
            raise self._org_not_found(exc) from None
        if not isinstance(detail, dict):
            raise UnexpectedAnswer(f"{self.service} sent {type(detail).__name__} for organization {self.org!r}",
                                   service=self.service, method="GET", path=f"/api/0/organizations/{self.org}/")
        return detail

    def projects(self) -> list[Project]:
        self._learn()
        return [Project.model_validate(p) for p in self._paged(f"/api/0/organizations/{self.org}/projects/")]

    def project(self, slug: str) -> Project:
        try:
            return Project.model_validate(self._get(f"/api/0/projects/{self.org}/{slug}/"))
        except NotFound as exc:
            raise self._not_found(f"project {slug!r}", exc) from None

    def project_id(self, slug_or_id: str) -> str:
        """Projects are filtered by numeric id; accept a slug too."""
        if str(slug_or_id).isdigit():
            return str(slug_or_id)
        return self.project(slug_or_id).id

    def teams(self) -> list[Team]:
        self._learn()
        return [Team.model_validate(t) for t in self._paged(f"/api/0/organizations/{self.org}/teams/")]

    def members(self) -> list[Member]:
        self._learn()
        return [Member.model_validate(m) for m in self._paged(f"/api/0/organizations/{self.org}/members/")]

    def project_keys(self, project: str) -> list[dict[str, Any]]:
        """DSN keys; `projectId` (2024) and `projectID` (since 4.2.1) are both present in what is returned."""
        keys = list(self._paged(f"/api/0/projects/{self.org}/{project}/keys/"))
        for key in keys:
            if "projectID" in key or "projectId" in key:
                key.setdefault("projectId", key.get("projectID"))
                key.setdefault("projectID", key.get("projectId"))
        return keys

    def alerts(self, project: str) -> list[dict[str, Any]]:
        return list(self._paged(f"/api/0/projects/{self.org}/{project}/alerts/"))

    # ----------------------------------------------------------------- issues

    def issues(
        self,
        query: str | None = "is:unresolved",
        *,
        project: str | None = None,
        sort: str | None = None,
        limit: int | None = None,
        stats_period: str | None = None,
        max_pages: int | None = None,
    ) -> Iterator[Issue]:
        """Issues matching a search (`is:unresolved level:error component:database`), every page.

        `limit` is the page size (at most 100 since 4.2.1). `sort` in either release's spelling
        (`freq` or `-count`, `-lastSeen` or `-last_seen`, `new` or `-first_seen`): it is sent as the
        server understands it. The server ignores `age:` filters (they match nothing): window by
        `first_seen`/`last_seen` instead.
        """
        self._learn()  # an unknown org answers 200 [] / 500 / 404 here: the org check names it instead
        params: dict[str, Any] = {}
        if query:
            params["query"] = query
        if project:
            params["project"] = self.project_id(project)
        if sort:
            params["sort"] = sort_for(self.release, sort)
        if limit:
            params["limit"] = limit
        if stats_period:
            params["statsPeriod"] = stats_period
        for item in self._paged(f"/api/0/organizations/{self.org}/issues/", params, max_pages=max_pages):
            yield Issue.model_validate(item)

    def issue(self, issue_id: str | int) -> Issue:
        try:
            return Issue.model_validate(self._get(self._issue_path(issue_id)))
        except NotFound as exc:
            raise self._not_found(f"issue {issue_id}", exc) from None

    def events(self, issue_id: str | int, *, max_pages: int | None = None) -> Iterator[Event]:
        """Events of an issue, newest first."""
        try:
            for item in self._paged(self._issue_path(issue_id) + "events/", max_pages=max_pages):
                yield Event.model_validate(item)
        except NotFound as exc:
            raise self._not_found(f"issue {issue_id}", exc) from None

    def latest_event(self, issue_id: str | int) -> Event:
        try:
            return Event.model_validate(self._get(self._issue_path(issue_id) + "events/latest/"))
        except NotFound as exc:
            raise self._not_found(f"latest event of issue {issue_id}", exc) from None

    def tags(self, issue_id: str | int) -> list[TagSummary]:
        try:
            return [TagSummary.model_validate(t) for t in self._get(self._issue_path(issue_id) + "tags/")]
        except NotFound as exc:
            raise self._not_found(f"issue {issue_id}", exc) from None

    def tag(self, issue_id: str | int, key: str) -> TagSummary:
        """One tag's values: `/tags/{key}/` on 2024, `/tags/?key=` since 4.2.1 (the old path is a 500 page)."""
        if not re.fullmatch(r"[\w.:-]{1,64}", key):
            raise Refused(f"tag key must be a word (letters, digits, . _ : -), got {key!r}", service=self.service)
        path = self._issue_path(issue_id) + "tags/"
        try:
            if self.release.tag_by_path:
                return TagSummary.model_validate(self._get(path + f"{key}/"))
            found = [t for t in self._get(path, {"key": key}) if t.get("key") == key]
        except NotFound as exc:
            raise self._not_found(f"tag {key!r} of issue {issue_id}", exc) from None
        if not found:
            raise NotFound(f"tag {key!r} not found on issue {issue_id} in org {self.org!r} (GET {path}?key={key})",
                           service=self.service, method="GET", path=path, status=200)
        return TagSummary.model_validate(found[0])

    def comments(self, issue_id: str | int) -> list[Comment]:
        try:
            return [Comment.model_validate(c) for c in self._paged(self._issue_path(issue_id) + "comments/")]
        except NotFound as exc:
            raise self._not_found(f"issue {issue_id}", exc) from None

    def event_stats(
        self,
        start: datetime,
        end: datetime,
        *,
        interval: str = "1h",
        category: str = "error",
        project_ids: Iterable[str] = (),
    ) -> StatsSeries:
        """Event counts per interval (`stats_v2`; the only stats endpoint the server answers)."""
        if end <= start:
            raise Refused(f"stats window must end after it starts ({start.isoformat()} .. {end.isoformat()})")
        params: list[tuple[str, str]] = [
            ("category", category),
            ("start", start.astimezone(timezone.utc).isoformat()),
            ("end", end.astimezone(timezone.utc).isoformat()),
            ("interval", interval),
            ("field", "sum(quantity)"),
        ]
        params += [("project", p) for p in project_ids]
        return StatsSeries.model_validate(self._get(f"/api/0/organizations/{self.org}/stats_v2/", params))

    def issues_stats(self, issue_ids: Iterable[str | int], period: str = "24h") -> dict[str, IssueStats]:
        """Totals and events per bucket for many issues in few calls (5.1's `issues-stats`).

        Stable signature (callers rely on it):
            issues_stats(issue_ids, period="24h") -> dict[issue id (str), IssueStats]
        `period` is "24h" (hourly buckets) or "14d" (daily). Each `IssueStats` has `count`,
        `user_count`, `first_seen`, `last_seen` and `buckets(period)` -> [(bucket start, events)],
        hours without events left out. Ids the server does not know are absent from the result.
        Sends `GET /organizations/{org}/issues-stats/?groups=ID&groups=ID&statsPeriod=…`, up to
        100 ids a call. Raises `Unsupported` on releases before 5.1 (check `supports_issues_stats`
        first, and fall back to `issue()`/`events()` there); `Refused` on a non-numeric id or an
        unknown period.
        """
        ids = list(dict.fromkeys(str(i).strip() for i in issue_ids))
        for i in ids:
            self._issue_path(i)  # refuses a non-numeric id before anything is sent
        if period not in ISSUES_STATS_PERIODS:
            raise Refused(f"period must be one of {', '.join(ISSUES_STATS_PERIODS)}, got {period!r}",
                          service=self.service)
        if not self.supports_issues_stats:
            raise Unsupported(f"{self.release} at {self.base_url} has no issues-stats endpoint (5.1 and later)",
                              service=self.service, path=f"/api/0/organizations/{self.org}/issues-stats/")
        out: dict[str, IssueStats] = {}
        for start in range(0, len(ids), ISSUES_STATS_BATCH):
            batch = ids[start:start + ISSUES_STATS_BATCH]
            params = [("groups", i) for i in batch] + [("statsPeriod", period)]
            for item in self._get(f"/api/0/organizations/{self.org}/issues-stats/", params):
                stats = IssueStats.model_validate(item)
                out[stats.id] = stats
        return out

    # ----------------------------------------------------------------- changes

    def add_comment(self, issue_id: str | int, text: str) -> Comment | None:
        """Post a comment (None in dry-run). The server takes only `{"data": {"text": ...}}` on this path."""
        if not text.strip():
            raise Refused("a comment needs text", service=self.service)
        response = self._mutate("POST", self._issue_path(issue_id) + "comments/", body={"data": {"text": text}})
        return None if response is None else Comment.model_validate(self._data(response))

    def delete_comment(self, issue_id: str | int, comment_id: str | int) -> bool:
        """Delete a comment (needs a token with `event:admin`). False in dry-run."""
        if not str(comment_id).isdigit():
            raise Refused(f"comment id must be a number, got {comment_id!r}", service=self.service)
        return self._mutate("DELETE", self._issue_path(issue_id) + f"comments/{comment_id}/") is not None

    def _status_path(self, issue_id: str | int) -> str:
        """Where one issue's status changes: `/issues/{id}/` (2024, 5.1) or only the org-scoped path (4.2.1)."""
        path = self._issue_path(issue_id)
        if self.release.short_status_put:
            return path
        return f"/api/0/organizations/{self.org}/issues/{path.rsplit('/', 2)[-2]}/"

    def _put_issue(self, issue_id: str | int, body: dict[str, Any]) -> Issue | None:
        """PUT a change, then read the issue back: the PUT answer is another shape on each release."""
        try:
            response = self._mutate("PUT", self._status_path(issue_id), body=body)
        except NotFound as exc:
            raise self._not_found(f"issue {issue_id}", exc) from None
        return None if response is None else self.issue(issue_id)

    def set_status(self, issue_id: str | int, status: Status) -> Issue | None:
        """Change one issue's status and return the issue as the server now has it (None in dry-run)."""
        if status not in STATUSES:
            raise Refused(f"status must be one of {', '.join(STATUSES)}, got {status!r}", service=self.service)
        return self._put_issue(issue_id, {"status": status})

    def resolve(self, issue_id: str | int) -> Issue | None:
        return self.set_status(issue_id, "resolved")

    def ignore(self, issue_id: str | int) -> Issue | None:
        """Ignore until it is reopened by hand (the server has no snooze duration)."""
        return self.set_status(issue_id, "ignored")

    def unresolve(self, issue_id: str | int) -> Issue | None:
        return self.set_status(issue_id, "unresolved")

    def assign(self, issue_id: str | int, assignee: str | None) -> Issue | None:
        """A PUT without `status` is refused (400 / 422 / a 500 page by release), so the current status goes along."""
        current = self.issue(issue_id)
        return self._put_issue(issue_id, {"status": current.status, "assignedTo": assignee})

    def bulk_set_status(self, issue_ids: Iterable[str | int], status: Status) -> BulkChange:
        """Change many issues in one call, after writing a JSON backup of them.

        Refuses an empty id list: the server would apply the change to every issue in the org.
        """
        ids = [str(i).strip() for i in issue_ids]
        if not ids:
            raise Refused(
                "bulk change refused: no issue ids given (the server would change every issue in the org)",
                service=self.service,
            )
        for i in ids:
            self._issue_path(i)
        if status not in STATUSES:
            raise Refused(f"status must be one of {', '.join(STATUSES)}, got {status!r}", service=self.service)
        self._learn()
        params = [("id", i) for i in ids]
        path = f"/api/0/organizations/{self.org}/issues/"
        if self.dry_run:
            self._mutate("PUT", path, params=dict(id=ids), body={"status": status})
            return BulkChange(ids, status, None, dry_run=True)
        backup = self._backup(ids, status)
        self._request("PUT", path, params=params, json_body={"status": status})
        return BulkChange(ids, status, backup, dry_run=False)

    def _backup(self, ids: list[str], status: str) -> Path:
        before = [self.issue(i).model_dump(mode="json", by_alias=True) for i in ids]
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        path = self.backup_dir / f"bulk-{status}-{stamp}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"org": self.org, "status": status, "issues": before}, indent=2, default=str))
        tmp.replace(path)
        return path


def glitchtip_from_settings(s, *, dry_run: bool | None = None, **overrides) -> GlitchTip:
    """Build the client from settings; a missing variable is named in the error."""
    s.require("GLITCHTIP_URL", "GLITCHTIP_TOKEN", "GLITCHTIP_ORG")
    options = dict(
        timeout=s.glitchtip_timeout,
        retries=s.glitchtip_retries,
        rate_limit=s.glitchtip_rate_limit,
        max_in_flight=s.glitchtip_max_in_flight,
        dry_run=s.triage_dry_run if dry_run is None else dry_run,
        backup_dir=s.triage_backup_dir,
    )
    options.update(overrides)
    return GlitchTip(s.glitchtip_url, s.glitchtip_token, s.glitchtip_org, **options)


__all__ = ["GlitchTip", "PlannedRequest", "BulkChange", "Release", "RELEASES", "glitchtip_from_settings", "ClientError",
           "Unsupported", "next_link", "release_of", "server_message", "sort_for"]
