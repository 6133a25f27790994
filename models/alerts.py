"""Monitoring alerts (Alertmanager, Grafana), the knowledge base of known issues, and remediation attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from .audit import utcnow


class AlertEvent(SQLModel, table=True):
    """One alert instance: a fingerprint firing from `starts_at`. Re-sent groups, retries and HA peers' copies
    land on the same row (unique key), so they change nothing; a resolved notification updates it."""

    __tablename__ = "alert_event"
    __table_args__ = (UniqueConstraint("fingerprint", "starts_at", name="uq_alert_event_fingerprint_start"),)

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = Field(default_factory=utcnow,
                                  sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    source: str = Field(max_length=20, description="alertmanager or grafana")
    fingerprint: str = Field(max_length=100, index=True)
    starts_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    ends_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    status: str = Field(max_length=20, description="firing or resolved")
    name: str = Field(max_length=200, index=True)
    severity: str = Field(default="", max_length=30)
    service: str = Field(default="", max_length=100)
    labels: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    annotations: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False),
                                    description="the alert as received, with its group's fields (scrubbed)")
    deliveries: int = Field(default=1, description="how many posts carried this alert")
    triage_state: str = Field(default="pending", max_length=20, index=True)
    triage_started: str | None = Field(default=None, max_length=100, description="how triage was started")
    decision: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    remediation: str | None = Field(default=None, max_length=500)
    issue_number: int | None = None
    issue_url: str | None = Field(default=None, max_length=500)
    issue_action: str | None = Field(default=None, max_length=30, description="created, commented, digest")
    slack_channel: str | None = Field(default=None, max_length=100)
    slack_ts: str | None = Field(default=None, max_length=50)
    resolved_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    resolution_told: bool = False
    issue_closed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    false_positive: bool = False


class KnownIssue(SQLModel, table=True):
    """A pattern the team has seen before, what it means and the registered action that fixes it."""

    __tablename__ = "known_issue"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, sa_column_kwargs={"unique": True})
    title: str = Field(max_length=300)
    pattern: str = Field(max_length=2000, description="RE2 regular expression, case-insensitive")
    real: bool = Field(default=True, description="a match means a real problem")
    category: str = Field(default="infrastructure", max_length=30)
    severity: str | None = Field(default=None, max_length=20, description="overrides the computed severity")
    action: str | None = Field(default=None, max_length=50, description="a name in the remediation registry")
    action_args: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    mode: str = Field(default="auto", max_length=10, description="auto, approve or off")
    recommendation: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    occurrences: int = 0
    last_seen: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    fix_attempts: int = 0
    fix_successes: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))

    @property
    def fix_success_rate(self) -> float | None:
        return None if not self.fix_attempts else self.fix_successes / self.fix_attempts


class RemediationAttempt(SQLModel, table=True):
    """One try of a registered action for a fingerprint, and whether the signal that fired then cleared."""

    __tablename__ = "remediation_attempt"

    id: int | None = Field(default=None, primary_key=True)
    fingerprint: str = Field(max_length=100, index=True)
    alert_event_id: int = Field(index=True)
    known_issue_id: int | None = None
    action: str = Field(max_length=50)
    args: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    mode: str = Field(max_length=10)
    dry_run: bool = False
    started_at: datetime = Field(default_factory=utcnow,
                                 sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    finished_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    outcome: str = Field(default="pending", max_length=30,
                         description="pending, cleared, not-cleared, failed, declined, dry-run")
    check: str = Field(default="", max_length=300, description="the signal that had to clear")
    output: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


SEED_KNOWN_ISSUES: list[dict[str, Any]] = [
    {"name": "service-down", "title": "Service stopped answering (crashed or hung process)",
     "pattern": r"(ServiceDown|InstanceDown|health ?check (failed|failing)|connection refused|\bup\b == 0)",
     "category": "infrastructure", "severity": "critical", "action": "restart_service", "mode": "auto",
     "recommendation": "Restart the service; if it falls over again, read its last logs before the crash."},
    {"name": "db-pool-exhausted", "title": "Database connection pool exhausted",
     "pattern": r"(too many (clients|connections)|QueuePool limit|connection pool (exhausted|timeout)|"
                r"remaining connection slots are reserved)",
     "category": "database", "severity": "high", "action": "reset_db_pool", "mode": "approve",
     "recommendation": "Reset the pool; look for leaked sessions or a long transaction holding connections."},
    {"name": "stale-cache", "title": "Stale or poisoned cache entries",
     "pattern": r"(stale cache|cache (inconsisten|poison)|CacheInconsistency|serialization error .*cache)",
     "category": "bug", "severity": "medium", "action": "clear_cache_keys",
     "action_args": {"pattern": "cache:*"}, "mode": "auto",
     "recommendation": "Clear the affected keys; find the writer that stores the wrong shape."},
    {"name": "memory-pressure", "title": "Process memory keeps growing (leak) until it is killed",
     "pattern": r"(OOMKilled|out of memory|MemoryHigh|memory usage (is )?above|Cannot allocate memory)",
     "category": "performance", "severity": "high", "action": "free_memory", "mode": "approve",
     "recommendation": "Restart to free memory now; profile allocations to find the leak."},
    {"name": "disk-full", "title": "Disk full",
     "pattern": r"(No space left on device|DiskFull|disk (usage|space) (is )?(above|low))",
     "category": "infrastructure", "severity": "critical", "action": None, "mode": "off",
     "recommendation": "Free space (old logs, backups) and raise the volume; no automatic fix."},
]
"""The knowledge base a new installation starts with (migration 0007 inserts them)."""
