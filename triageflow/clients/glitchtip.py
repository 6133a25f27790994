"""The Sentry-compatible REST API as a GlitchTip server really serves it (as the recordings in tests/fixtures/peers/glitchtip show)."""

from __future__ import annotations

import json
import re
import ssl
from functools import lru_cache
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
)
from .resilience import CircuitBreaker, RateLimiter, retrying

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


@lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    """One verified TLS context for every client: building one reads the CA bundle (~20 ms)."""
    return httpx.create_ssl_context()


def server_message(response: httpx.Response) -> str:
    """The server's own words: DRF's `detail`, field errors flattened, or an HTML page's title."""
    text = response.text or ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        if "detail" in body:
            return str(body["detail"])
        parts = []
        for key, value in body.items():
            msgs = value if isinstance(value, list) else [value]
            parts.append(f"{key}: {' '.join(str(m) for m in msgs)}")
        return "; ".join(parts)[:500]
    if body is not None:
        return json.dumps(body)[:500]
    found = re.search(r"<title>(.*?)</title>", text, re.S | re.I)
    para = re.search(r"<p>(.+?)</p>", text, re.S | re.I)
    bits = [unescape(m.group(1)).strip() for m in (found, para) if m and m.group(1).strip()]
    return " — ".join(bits)[:500] if bits else text.strip()[:200]


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
    ) -> None:
        secret = token if isinstance(token, SecretStr) else SecretStr(token)
        self.base_url = base_url.rstrip("/")
        self.org = org
        self.dry_run = dry_run
        self.backup_dir = Path(backup_dir)
        self.planned: list[PlannedRequest] = []
        self._retries = retries
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
        if status in (401, 403):
            raise Unauthorized(f"{self.service} refused the credentials: {message}", **ctx)
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

    def _get(self, path: str, params: Any = None) -> Any:
        return self._request("GET", path, params=params).json()

    def _paged(self, path: str, params: dict[str, Any] | None = None, max_pages: int | None = None) -> Iterator[Any]:
        """Every item of a list endpoint, following `Link: rel="next"; results="true"` cursors."""
        url, query, pages = path, params, 0
        while True:
            response = self._request("GET", url, params=query)
            yield from response.json()
            pages += 1
            nxt = response.links.get("next")
            if not nxt or nxt.get("results") != "true" or (max_pages and pages >= max_pages):
                return
            url, query = self._url(nxt["url"]), None

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

    def _not_found(self, what: str, exc: NotFound) -> NotFound:
        return NotFound(
            f"{what} not found in org {self.org!r} ({exc.request_line})",
            service=exc.service, method=exc.method, path=exc.path, status=exc.status, server_message=exc.server_message,
        )

    # ----------------------------------------------------------------- organization

    def organizations(self) -> list[Organization]:
        return [Organization.model_validate(o) for o in self._paged("/api/0/organizations/")]

    def organization(self) -> dict[str, Any]:
        """The organization with its projects and teams. An unknown org is a NotFound."""
        try:
            return self._get(f"/api/0/organizations/{self.org}/")
        except NotFound as exc:
            raise self._not_found(f"organization {self.org!r}", exc) from None

    def projects(self) -> list[Project]:
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
        return [Team.model_validate(t) for t in self._paged(f"/api/0/organizations/{self.org}/teams/")]

    def members(self) -> list[Member]:
        return [Member.model_validate(m) for m in self._paged(f"/api/0/organizations/{self.org}/members/")]

    def project_keys(self, project: str) -> list[dict[str, Any]]:
        return list(self._paged(f"/api/0/projects/{self.org}/{project}/keys/"))

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

        `limit` is the page size. The server ignores `age:` filters (they match nothing): window by
        `first_seen`/`last_seen` instead.
        """
        params: dict[str, Any] = {}
        if query:
            params["query"] = query
        if project:
            params["project"] = self.project_id(project)
        if sort:
            params["sort"] = sort
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
        return [TagSummary.model_validate(t) for t in self._get(self._issue_path(issue_id) + "tags/")]

    def tag(self, issue_id: str | int, key: str) -> TagSummary:
        return TagSummary.model_validate(self._get(self._issue_path(issue_id) + f"tags/{key}/"))

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

    # ----------------------------------------------------------------- changes

    def add_comment(self, issue_id: str | int, text: str) -> Comment | None:
        """Post a comment (None in dry-run). The server takes only `{"data": {"text": ...}}` on this path."""
        if not text.strip():
            raise Refused("a comment needs text", service=self.service)
        response = self._mutate("POST", self._issue_path(issue_id) + "comments/", body={"data": {"text": text}})
        return None if response is None else Comment.model_validate(response.json())

    def delete_comment(self, issue_id: str | int, comment_id: str | int) -> bool:
        """Delete a comment (needs a token with `event:admin`). False in dry-run."""
        if not str(comment_id).isdigit():
            raise Refused(f"comment id must be a number, got {comment_id!r}", service=self.service)
        return self._mutate("DELETE", self._issue_path(issue_id) + f"comments/{comment_id}/") is not None

    def set_status(self, issue_id: str | int, status: Status) -> Issue | None:
        if status not in STATUSES:
            raise Refused(f"status must be one of {', '.join(STATUSES)}, got {status!r}", service=self.service)
        response = self._mutate("PUT", self._issue_path(issue_id), body={"status": status})
        return None if response is None else Issue.model_validate(response.json())

    def resolve(self, issue_id: str | int) -> Issue | None:
        return self.set_status(issue_id, "resolved")

    def ignore(self, issue_id: str | int) -> Issue | None:
        """Ignore until it is reopened by hand (the server has no snooze duration)."""
        return self.set_status(issue_id, "ignored")

    def unresolve(self, issue_id: str | int) -> Issue | None:
        return self.set_status(issue_id, "unresolved")

    def assign(self, issue_id: str | int, assignee: str | None) -> Issue | None:
        """The server answers 400 to a PUT without `status`, so the current status is sent along."""
        current = self.issue(issue_id)
        response = self._mutate("PUT", self._issue_path(issue_id), body={"status": current.status, "assignedTo": assignee})
        return None if response is None else Issue.model_validate(response.json())

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


__all__ = ["GlitchTip", "PlannedRequest", "BulkChange", "glitchtip_from_settings", "ClientError", "server_message"]
