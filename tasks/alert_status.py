"""When a person resolves or ignores an issue, the alerts already sent about it say so (edited in place).

Which changes happened is read from the audit log (what the bot or CLI did, whatever its confirmation
looks like); each change edits its alerts once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from html import escape

from sqlmodel import col, select

from models.audit import AuditLog
from models.db import session_scope
from models.flow_health import HealthAlert
from models.webhooks import IssueAlert

STATUS_LINE = {"resolved": "✅ Resolved", "ignored": "🙈 Ignored"}
RECENT = timedelta(minutes=10)


@dataclass(frozen=True)
class StatusChange:
    audit_id: int
    issue_id: str
    status: str
    actor: str
    at: datetime
    title: str = ""


def unreflected_changes(database_url: str, actor: str, now: datetime) -> list[StatusChange]:
    """Status changes this actor made recently whose alerts were not edited yet."""
    with session_scope(database_url) as session:
        rows = list(session.exec(select(AuditLog).where(
            AuditLog.actor == actor, AuditLog.action == "issue.status", AuditLog.outcome == "ok",
            AuditLog.dry_run == False, AuditLog.created_at >= now - RECENT)))  # noqa: E712
        done = set(session.exec(select(HealthAlert.flow_run_id).where(HealthAlert.kind == "alert-edit",
                                                                      HealthAlert.sent_at >= now - 2 * RECENT)))
    return [StatusChange(r.id, r.target.removeprefix("issue:"), (r.detail or {}).get("to", ""), r.actor,
                         r.created_at, str((r.detail or {}).get("title", ""))) for r in rows
            if f"audit:{r.id}" not in done and (r.detail or {}).get("to") in STATUS_LINE]


def alert_message_ids(database_url: str, issue_id: str) -> list[int]:
    """Telegram messages that alerted about the issue: the webhook alert and escalation alerts."""
    ids = []
    with session_scope(database_url) as session:
        row = session.get(IssueAlert, issue_id)
        if row and row.message_id and row.message_id.isdigit():
            ids.append(int(row.message_id))
        for delivery in session.exec(select(HealthAlert.delivery).where(
                HealthAlert.subject == f"issue:{issue_id}", col(HealthAlert.kind).in_(("escalation",)))):
            sent = str((delivery or {}).get("telegram", ""))
            if sent.startswith("sent ") and sent[5:].isdigit():
                ids.append(int(sent[5:]))
    return ids


def status_banner(change: StatusChange, who: str) -> str:
    from triageflow.scrub import scrub

    return (f"<b>{STATUS_LINE[change.status]}</b> by {escape(who, quote=False)} at {change.at:%Y-%m-%d %H:%M} UTC\n"
            f"#{escape(change.issue_id)} {escape(scrub(change.title[:300]), quote=False)}")


def mark_reflected(database_url: str, change: StatusChange, edited: list[int]) -> None:
    with session_scope(database_url) as session:
        session.add(HealthAlert(kind="alert-edit", subject=f"issue:{change.issue_id}", flow_run_id=f"audit:{change.audit_id}",
                                text=f"{change.status} by {change.actor}", delivery={"edited": edited},
                                sent_at=datetime.now(timezone.utc)))
