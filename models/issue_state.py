"""What triageflow has learned about each GlitchTip issue, kept so each run reads only what changed.

`IssueState` holds an issue's last known status, count and last-seen time, its component and service
mix (learned once, from its tags or events), the count at the last daily report (for count deltas),
the text similarity compares, and, once fetched, what its comments say was done about it.
`PassMark` remembers how far each incremental pass got (the newest last-seen it saw).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, Column, DateTime
from sqlmodel import Field, SQLModel

from .audit import utcnow


def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes for timezone-aware columns: they were stored as UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=timezone.utc)


def _when(nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=nullable, index=index))


class IssueState(SQLModel, table=True):
    __tablename__ = "issue_state"

    issue_id: str = Field(primary_key=True, max_length=50)
    project: str = Field(max_length=100)
    level: str = Field(max_length=20)
    status: str = Field(max_length=20, index=True)
    title: str = Field(max_length=500, description="scrubbed")
    culprit: str = Field(default="", max_length=500)
    exception_type: str = Field(default="", max_length=200)
    exception_value: str = Field(default="", max_length=1000, description="scrubbed")
    fingerprint: str = Field(default="", max_length=300, index=True, description="exception type and title, numbers masked")
    first_seen: datetime = _when()
    last_seen: datetime = _when(index=True)
    count: int = 0
    counted_at: datetime = _when()
    components: dict[str, int] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    services: dict[str, int] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    mix_events: int = Field(default=0, description="events the component/service mix was counted over")
    report_count: int | None = Field(default=None, description="the count when the last daily report listed it")
    report_last_seen: datetime | None = _when(nullable=True)
    report_counted_at: datetime | None = _when(nullable=True)
    resolution: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    resolution_at: datetime | None = _when(nullable=True)
    swept_last_seen: datetime | None = _when(nullable=True)  # the runbook sweep considered it at this last-seen
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class PassMark(SQLModel, table=True):
    """How far an incremental pass got: the newest last-seen of the issues it read, and when it finished."""

    __tablename__ = "issue_pass_mark"

    name: str = Field(primary_key=True, max_length=200)
    high_water: datetime = _when()
    finished_at: datetime = _when()
    listed: int = 0
