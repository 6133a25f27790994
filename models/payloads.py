"""Pydantic models of what GlitchTip really sends (see ../shared/peers/glitchtip): typed, camelCase on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


class ProjectRef(_Wire):
    id: str
    slug: str
    name: str
    platform: str | None = None


class Organization(_Wire):
    id: int
    slug: str
    name: str
    date_created: datetime | None = None


class Project(_Wire):
    id: str
    slug: str
    name: str
    platform: str | None = None
    first_event: datetime | None = None
    teams: list[dict[str, Any]] = []


class Team(_Wire):
    id: str
    slug: str
    member_count: int = 0
    projects: list[ProjectRef] = []


class Member(_Wire):
    id: int
    email: str
    role: str
    pending: bool = False


class Issue(_Wire):
    """One issue as the list and detail endpoints send it. `count` arrives as a string."""

    id: str
    short_id: str
    title: str
    culprit: str = ""
    level: str
    status: str
    type: str = "error"
    count: str
    user_count: int = 0
    first_seen: datetime
    last_seen: datetime
    project: ProjectRef
    metadata: dict[str, Any] = {}
    assigned_to: Any = None
    num_comments: int | None = None

    @property
    def event_count(self) -> int:
        return int(self.count)

    @property
    def exception_type(self) -> str:
        return str(self.metadata.get("type", ""))

    @property
    def exception_value(self) -> str:
        return str(self.metadata.get("value", self.metadata.get("title", "")))


class Frame(_Wire):
    filename: str | None = None
    abs_path: str | None = None
    module: str | None = None
    function: str | None = None
    line_no: int | None = None
    col_no: int | None = None
    context_line: str | None = Field(None, alias="context_line")
    context: list[tuple[int, str]] = []
    in_app: bool | None = None
    vars: dict[str, Any] | None = None


class Stacktrace(_Wire):
    frames: list[Frame] = []


class ExceptionValue(_Wire):
    type: str | None = None
    value: str | None = None
    module: str | None = None
    stacktrace: Stacktrace | None = None
    mechanism: dict[str, Any] | None = None


class Tag(_Wire):
    key: str
    value: str


# Event lists since 4.2.1 are snake_case (the single latest event stays camelCase, with `groupID`).
_EVENT_KEYS = {"event_id": "eventID", "date_created": "dateCreated", "date_received": "dateReceived",
               "project_id": "projectID", "group_id": "issue", "groupID": "issue"}


class Event(_Wire):
    """One event. The stack trace lives in `entries[type=exception].data.values[].stacktrace.frames[]`.

    Read in either key casing; dumped (by alias) camelCase as the 2024 release sends it, with the issue id
    in `issue`. A user-less event is `user: None` (4.2.1 sends `{}`).
    """

    @model_validator(mode="before")
    @classmethod
    def _one_casing(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for wire, ours in _EVENT_KEYS.items():
            if wire in out:
                value = out.pop(wire)
                out.setdefault(ours, value)
        if out.get("user") == {}:
            out["user"] = None
        return out

    id: str
    event_id: str = Field(alias="eventID")
    issue: int | str | None = None
    title: str = ""
    culprit: str = ""
    message: str = ""
    platform: str | None = None
    type: str | None = None
    date_created: datetime
    date_received: datetime | None = None
    entries: list[dict[str, Any]] = []
    tags: list[Tag] = []
    metadata: dict[str, Any] = {}
    user: dict[str, Any] | None = None

    def exceptions(self) -> list[ExceptionValue]:
        """Chained exceptions in the order GlitchTip stores them: cause first, outermost last."""
        for entry in self.entries:
            if entry.get("type") == "exception":
                return [ExceptionValue.model_validate(v) for v in (entry.get("data") or {}).get("values") or []]
        return []

    def message_text(self) -> str:
        for entry in self.entries:
            if entry.get("type") == "message":
                return str((entry.get("data") or {}).get("formatted", ""))
        return self.message

    def tag(self, key: str) -> str | None:
        return next((t.value for t in self.tags if t.key == key), None)


class TagValue(_Wire):
    key: str
    value: str
    name: str | None = None
    count: int = 0


class TagSummary(_Wire):
    key: str
    name: str | None = None
    unique_values: int = 0
    total_values: int = 0
    top_values: list[TagValue] = []


class Comment(_Wire):
    id: int | str
    data: dict[str, Any] = {}
    type: str = "note"
    date_created: datetime | None = None
    user: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        return str(self.data.get("text", ""))


class StatsSeries(_Wire):
    """`stats_v2`: hourly (or other) intervals and, per group, a series where null means zero."""

    intervals: list[datetime]
    groups: list[dict[str, Any]]

    @field_validator("groups")
    @classmethod
    def _groups(cls, v: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return v or []

    def totals(self, field: str = "sum(quantity)") -> list[int]:
        sums = [0] * len(self.intervals)
        for group in self.groups:
            for i, value in enumerate((group.get("series") or {}).get(field) or []):
                if i < len(sums) and value:
                    sums[i] += int(value)
        return sums


class IssueStats(_Wire):
    """One issue in 5.1's `issues-stats`: its totals and events per bucket of the asked period.

    `stats` arrives as `{"24h": [[unix_seconds, count], ...], "14d": null}`; only buckets with events are listed.
    """

    id: str
    count: int
    user_count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    is_unhandled: bool | None = None
    stats: dict[str, list[tuple[int, int]] | None] = {}

    @field_validator("count", mode="before")
    @classmethod
    def _count(cls, v: Any) -> int:
        return int(v or 0)  # a string on the wire, like an issue's count

    def buckets(self, period: str = "24h") -> list[tuple[datetime, int]]:
        """(bucket start, events) of the period, oldest first; hours without events are absent."""
        from datetime import timezone

        return [(datetime.fromtimestamp(t, timezone.utc), int(n)) for t, n in (self.stats.get(period) or [])]

    def events_in(self, period: str = "24h") -> int:
        return sum(n for _, n in self.buckets(period))
