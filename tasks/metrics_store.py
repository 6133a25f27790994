"""The report's history in the database: per-day component counts, issue statuses, deliveries."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import delete, insert, update
from sqlmodel import select

from models.db import session_scope
from models.metrics import ComponentDay, IssueStatusSnapshot, ReportDelivery
from models.audit import utcnow

from .metrics import DayReport


def load_history(database_url: str, period: str, since: date) -> dict[str, dict[date, int]]:
    """component → {day: events} for the reports of `period` from `since` on."""
    history: dict[str, dict[date, int]] = {}
    with session_scope(database_url) as session:
        rows = session.exec(select(ComponentDay).where(ComponentDay.period == period, ComponentDay.day >= since))
        for row in rows:
            history.setdefault(row.component, {})[row.day] = row.error_count
    return history


def previous_statuses(database_url: str) -> dict[str, str]:
    with session_scope(database_url) as session:
        return {row.issue_id: row.status for row in session.exec(select(IssueStatusSnapshot))}


def save_report(database_url: str, report: DayReport, backfill: list[dict[str, Any]], statuses: dict[str, str]) -> int:
    """Replace the report day's rows, add missing earlier days, remember statuses: one transaction."""
    w = report.window
    with session_scope(database_url) as session:
        session.exec(delete(ComponentDay).where(ComponentDay.period == w.period, ComponentDay.day == w.day))
        for c in report.components:
            top = [{"issue_id": i.issue_id, "title": i.title[:200], "events": i.events}
                   for i in report.top_issues if i.component == c.component][:5]
            session.add(ComponentDay(period=w.period, day=w.day, component=c.component, error_count=c.events,
                                     issue_count=c.issues, new_issue_count=c.new_issues, resolved_count=c.resolved,
                                     top_issues=top))
        known = {(r.day, r.component) for r in session.exec(
            select(ComponentDay).where(ComponentDay.period == w.period, ComponentDay.day < w.day))}
        added = 0
        for row in backfill:
            if row["day"] < w.day and (row["day"], row["component"]) not in known:
                session.add(ComponentDay(period=w.period, day=row["day"], component=row["component"],
                                         error_count=row["error_count"], issue_count=row["issue_count"],
                                         backfilled=True))
                added += 1
        remember_statuses(session, statuses)
    return len(report.components) + added


def remember_statuses(session, statuses: dict[str, str]) -> None:
    """Upsert each issue's status in a few statements (thousands of issues a day: no row-by-row merge)."""
    now = utcnow()
    items = list(statuses.items())
    for chunk in range(0, len(items), 500):
        part = dict(items[chunk:chunk + 500])
        known = set(session.exec(select(IssueStatusSnapshot.issue_id).where(IssueStatusSnapshot.issue_id.in_(list(part)))))
        rows = [{"issue_id": i, "status": s, "seen_at": now} for i, s in part.items()]
        if known:
            session.execute(update(IssueStatusSnapshot), [r for r in rows if r["issue_id"] in known])
        if len(known) < len(rows):
            session.execute(insert(IssueStatusSnapshot), [r for r in rows if r["issue_id"] not in known])


def delivered(database_url: str, period: str, day: date, channel: str) -> bool:
    with session_scope(database_url) as session:
        row = session.exec(select(ReportDelivery).where(ReportDelivery.period == period, ReportDelivery.day == day,
                                                        ReportDelivery.channel == channel)).first()
        return row is not None and row.status == "sent"


def mark_delivery(database_url: str, period: str, day: date, channel: str, status: str, detail: str | None = None) -> None:
    with session_scope(database_url) as session:
        row = session.exec(select(ReportDelivery).where(ReportDelivery.period == period, ReportDelivery.day == day,
                                                        ReportDelivery.channel == channel)).first()
        row = row or ReportDelivery(period=period, day=day, channel=channel, status=status)
        row.status, row.detail, row.sent_at = status, (detail or "")[:1000] or None, utcnow()
        session.add(row)
