"""The health of the automation over a window: per-flow runs, success, durations, slow runs, and the
design's success metrics (investigation cache hits and helpfulness, runbook link accuracy, issues created).

Pure aggregation (`flow_stats`, `change`) apart from the small readers below it.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlmodel import col, select

from models.audit import AuditLog
from models.db import session_scope
from models.flow_health import FlowHealth
from models.investigations import InvestigationLog
from models.runbooks import RunbookUnlink

RUNBOOK_MARKER = "triageflow:runbook:"


@dataclass
class RunLine:
    state: str
    finished_at: datetime
    duration_s: float | None
    summary: str
    error: str | None


@dataclass
class FlowStats:
    flow: str
    runs: int
    completed: int
    failed: int
    success_rate: float | None
    median_s: float | None
    slow_threshold_s: float
    slow: list[RunLine] = field(default_factory=list)
    last: list[RunLine] = field(default_factory=list)


def parse_thresholds(text: str) -> dict[str, float]:
    """'investigate-issue=120,daily-metrics=300' → {flow: seconds}; names the bad entry."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        name, sep, value = part.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"HEALTH_SLOW_SECONDS: {part!r} is not 'flow-name=seconds'") from None
        if not sep or not name.strip() or out[name.strip()] <= 0:
            raise ValueError(f"HEALTH_SLOW_SECONDS: {part!r} is not 'flow-name=seconds'")
    return out


def _line(r: FlowHealth) -> RunLine:
    return RunLine(r.state, r.finished_at, r.duration_s, r.summary, r.error)


def flow_stats(rows: list[FlowHealth], thresholds: dict[str, float], default_threshold: float,
               last: int = 5) -> list[FlowStats]:
    """One line per flow, busiest first. Cancelled runs count as runs, not as failures."""
    by_flow: dict[str, list[FlowHealth]] = {}
    for r in sorted(rows, key=lambda r: r.finished_at):
        by_flow.setdefault(r.flow_name, []).append(r)
    out = []
    for name, runs in by_flow.items():
        completed = sum(1 for r in runs if r.state == "Completed")
        failed = sum(1 for r in runs if r.state in ("Failed", "Crashed"))
        durations = [r.duration_s for r in runs if r.duration_s is not None]
        limit = thresholds.get(name, default_threshold)
        out.append(FlowStats(
            flow=name, runs=len(runs), completed=completed, failed=failed,
            success_rate=completed / (completed + failed) if completed + failed else None,
            median_s=statistics.median(durations) if durations else None, slow_threshold_s=limit,
            slow=[_line(r) for r in runs if r.duration_s is not None and r.duration_s > limit],
            last=[_line(r) for r in reversed(runs[-last:])]))
    return sorted(out, key=lambda f: (-f.runs, f.flow))


def change(now: float | None, before: float | None) -> str:
    """Week-over-week change as people read it: +25 %, −10 %, new, =."""
    if now is None:
        return "—"
    if not before:
        return "new" if now else "="
    delta = (now - before) / before * 100
    return "=" if abs(delta) < 0.5 else f"{delta:+.0f} %".replace("-", "−")


# --------------------------------------------------------------------------- readers


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def load_runs(database_url: str, start: datetime, end: datetime) -> list[FlowHealth]:
    with session_scope(database_url) as session:
        rows = list(session.exec(select(FlowHealth).where(FlowHealth.finished_at >= start,
                                                          FlowHealth.finished_at < end)))
    for r in rows:
        r.finished_at = _aware(r.finished_at)
    return rows


@dataclass
class Outcomes:
    """What the automation achieved in a window."""

    investigations: int = 0
    cached: int = 0
    rated: int = 0
    helpful: int = 0
    links_added: int = 0
    links_unlinked: int = 0
    issues_created: int = 0

    @property
    def cache_hit_ratio(self) -> float | None:
        return self.cached / self.investigations if self.investigations else None

    @property
    def helpful_share(self) -> float | None:
        return self.helpful / self.rated if self.rated else None

    @property
    def link_accuracy(self) -> float | None:
        """Links a person unlinked count as wrong."""
        if not self.links_added:
            return None
        return max(self.links_added - self.links_unlinked, 0) / self.links_added


def load_outcomes(database_url: str, start: datetime, end: datetime) -> Outcomes:
    with session_scope(database_url) as session:
        logs = list(session.exec(select(InvestigationLog.cached, InvestigationLog.helpful).where(
            InvestigationLog.created_at >= start, InvestigationLog.created_at < end,
            InvestigationLog.dry_run == False)))  # noqa: E712 - SQL comparison
        comments = list(session.exec(select(AuditLog.detail).where(
            AuditLog.system == "glitchtip", AuditLog.action == "comment.add", AuditLog.outcome == "ok",
            AuditLog.dry_run == False, AuditLog.created_at >= start, AuditLog.created_at < end)))  # noqa: E712
        unlinked = len(list(session.exec(select(RunbookUnlink.id).where(
            RunbookUnlink.created_at >= start, RunbookUnlink.created_at < end))))
        created = len(list(session.exec(select(AuditLog.id).where(
            AuditLog.system == "github", col(AuditLog.action).startswith("issue.create"), AuditLog.outcome == "ok",
            AuditLog.dry_run == False, AuditLog.created_at >= start, AuditLog.created_at < end))))  # noqa: E712
    return Outcomes(
        investigations=len(logs), cached=sum(1 for c, _ in logs if c),
        rated=sum(1 for _, h in logs if h is not None), helpful=sum(1 for _, h in logs if h),
        links_added=sum(1 for d in comments if RUNBOOK_MARKER in str((d or {}).get("marker", ""))),
        links_unlinked=unlinked, issues_created=created)


def record_feedback(database_url: str, issue_id: str, helpful: bool, actor: str) -> InvestigationLog | None:
    """A person's verdict on the latest investigation of an issue; None when it was never investigated."""
    from triageflow.audit import audited

    with session_scope(database_url) as session:
        row = session.exec(select(InvestigationLog).where(InvestigationLog.issue_id == str(issue_id))
                           .order_by(InvestigationLog.id.desc())).first()
        if row is None:
            return None
        row_id = row.id
    with audited(database_url, "triageflow", "investigation.feedback", f"issue:{issue_id}", dry_run=False,
                 detail={"helpful": helpful, "investigation": row_id}, actor=actor):
        with session_scope(database_url) as session:
            row = session.get(InvestigationLog, row_id)
            row.helpful = helpful
            session.add(row)
    return row
