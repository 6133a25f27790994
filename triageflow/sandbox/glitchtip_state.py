"""The sandbox GlitchTip's state and how it renders, field for field, as the recorded real server does."""

from __future__ import annotations

import shlex
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from . import seed
from .glitchtip_releases import ReleaseProfile, release_profile
from .seed import FrameSpec, IssueSpec, SeedEvent, fmt_time, locate

STATUSES = ("resolved", "ignored", "unresolved")
_BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LEVEL_RANK = {"debug": 0, "info": 1, "warning": 2, "error": 3, "fatal": 4}


def _base36(n: int) -> str:
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = _BASE36[r] + out
        if n == 0:
            return out


def _module_of(path: str) -> str:
    if path.startswith("<frozen "):
        return path.removeprefix("<frozen ").rstrip(">")
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    elif path.startswith("/usr/"):
        path = path.rsplit("/", 1)[1]
    return path.removesuffix(".py").replace("/", ".")


@dataclass
class IssueRecord:
    spec: IssueSpec
    short_id: str
    status: str
    events: list[SeedEvent]
    comments: list[dict[str, Any]] = field(default_factory=list)
    assigned_to: dict[str, Any] | None = None
    tag_values: dict[str, Counter] = field(default_factory=dict)
    ingested: dict[str, dict[str, Any]] = field(default_factory=dict)  # event id → JSON of an SDK-sent event (sandbox/ingested_events.py)


class GlitchTipState:
    """Seeded organizations, projects, issues, events and comments; mutations change it for real."""

    def __init__(self, now: datetime | None = None, token: str = "", release: ReleaseProfile | str | None = None) -> None:
        self.now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
        self.token = token
        self.release = release if isinstance(release, ReleaseProfile) else release_profile(release)
        self.base_url = "http://127.0.0.1"  # the address clients reach us on; routes refresh it per request
        self.lock = threading.RLock()
        self.org = dict(seed.ORG)
        self.created = self.now - timedelta(days=60)
        self._comment_ids = 0
        self.alerts: dict[str, list[dict[str, Any]]] = {}
        self.issues: dict[int, IssueRecord] = {}
        counters: Counter = Counter()
        for spec in seed.ISSUES:
            short = f"{spec.project.upper()}-{_base36(counters[spec.project])}"
            counters[spec.project] += 1
            record = IssueRecord(spec, short, spec.status, seed.seed_events(spec, self.now))
            record.tag_values = self._tag_values(record)
            self.issues[spec.id] = record
            for days_ago, text in spec.comments:
                self._add_comment(record, text, self.now - timedelta(days=days_ago))

    # ------------------------------------------------------------------ organizations and projects

    def org_json(self) -> dict[str, Any]:
        rel = self.release
        body = {
            "id": str(self.org["id"]) if rel.string_ids else self.org["id"], "name": self.org["name"],
            "slug": self.org["slug"], "dateCreated": fmt_time(self.created),
            "status": {"id": "active", "name": "active"}, "avatar": {"avatarType": "", "avatarUuid": None},
            "isEarlyAdopter": False,
        }
        body["require2fa" if rel.ninja else "require2FA"] = False
        body["isAcceptingEvents"] = True
        if rel.ninja:
            body["eventThrottleRate"] = 0
        return body

    def project_ref(self, slug: str) -> dict[str, Any]:
        p = seed.PROJECT_BY_SLUG[slug]
        return {"platform": p["platform"], "slug": p["slug"], "id": p["id"], "name": p["name"]}

    def project_json(self, slug: str, *, with_org: bool = False, with_teams: bool = True) -> dict[str, Any]:
        p = seed.PROJECT_BY_SLUG[slug]
        first = self._first_event_at(slug)
        body = {
            "avatar": {"avatarType": "", "avatarUuid": None}, "color": "", "features": [],
            "firstEvent": fmt_time(first), "hasAccess": True, "id": p["id"], "isBookmarked": False,
            "isInternal": False, "isMember": True, "isPublic": False, "name": p["name"], "scrubIPAddresses": True,
            "slug": p["slug"], "dateCreated": fmt_time(self.created + timedelta(minutes=int(p["id"]))),
            "platform": p["platform"], "eventThrottleRate": 0,
        }
        if with_org:
            body["organization"] = self.org_json()
        if not (with_org and self.release.ninja) and with_teams:  # Ninja's project detail has no teams
            body["teams"] = [dict(seed.TEAM)]
        return body

    def team_json(self, *, with_projects: bool = True) -> dict[str, Any]:
        body = {
            "dateCreated": fmt_time(self.created), "id": seed.TEAM["id"], "isMember": True, "memberCount": 1,
            "slug": seed.TEAM["slug"],
        }
        if with_projects:
            if self.release.ninja:  # full projects, without their teams
                body["projects"] = [self.project_json(p["slug"], with_teams=False) for p in seed.PROJECTS]
            else:
                body["projects"] = [self.project_ref(p["slug"]) for p in seed.PROJECTS]
        return body

    def user_json(self) -> dict[str, Any]:
        body = {
            "username": seed.ADMIN["email"], "lastLogin": None, "isSuperuser": True, "emails": [], "identities": [],
            "id": seed.ADMIN["id"], "isActive": True, "name": "", "dateJoined": fmt_time(self.created),
            "hasPasswordAuth": True, "email": seed.ADMIN["email"], "options": {},
        }
        if self.release.ninja:
            del body["emails"]
        return body

    def comment_user_json(self) -> dict[str, Any]:
        """A comment's author: the whole user on 2024, only `{id, email}` since 4.2.1."""
        if self.release.ninja:
            return {"id": str(seed.ADMIN["id"]), "email": seed.ADMIN["email"]}
        return self.user_json()

    def member_json(self) -> dict[str, Any]:
        rel = self.release
        body = {
            "role": "owner", "id": "1" if rel.string_ids or rel.ninja else 1, "user": self.user_json(),
            "roleName": "Owner", "dateCreated": fmt_time(self.created), "email": seed.ADMIN["email"],
            "pending": False, "isOwner": True,
        }
        if rel.ninja and not rel.org_access:  # 4.2.1 leaves isOwner out
            del body["isOwner"]
        return body

    def organization_detail(self) -> dict[str, Any]:
        body = self.org_json()
        body["projects"] = [self.project_json(p["slug"]) for p in seed.PROJECTS]
        if self.release.ninja:
            body["teams"] = [self.team_json(with_projects=False)]
            if self.release.org_access:
                body["access"] = ["org:read", "org:write", "project:read", "project:write", "event:read",
                                  "event:write", "event:admin", "team:read", "member:read"]
            body["openMembership"] = True
            return body
        body.update(openMembership=True, scrubIPAddresses=True, teams=[self.team_json()])
        return body

    def project_key_json(self, slug: str, host: str) -> dict[str, Any]:
        p = seed.PROJECT_BY_SLUG[slug]
        key = f"{int(p['id']):032x}"
        body = {
            "dateCreated": fmt_time(self.created),
            "dsn": {"public": f"http://{key}@{host}/{p['id']}", "secret": f"http://{key}@{host}/{p['id']}",
                    "security": f"http://{host}/api/{p['id']}/security/?glitchtip_key={key}"},
            "id": key, "label": "", "public": key, "projectId": int(p["id"]),
        }
        if self.release.ninja:
            body.update(name="", rateLimit=None, projectID=body.pop("projectId"))
        return body

    # ------------------------------------------------------------------ issues

    def issue_json(self, issue_id: int, *, detail: bool = False, put_answer: bool = False) -> dict[str, Any]:
        if self.release.ninja:
            return self._ninja_issue_json(issue_id, detail=detail or put_answer, put_answer=put_answer)
        r = self.issues[issue_id]
        spec = r.spec
        metadata, culprit = self._metadata_and_culprit(spec)
        body: dict[str, Any] = {
            "annotations": [], "assignedTo": r.assigned_to, "count": str(len(r.events)), "culprit": culprit,
            "firstSeen": fmt_time(r.events[0].at), "hasSeen": False, "id": str(spec.id), "isBookmarked": False,
            "isPublic": False, "isSubscribed": False, "lastSeen": fmt_time(r.events[-1].at), "level": spec.level,
            "logger": None, "metadata": metadata,
        }
        if detail:
            body["numComments"] = len(r.comments)
        body.update({
            "permalink": "Not implemented", "project": self.project_ref(spec.project), "shareId": None,
            "shortId": r.short_id, "stats": {}, "status": r.status, "statusDetails": {},
            "subscriptionDetails": None, "title": spec.title, "type": "default" if spec.is_message else "error",
        })
        if detail:
            body["userReportCount"] = 0
        body["userCount"] = self._user_count(r)
        return body

    def _first_event_at(self, project_slug: str) -> datetime:
        return min((r.events[0].at for r in self.issues.values() if r.spec.project == project_slug and r.events),
                   default=self.now)

    def _user_count(self, r: IssueRecord) -> int:
        return len({ev.user_id for ev in r.events if ev.user_id})

    def _ninja_issue_json(self, issue_id: int, *, detail: bool, put_answer: bool) -> dict[str, Any]:
        r = self.issues[issue_id]
        spec, rel = r.spec, self.release
        metadata, culprit = self._metadata_and_culprit(spec)
        permalink = f"{self.base_url}/{spec.project}/issues/{spec.id}" if rel.real_permalink else "Not implemented"
        body: dict[str, Any] = {
            "id": str(spec.id), "count": str(len(r.events)), "type": "default" if spec.is_message else "error",
            "level": spec.level, "status": r.status, "project": self.project_ref(spec.project),
            "shortId": "" if rel.short_id == "empty" else r.short_id, "numComments": len(r.comments),
            "stats": {"24h": []}, "shareId": None, "logger": None, "permalink": permalink, "statusDetails": {},
            "subscriptionDetails": None, "userCount": self._user_count(r),
            "matchingEventId": None, "title": spec.title, "metadata": metadata, "culprit": culprit,
            "firstSeen": fmt_time(r.events[0].at), "lastSeen": fmt_time(r.events[-1].at),
        }
        if detail:
            body["userReportCount"] = 0
        if put_answer:  # the PUT answer is not the GET shape: snake_case (4.2.1) or half of it (5.1)
            snake = {"shareId": "share_id", "statusDetails": "status_details", "userCount": "user_count",
                     "subscriptionDetails": "subscription_details", "matchingEventId": "matching_event_id"}
            if rel.put_answer == "snake":
                snake.update(shortId="short_id", numComments="num_comments", firstSeen="first_seen",
                             lastSeen="last_seen", userReportCount="user_report_count")
            body = {snake.get(k, k): v for k, v in body.items()}
        return body

    def _metadata_and_culprit(self, spec: IssueSpec) -> tuple[dict[str, Any], str]:
        if spec.is_message:
            return {"title": spec.title}, ""
        frame = next((f for f in reversed(spec.frames) if not f.library), spec.frames[-1])
        rendered = self._frame_json(frame, self._platform(spec))
        metadata = {"type": spec.type, "value": spec.value, "filename": rendered["filename"], "function": frame.function}
        if self._platform(spec) == "node":
            culprit = f"{frame.function}({rendered['filename']})"
        else:
            culprit = f"{rendered['module']} in {frame.function}"
        return metadata, culprit

    @staticmethod
    def _platform(spec: IssueSpec) -> str:
        return "node" if spec.project == "web" else "python"

    def search(self, query: str | None, project_ids: list[str] | None = None, sort: str | None = None) -> list[int]:
        """Issue ids matching a GlitchTip search, in the requested order (default: last seen first)."""
        try:
            tokens = shlex.split(query or "")
        except ValueError:
            tokens = (query or "").split()
        matches = []
        for issue_id, r in self.issues.items():
            if project_ids and seed.PROJECT_BY_SLUG[r.spec.project]["id"] not in project_ids:
                continue
            if all(self._matches(r, token) for token in tokens):
                matches.append(issue_id)
        attribute, descending = self.release.sort_key(sort) or ("last_seen", True)
        keys = {
            "count": lambda i: (len(self.issues[i].events), self.issues[i].events[-1].at),
            "first_seen": lambda i: self.issues[i].events[0].at,
            "last_seen": lambda i: self.issues[i].events[-1].at,
            "priority": lambda i: (_LEVEL_RANK.get(self.issues[i].spec.level, 0), len(self.issues[i].events)),
        }
        matches.sort(key=keys[attribute], reverse=descending)
        return matches

    def _matches(self, r: IssueRecord, token: str) -> bool:
        key, sep, value = token.partition(":")
        if sep and key and value and " " not in key:
            if key == "is":
                return r.status == value
            if key == "level":
                return r.spec.level == value
            return value in r.tag_values.get(key, {})  # any other key is a tag; `age:` is none, so nothing
        return token.lower() in self._search_text(r.spec)

    @staticmethod
    def _search_text(spec: IssueSpec) -> str:
        parts = [spec.title, spec.type, spec.value]
        if spec.cause:
            parts += [spec.cause[0], spec.cause[1]]
        parts += [f.function for f in spec.frames]
        return " ".join(parts).lower()

    def _tag_values(self, r: IssueRecord) -> dict[str, Counter]:
        values: dict[str, Counter] = {}
        for ev in r.events:
            for tag in self._event_tags(r.spec, ev):
                values.setdefault(tag["key"], Counter())[tag["value"]] += 1
        return values

    def tags_json(self, issue_id: int, key: str | None = None) -> Any:
        r = self.issues[issue_id]

        def one(k: str) -> dict[str, Any]:
            counts = r.tag_values[k]
            top = [{"name": v, "value": v, "count": n, "key": k} for v, n in counts.most_common(10)]
            return {"topValues": top, "uniqueValues": len(counts), "name": k, "key": k,
                    "totalValues": sum(counts.values())}

        if key is not None:
            return one(key) if key in r.tag_values else None
        return [one(k) for k in r.tag_values]

    def issues_stats_json(self, issue_ids: list[int], period: str) -> list[dict[str, Any]]:
        """5.1's `issues-stats`: per issue its count, users, first/last seen and events per hour (or day)."""
        step = timedelta(days=1) if period.endswith("d") else timedelta(hours=1)
        span = timedelta(days=int(period[:-1])) if period.endswith("d") else timedelta(hours=int(period[:-1]))
        start = self.now - span
        out = []
        for i in issue_ids:
            r = self.issues[i]
            buckets: Counter = Counter()
            for ev in r.events:
                if start <= ev.at <= self.now:
                    buckets[int(_floor(ev.at, step).timestamp())] += 1
            out.append({
                "id": str(i), "count": str(len(r.events)), "userCount": len({e.user_id for e in r.events if e.user_id}),
                "firstSeen": fmt_time(r.events[0].at), "lastSeen": fmt_time(r.events[-1].at), "isUnhandled": False,
                "stats": {"24h": None, "14d": None} | {period: [[t, n] for t, n in sorted(buckets.items())]},
            })
        return out

    # ------------------------------------------------------------------ events

    def event_json(self, issue_id: int, index: int, *, detail: bool = False) -> dict[str, Any]:
        r = self.issues[issue_id]
        spec, ev = r.spec, r.events[index]
        if ev.id in r.ingested:
            return dict(r.ingested[ev.id])
        platform = self._platform(spec)
        metadata, culprit = self._metadata_and_culprit(spec)
        if spec.is_message:
            entries = [{"type": "message", "data": {"formatted": spec.value}}]
        else:
            values = []
            if spec.cause:
                values.append(self._exception_json(spec.cause[0], spec.cause[1], spec.cause[2], platform))
            values.append(self._exception_json(spec.type, spec.value, spec.frames, platform))
            has_system = any(f.library for f in spec.frames)
            entries = [{"type": "exception", "data": {"values": values, "hasSystemFrames": has_system}}]
        received = ev.at + timedelta(milliseconds=140)
        python = platform == "python"  # the recorded Node events came without SDK details: those fields are null
        body: dict[str, Any] = {
            "eventID": ev.id, "id": ev.id, "issue": spec.id,
            "context": {"sys.argv": ["/srv/booking/.venv/bin/gunicorn", "app.main:app"]} if python else None,
            "contexts": self._contexts(ev) if python else None, "culprit": culprit, "dateCreated": fmt_time(ev.at),
            "dateReceived": fmt_time(received), "entries": entries, "message": spec.value if spec.is_message else "",
            "metadata": metadata, "packages": {"httpx": "0.28.1", "sentry-sdk": "2.75.0"} if python else None,
            "platform": platform, "sdk": self._sdk() if python else None, "tags": self._event_tags(spec, ev),
            "title": spec.title, "type": "default" if spec.is_message else "error", "user": self._user(ev),
        }
        if detail:
            body.update({
                "projectID": int(seed.PROJECT_BY_SLUG[spec.project]["id"]), "userReport": None,
                "nextEventID": r.events[index + 1].id if index + 1 < len(r.events) else None,
                "previousEventID": r.events[index - 1].id if index > 0 else None,
                "release": self._release(spec),
            })
        if self.release.ninja:
            return self._ninja_event(body, detail=detail)
        return body

    def _ninja_event(self, body: dict[str, Any], *, detail: bool) -> dict[str, Any]:
        """Since 4.2.1: lists in snake_case, the single event camelCase with `groupID`; no `issue`/`release`."""
        rel = self.release
        project_id = int(seed.PROJECT_BY_SLUG[self.issues[body["issue"]].spec.project]["id"])
        out: dict[str, Any] = {"platform": body["platform"]}
        if rel.org_access:
            out["errors"] = None
        out["id"] = body["id"]
        if detail:
            out.update(eventID=body["eventID"], projectID=project_id, groupID=str(body["issue"]),
                       dateCreated=body["dateCreated"], dateReceived=body["dateReceived"])
        else:
            out.update(event_id=body["eventID"], project_id=project_id, group_id=str(body["issue"]),
                       date_created=body["dateCreated"], date_received=body["dateReceived"])
        out["dist"] = None
        for key in ("culprit", "packages", "type", "message", "metadata", "tags", "entries", "contexts", "context"):
            out[key] = body[key]
        user = body["user"]  # Ninja's event user is only {id, email}
        out["user"] = {"id": user["id"], "email": user["email"]} if user else rel.event_user_empty
        if rel.sdk_in_events:
            out["sdk"] = body["sdk"]
        out["title"] = body["title"]
        if detail:
            out.update(userReport=None, nextEventID=body["nextEventID"], previousEventID=body["previousEventID"])
        return out

    def _exception_json(self, type_: str, value: str, frames: tuple[FrameSpec, ...], platform: str) -> dict[str, Any]:
        out: dict[str, Any] = {"type": type_, "value": value}
        if platform == "python":
            out["mechanism"] = {"type": "generic", "handled": True}
        out["stacktrace"] = {"frames": [self._frame_json(f, platform) for f in frames]}
        return out

    def _frame_json(self, frame: FrameSpec, platform: str) -> dict[str, Any]:
        src = locate(frame)
        if platform == "node":
            if frame.library:
                return {"filename": frame.path, "function": frame.function, "inApp": False, "absPath": frame.path,
                        "colNo": 5, "lineNo": src.line_no, "context": []}
            url = "webpack://web/./" + frame.path.removeprefix("web/")
            col = max(src.text.find(frame.needle), 0) + 1
            return {"filename": url, "function": frame.function, "context_line": src.text, "inApp": True,
                    "absPath": url, "colNo": col, "lineNo": src.line_no, "context": [list(c) for c in src.context]}
        if frame.library:
            filename = frame.path.rsplit("site-packages/", 1)[-1] if "site-packages/" in frame.path else (
                frame.path if frame.path.startswith("<") else frame.path.rsplit("/", 1)[-1])
            abs_path = frame.path
        else:
            filename, abs_path = frame.path, f"/srv/booking/{frame.path}"
        return {
            "vars": dict(frame.vars), "module": _module_of(frame.path), "filename": filename,
            "function": frame.function, "context_line": src.text, "absPath": abs_path, "lineNo": src.line_no,
            "context": [list(c) for c in src.context],
        }

    @staticmethod
    def _contexts(ev: SeedEvent) -> dict[str, Any]:
        trace = {"span_id": ev.id[:16], "trace_id": ev.id, "parent_span_id": None}
        return {"trace": trace, "runtime": {"name": "CPython", "build": "3.11.7", "version": "3.11.7"}}

    @staticmethod
    def _sdk() -> dict[str, Any]:
        return {"name": "sentry.python", "version": "2.75.0",
                "packages": [{"name": "pypi:sentry-sdk", "version": "2.75.0"}],
                "integrations": ["argv", "atexit", "dedupe", "excepthook", "httpx", "logging", "stdlib"]}

    @staticmethod
    def _user(ev: SeedEvent) -> dict[str, Any] | None:
        if not ev.user_id:
            return None  # the real server sends null when the SDK set no user
        email = f"client{ev.user_id}@example.com"
        return {"username": None, "name": None, "ip_address": None, "email": email, "data": {}, "id": ev.user_id}

    @staticmethod
    def _event_tags(spec: IssueSpec, ev: SeedEvent) -> list[dict[str, str]]:
        tags = [{"key": "release", "value": spec.release}]
        if ev.user_id:
            tags.append({"key": "user.id", "value": ev.user_id})
        tags += [{"key": "component", "value": spec.component}, {"key": "operation", "value": spec.operation}]
        if ev.user_id:
            tags.append({"key": "user.email", "value": f"client{ev.user_id}@example.com"})
        tags += [{"key": "environment", "value": "production"}, {"key": "server_name", "value": ev.server}]
        return tags

    def _release(self, spec: IssueSpec) -> dict[str, Any]:
        return {
            "url": None, "data": {}, "deployCount": 0, "dateCreated": fmt_time(self.created), "dateReleased": None,
            "version": spec.release, "shortVersion": spec.release,
            "projects": [self.project_ref(p["slug"]) for p in seed.PROJECTS],
        }

    # ------------------------------------------------------------------ comments and changes

    def _add_comment(self, r: IssueRecord, text: str, at: datetime) -> dict[str, Any]:
        self._comment_ids += 1
        comment = {"id": self._comment_ids, "data": {"text": text}, "type": "note", "dateCreated": fmt_time(at),
                   "user": self.comment_user_json()}
        r.comments.append(comment)
        return comment

    def add_comment(self, issue_id: int, text: str) -> dict[str, Any]:
        with self.lock:
            return self._add_comment(self.issues[issue_id], text, datetime.now(timezone.utc))

    def delete_comment(self, issue_id: int, comment_id: int) -> bool:
        with self.lock:
            comments = self.issues[issue_id].comments
            kept = [c for c in comments if c["id"] != comment_id]
            self.issues[issue_id].comments = kept
            return len(kept) != len(comments)

    def set_status(self, issue_ids: list[int], status: str) -> None:
        with self.lock:
            for i in issue_ids:
                self.issues[i].status = status

    def assign(self, issue_id: int, email: str | None) -> None:
        with self.lock:
            self.issues[issue_id].assigned_to = None if email is None else {
                "type": "user", "id": seed.ADMIN["id"], "name": email, "email": email}

    # ------------------------------------------------------------------ stats

    def event_counts(self, start: datetime, end: datetime, step: timedelta,
                     project_ids: list[str] | None = None) -> tuple[list[datetime], list[int | None]]:
        """`stats_v2`: buckets from the start's boundary through one past the end's, null where zero."""
        first = _floor(start, step)
        last = _floor(end, step) + step
        intervals = []
        t = first
        while t <= last:
            intervals.append(t)
            t += step
        counts = [0] * len(intervals)
        for r in self.issues.values():
            if project_ids and seed.PROJECT_BY_SLUG[r.spec.project]["id"] not in project_ids:
                continue
            for ev in r.events:
                if start <= ev.at < end:
                    counts[int((ev.at - first) / step)] += 1
        return intervals, [c or None for c in counts]


def _floor(moment: datetime, step: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    return epoch + ((moment - epoch) // step) * step
