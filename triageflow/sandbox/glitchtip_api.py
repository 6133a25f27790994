"""HTTP routes of the sandbox GlitchTip: paths, statuses, headers and error shapes of the recorded server."""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from . import seed
from .glitchtip_releases import MAX_PAGE, ReleaseProfile
from .glitchtip_state import STATUSES, GlitchTipState

MAX_HITS = 1000
ALLOW_LIST = "GET, POST, HEAD, OPTIONS"
ALLOW_ISSUES = "GET, PUT, DELETE, HEAD, OPTIONS"
ALLOW_DETAIL = "GET, PUT, PATCH, DELETE, HEAD, OPTIONS"
ALLOW_READ = "GET, HEAD, OPTIONS"

SERVER_ERROR_PAGE = (
    "\n<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Server Error (500)</title>\n</head>\n<body>\n"
    "  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n"
)
CSRF_PAGE = (
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n  <title>403 Forbidden</title>\n</head>\n<body>\n"
    "<div id=\"summary\">\n  <h1>Forbidden <span>(403)</span></h1>\n  <p>CSRF verification failed. Request aborted.</p>\n"
    "</div>\n</body>\n</html>\n"
)
NOT_FOUND_PAGE = "<!DOCTYPE html>\n<html>\n  <head>\n    <title>GlitchTip</title>\n  </head>\n  <body></body>\n</html>\n"


def _json(body: Any, status: int = 200, allow: str | None = None, headers: dict[str, str] | None = None) -> Response:
    out = dict(headers or {})
    if allow:
        out["allow"] = allow
    return JSONResponse(body, status_code=status, headers=out)


def _method_not_allowed(allow: str) -> Response:
    """Django Ninja's answer to a method the path does not route: plain words, an HTML content type."""
    return PlainTextResponse("Method not allowed", status_code=405,
                             headers={"content-type": "text/html; charset=utf-8", "allow": allow})


def _invalid(release: ReleaseProfile, location: tuple[str, ...], message: str, kind: str = "missing",
             allow: str | None = None) -> Response:
    status, body = release.validation_error(location, message, kind)
    return _json(body, status, None if release.ninja else allow)


def _html(body: str, status: int) -> Response:
    return HTMLResponse(body, status_code=status, headers={"content-type": "text/html; charset=utf-8"})


def _encode_cursor(offset: int) -> str:
    return base64.b64encode(f"o={offset}".encode()).decode()


def _decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.b64decode(cursor.encode()).decode()
        return max(int(text.removeprefix("o=")), 0)
    except (ValueError, UnicodeDecodeError):
        return 0


def _paged(request: Request, items: Any, allow: str | None = ALLOW_LIST, *, release: ReleaseProfile) -> Response:
    """A list answer with GlitchTip's cursor `Link` header (RFC form, or a Python set repr since 4.2.1),
    `X-Hits` and `X-Max-Hits`."""
    params = request.query_params
    try:
        limit = min(max(int(params.get("limit", release.page_size)), 1), MAX_PAGE)
    except ValueError:
        limit = release.page_size
    offset = _decode_cursor(params.get("cursor"))
    page = items[offset:offset + limit]
    base = f"{str(request.base_url).rstrip('/')}{request.url.path}"
    original = f"{base}?{request.url.query}" if request.url.query else base

    def link(rel: str, target: int | None) -> str:
        if target is None:
            return f'<{original}>; rel="{rel}"; results="false"'
        query = {k: v for k, v in params.multi_items() if k != "cursor"}
        query["cursor"] = _encode_cursor(target)
        url = f"{base}?{urlencode(sorted(query.items()))}"
        return f'<{url}>; rel="{rel}"; results="true"; cursor="{query["cursor"]}"'

    prev_target = max(offset - limit, 0) if offset > 0 else None
    next_target = offset + limit if offset + limit < len(items) else None
    link_value = f"{link('previous', prev_target)}, {link('next', next_target)}"
    if release.link_as_set_repr:
        link_value = repr({link_value})
    headers = {"link": link_value, "x-max-hits": str(MAX_HITS), "x-hits": str(len(items))}
    return _json(page, allow=None if release.ninja else allow, headers=headers)


def build_router(state: GlitchTipState) -> APIRouter:
    def remember_base_url(request: Request) -> None:
        state.base_url = str(request.base_url).rstrip("/")  # 5.1's permalinks name the server

    router = APIRouter(dependencies=[Depends(remember_base_url)])
    org_slug = state.org["slug"]

    def rel() -> ReleaseProfile:
        return state.release  # read per request: a reset may switch the release

    def paged(request: Request, items: Any, allow: str | None = ALLOW_LIST) -> Response:
        return _paged(request, items, allow, release=state.release)

    def issue_or_404(issue_id: str) -> int | None:
        return int(issue_id) if issue_id.isdigit() and int(issue_id) in state.issues else None

    def not_found(drf_detail: str = "Not found.", allow: str | None = None) -> Response:
        if rel().ninja:
            return _json({"detail": rel().not_found_detail}, 404)
        return _json({"detail": drf_detail}, 404, allow)

    def not_found_issue(allow: str | None = ALLOW_DETAIL) -> Response:
        return not_found("No Issue matches the given query.", allow)

    @router.get("/api/0/organizations/")
    def organizations(request: Request):
        return paged(request, [state.org_json()])

    @router.get("/api/0/organizations/{org}/")
    def organization(org: str):
        if org != org_slug:
            return not_found(allow=ALLOW_DETAIL)
        return _json(state.organization_detail(), allow=None if rel().ninja else ALLOW_DETAIL)

    @router.get("/api/0/organizations/{org}/projects/")
    def projects(request: Request, org: str):
        items = [state.project_json(p["slug"]) for p in seed.PROJECTS] if org == org_slug else []
        items.sort(key=lambda p: p["firstEvent"], reverse=True)
        return paged(request, items, allow=ALLOW_READ)

    @router.get("/api/0/organizations/{org}/teams/")
    def teams(request: Request, org: str):
        return paged(request, [state.team_json()] if org == org_slug else [])

    @router.get("/api/0/organizations/{org}/members/")
    def members(request: Request, org: str):
        return paged(request, [state.member_json()] if org == org_slug else [])

    @router.get("/api/0/organizations/{org}/monitors/")
    def monitors(request: Request, org: str):
        return paged(request, [])

    @router.get("/api/0/organizations/{org}/stats-summary/")
    def stats_summary(org: str):
        return _html(NOT_FOUND_PAGE, 404)

    @router.get("/api/0/organizations/{org}/issues/")
    def org_issues(request: Request, org: str):
        if org != org_slug:
            unknown = rel().unknown_org_issues
            if unknown == "html500":
                return _html(SERVER_ERROR_PAGE, 500)
            if unknown == "404":
                return not_found()
            return paged(request, [], allow=ALLOW_ISSUES)
        params = request.query_params
        sort = params.get("sort")
        if sort is not None and rel().sort_key(sort) is None and rel().ninja:
            expected = " or ".join(", ".join(f"'{n}'" for n in rel().sorts).rsplit(", ", 1))
            status, body = rel().validation_error(("query", "sort"), f"Input should be {expected}", "literal_error")
            body["detail"][0]["ctx"] = {"expected": expected}
            return _json(body, status)
        with state.lock:
            ids = state.search(params.get("query"), params.getlist("project") or None, params.get("sort"))
        return paged(request, _LazyIssues(state, ids), allow=ALLOW_ISSUES)

    @router.put("/api/0/organizations/{org}/issues/")
    async def bulk_update(request: Request, org: str):
        body = await _body(request)
        status = body.get("status") if isinstance(body, dict) else None
        if status not in STATUSES:
            if status is None:
                return _invalid(rel(), ("body", "payload", "status"), "Field required" if rel().ninja
                                else "This field is required.", allow=ALLOW_ISSUES)
            return _invalid(rel(), ("body", "payload", "status"), f'"{status}" is not a valid choice.', "enum",
                            allow=ALLOW_ISSUES)
        params = request.query_params
        with state.lock:
            if org != org_slug:
                ids = []
            elif params.getlist("id"):
                ids = [int(i) for i in params.getlist("id") if i.isdigit() and int(i) in state.issues]
            else:  # as the real server does: no ids means every issue the query matches
                ids = state.search(params.get("query"), params.getlist("project") or None)
            state.set_status(ids, status)
        answer: dict[str, Any] = {"status": status}
        if rel().org_access:
            answer["merge"] = None
        return _json(answer, allow=None if rel().ninja else ALLOW_ISSUES)

    @router.get("/api/0/organizations/{org}/issues-stats/")
    def issues_stats(request: Request, org: str):
        if not rel().issues_stats:  # not routed: the web app answers
            return _html(SERVER_ERROR_PAGE, 500) if rel().ninja else _html(NOT_FOUND_PAGE, 404)
        if org != org_slug:
            return not_found()
        params = request.query_params
        period = params.get("statsPeriod") or "24h"
        if not re.fullmatch(r"(24h|14d)", period):
            return _invalid(rel(), ("query", "statsPeriod"), "Input should be '24h' or '14d'", "literal_error")
        groups = [g for g in params.getlist("groups")]
        if not all(g.isdigit() for g in groups):
            return _invalid(rel(), ("query", "groups", 0), "Input should be a valid integer", "int_parsing")
        with state.lock:
            ids = [int(g) for g in dict.fromkeys(groups) if int(g) in state.issues]
            return _json(state.issues_stats_json(ids, period))

    @router.get("/api/0/organizations/{org}/issues/{issue_id}/")
    def org_issue(org: str, issue_id: str):
        if not rel().org_get:
            return _method_not_allowed("PUT")
        found = issue_or_404(issue_id)
        if org != org_slug or found is None:
            return not_found_issue()
        return _json(state.issue_json(found, detail=True), allow=ALLOW_DETAIL)

    @router.put("/api/0/organizations/{org}/issues/{issue_id}/")
    async def org_update_issue(request: Request, org: str, issue_id: str):
        if not rel().org_put:
            return _method_not_allowed("GET")
        found = issue_or_404(issue_id) if org == org_slug else None
        if found is None:
            return not_found_issue()
        return await _update(request, found)

    @router.api_route("/api/0/organizations/{org}/issues/{issue_id}/comments/", methods=["POST"])
    def org_scoped_comment(org: str, issue_id: str):
        return _html(CSRF_PAGE, 403)

    @router.get("/api/0/organizations/{org}/stats_v2/")
    def stats_v2(request: Request, org: str):
        params = request.query_params
        errors = {}
        start, end = _parse_time(params.get("start")), _parse_time(params.get("end"))
        if start is None:
            errors["start"] = ["This field may not be null."]
        if end is None:
            errors["end"] = ["This field may not be null."]
        for name in ("category", "interval", "field"):
            if not params.get(name):
                errors[name] = ["This field is required."]
        step = _parse_interval(params.get("interval") or "")
        if params.get("interval") and step is None:
            errors["interval"] = ["Invalid interval."]
        if errors and rel().ninja:
            return _json({"detail": [{"type": "missing", "loc": ["query", name], "msg": "Field required"}
                                     for name in errors]}, 422)
        if errors:
            return _json(errors, 400, ALLOW_READ)
        projects = params.getlist("project") or None
        with state.lock:
            intervals, counts = state.event_counts(start, end, step, projects) if org == org_slug else ([], [])
        return _json({
            "intervals": [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in intervals],
            "groups": [{"series": {params["field"]: counts}}],
        })

    # ---------------------------------------------------------------- projects

    @router.get("/api/0/projects/{org}/{project}/")
    def project(org: str, project: str):
        if org != org_slug or project not in seed.PROJECT_BY_SLUG:
            return not_found(allow=ALLOW_DETAIL)
        return _json(state.project_json(project, with_org=True), allow=None if rel().ninja else ALLOW_DETAIL)

    @router.get("/api/0/projects/{org}/{project}/issues/")
    def project_issues(request: Request, org: str, project: str):
        if org != org_slug or project not in seed.PROJECT_BY_SLUG:
            return paged(request, [], allow=ALLOW_ISSUES)
        pid = seed.PROJECT_BY_SLUG[project]["id"]
        with state.lock:
            ids = state.search(request.query_params.get("query"), [pid])
        return paged(request, _LazyIssues(state, ids), allow=ALLOW_ISSUES)

    @router.get("/api/0/projects/{org}/{project}/keys/")
    def project_keys(request: Request, org: str, project: str):
        if org != org_slug or project not in seed.PROJECT_BY_SLUG:
            return paged(request, [])
        return paged(request, [state.project_key_json(project, request.url.netloc)])

    @router.get("/api/0/projects/{org}/{project}/alerts/")
    def project_alerts(request: Request, org: str, project: str):
        return paged(request, state.alerts.get(project, []))

    @router.post("/api/0/projects/{org}/{project}/alerts/")
    async def create_alert(request: Request, org: str, project: str):
        body = await _body(request)
        if org != org_slug or project not in seed.PROJECT_BY_SLUG:
            return not_found(allow=ALLOW_LIST)
        if not isinstance(body, dict) or not isinstance(body.get("alertRecipients", []), list):
            return _invalid(rel(), ("body", "payload", "alertRecipients"), "Expected a list of items.", "list_type",
                            allow=ALLOW_LIST)
        with state.lock:
            alerts = state.alerts.setdefault(project, [])
            alert = {"id": len(alerts) + 1, "name": body.get("name", ""), "timespan_minutes": body.get("timespan_minutes"),
                     "quantity": body.get("quantity"), "uptime": bool(body.get("uptime", False)),
                     "alertRecipients": [dict(r, id=n + 1) for n, r in enumerate(body.get("alertRecipients", []))]}
            alerts.append(alert)
        return _json(alert, 201, ALLOW_LIST)

    @router.get("/api/0/projects/{org}/{project}/stats/")
    def project_stats(org: str, project: str):
        return _html(SERVER_ERROR_PAGE, 500)

    # ---------------------------------------------------------------- one issue

    @router.get("/api/0/issues/{issue_id}/")
    def issue(issue_id: str):
        found = issue_or_404(issue_id)
        if found is None:
            return not_found_issue()
        with state.lock:
            return _json(state.issue_json(found, detail=True), allow=None if rel().ninja else ALLOW_DETAIL)

    @router.put("/api/0/issues/{issue_id}/")
    async def update_issue(request: Request, issue_id: str):
        if not rel().short_put:  # 4.2.1 routes only GET and DELETE here
            return _method_not_allowed("GET, DELETE")
        found = issue_or_404(issue_id)
        if found is None:
            return not_found_issue()
        return await _update(request, found)

    async def _update(request: Request, found: int) -> Response:
        body = await _body(request)
        release = rel()
        if not isinstance(body, dict) or "status" not in body:
            if release.put_without_status == "500":
                return _html(SERVER_ERROR_PAGE, 500)
            return _invalid(release, ("body", "payload", "status"), "Field required" if release.ninja
                            else "This field is required.", allow=ALLOW_DETAIL)
        if body["status"] not in STATUSES:
            return _invalid(release, ("body", "payload", "status"), f'"{body["status"]}" is not a valid choice.',
                            "enum", allow=ALLOW_DETAIL)
        with state.lock:
            if "assignedTo" in body:
                if body["assignedTo"] not in (None, seed.ADMIN["email"]):
                    return _invalid(release, ("body", "payload", "assignedTo"), "Unknown actor.", "value_error",
                                    allow=ALLOW_DETAIL)
                state.assign(found, body["assignedTo"])
            state.set_status([found], body["status"])
            return _json(state.issue_json(found, put_answer=True), allow=None if release.ninja else ALLOW_DETAIL)

    @router.get("/api/0/issues/{issue_id}/events/")
    def events(request: Request, issue_id: str):
        found = issue_or_404(issue_id)
        if found is None:
            return not_found(allow=ALLOW_READ)
        record = state.issues[found]
        # render only the page asked for: an issue can hold thousands of events
        lazy = _LazyEvents(state, found, len(record.events))
        return paged(request, lazy, allow=None)

    @router.get("/api/0/issues/{issue_id}/events/latest/")
    def latest_event(issue_id: str):
        found = issue_or_404(issue_id)
        if found is None:
            return not_found(allow=ALLOW_READ)
        body = state.event_json(found, len(state.issues[found].events) - 1, detail=True)
        return _json(body, allow=None if rel().ninja else ALLOW_READ)

    @router.get("/api/0/issues/{issue_id}/events/oldest/")
    def oldest_event(issue_id: str):
        if rel().ninja:  # `oldest` is read as an event id
            return _invalid(rel(), ("path", "event_id"), "Input should be a valid UUID, invalid character: expected an "
                            "optional prefix of `urn:uuid:` followed by [0-9a-fA-F-], found `o` at 1", "uuid_parsing")
        return _json({"detail": "Not found."}, 404, ALLOW_READ)

    @router.get("/api/0/issues/{issue_id}/tags/")
    def tags(request: Request, issue_id: str):
        found = issue_or_404(issue_id)
        if found is None:
            return not_found(allow=ALLOW_READ)
        key = request.query_params.get("key")
        body = state.tags_json(found)
        if key is not None and rel().ninja:
            body = [t for t in body if t["key"] == key]
        return _json(body, allow=None if rel().ninja else ALLOW_READ)

    @router.get("/api/0/issues/{issue_id}/tags/{key}/values/")
    def tag_values(issue_id: str, key: str):
        return _html(SERVER_ERROR_PAGE, 500)

    @router.get("/api/0/issues/{issue_id}/tags/{key}/")
    def tag(issue_id: str, key: str):
        if not rel().tag_by_path:  # gone since 4.2.1: the web app answers
            return _html(SERVER_ERROR_PAGE, 500)
        found = issue_or_404(issue_id)
        body = state.tags_json(found, key) if found is not None else None
        if body is None:
            return _json({"detail": "Not found."}, 404, ALLOW_READ)
        return _json(body, allow=ALLOW_READ)

    @router.get("/api/0/issues/{issue_id}/comments/")
    def comments(request: Request, issue_id: str):
        found = issue_or_404(issue_id)
        if found is None:
            return not_found(allow=ALLOW_LIST)
        with state.lock:
            items = list(reversed(state.issues[found].comments))
        return paged(request, items)

    @router.post("/api/0/issues/{issue_id}/comments/")
    async def add_comment(request: Request, issue_id: str):
        found = issue_or_404(issue_id)
        if found is None:
            return not_found(allow=ALLOW_LIST)
        body = await _body(request)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            return _invalid(rel(), ("body", "payload", "data"), "Field required" if rel().ninja
                            else "This field is required.", allow=ALLOW_LIST)
        text = data.get("text")
        if not isinstance(text, str) or not text.strip():
            if rel().ninja:
                return _invalid(rel(), ("body", "payload", "data", "text"), "String should have at least 1 character",
                                "string_too_short")
            return _json({"data": {"text": ["This field may not be blank."]}}, 400, ALLOW_LIST)
        return _json(state.add_comment(found, text), 201, None if rel().ninja else ALLOW_LIST)

    @router.delete("/api/0/issues/{issue_id}/comments/{comment_id}/")
    def delete_comment(issue_id: str, comment_id: str):
        found = issue_or_404(issue_id)
        removed = found is not None and comment_id.isdigit() and state.delete_comment(found, int(comment_id))
        if not removed:  # the real server (django-ninja) answers 400 here, not 404
            return _json({"detail": "Comment does not exist"}, 400)
        return Response(status_code=204)

    return router


class _LazyIssues:
    """Matching issues, rendered only for the page asked for (a scaled sandbox holds 20,000)."""

    def __init__(self, state: GlitchTipState, ids: list[int]) -> None:
        self.state, self.ids = state, ids

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, window: slice) -> list[dict[str, Any]]:
        with self.state.lock:
            return [self.state.issue_json(i) for i in self.ids[window]]


class _LazyEvents:
    """A list-like view of an issue's events, newest first, rendered only when sliced."""

    def __init__(self, state: GlitchTipState, issue_id: int, count: int) -> None:
        self.state, self.issue_id, self.count = state, issue_id, count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, window: slice) -> list[dict[str, Any]]:
        indexes = list(range(self.count - 1, -1, -1))[window]
        return [self.state.event_json(self.issue_id, i) for i in indexes]


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _parse_interval(value: str) -> timedelta | None:
    m = re.fullmatch(r"(\d+)([mhd])", value)
    if not m or int(m.group(1)) == 0:
        return None
    return timedelta(**{{"m": "minutes", "h": "hours", "d": "days"}[m.group(2)]: int(m.group(1))})
