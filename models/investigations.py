"""What an investigation found (a pydantic result) and the log of investigations (a table)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import JSON, Column, DateTime
from sqlmodel import Field, SQLModel

from .audit import utcnow


class FrameReport(BaseModel):
    location: str
    repo_path: str | None
    function: str | None
    line: int | None
    context_line: str | None
    exception_type: str = ""


class CommitReport(BaseModel):
    sha: str
    short: str
    subject: str
    author: str
    date: datetime


class FileReport(BaseModel):
    path: str
    last_change: CommitReport | None


class SuspectReport(BaseModel):
    commit: CommitReport
    path: str
    reason: str
    blamed_line: int | None
    before_first_seen: str  # "1 days" / "3 h"
    landed_seconds_before_first_seen: int
    confidence: str = "low"  # high / medium / low, from the evidence (tasks/suspects.py)
    evidence: list[str] = []  # "line", "callee", "file" for each piece of evidence, strongest first


class CodeMatchReport(BaseModel):
    term: str
    path: str
    line: int
    text: str


class SimilarReport(BaseModel):
    issue_id: str
    title: str
    status: str
    score: float
    link: str
    resolution: list[str]


class RunbookReport(BaseModel):
    id: str
    title: str
    link: str
    pattern: str
    field: str


class Investigation(BaseModel):
    """Everything `investigate_issue` found for one issue at one latest event."""

    issue_id: str
    short_id: str
    title: str
    level: str
    status: str
    project: str
    events: int
    first_seen: datetime
    last_seen: datetime
    culprit: str
    event_id: str | None
    link: str
    frames: list[FrameReport] = []
    stack_excerpt: str = ""
    files: list[FileReport] = []
    code_matches: list[CodeMatchReport] = []
    search_engine: str | None = None
    suspects: list[SuspectReport] = []
    suspect_note: str | None = None  # said when no candidate is a good one
    recent_commits: list[CommitReport] = []
    similar: list[SimilarReport] = []
    runbook: RunbookReport | None = None
    limitations: list[str] = []
    seconds: float = 0.0


class InvestigationLog(SQLModel, table=True):
    __tablename__ = "investigation_log"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    issue_id: str = Field(max_length=50, index=True)
    title: str = Field(max_length=500)
    event_id: str | None = Field(default=None, max_length=64)
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    duration_ms: int
    cached: bool = False
    comment_id: str | None = Field(default=None, max_length=50)
    comment_status: str = Field(max_length=50, description="posted, already posted, dry-run, not requested")
    dry_run: bool = False
    flow_run_id: str | None = Field(default=None, max_length=64)
    helpful: bool | None = Field(default=None, description="left empty for human feedback")
