"""Snoozes: "no alerts about issue N for 24 h", kept by triageflow (GlitchTip has none), honoured by every alert path."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from models.db import session_scope
from models.flow_health import IssueSnooze

from .audit import audited

_DURATION = re.compile(r"^(\d{1,4})([mhdw])$")
_UNIT = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
LONGEST = timedelta(days=90)


class BadDuration(ValueError):
    """Not a duration such as 30m, 24h, 7d or 2w."""


def parse_duration(text: str) -> timedelta:
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise BadDuration(f"{text!r} is not a duration: use e.g. 30m, 24h, 7d or 2w")
    span = timedelta(**{_UNIT[match.group(2)]: int(match.group(1))})
    if not timedelta(0) < span <= LONGEST:
        raise BadDuration(f"{text!r}: a snooze lasts between 1 minute and {LONGEST.days} days")
    return span


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def snoozed_until(database_url: str, issue_id: str, now: datetime | None = None) -> datetime | None:
    """When the issue's snooze ends, or None when it is not snoozed (an expired snooze is none)."""
    now = now or datetime.now(timezone.utc)
    with session_scope(database_url) as session:
        row = session.get(IssueSnooze, str(issue_id))
        until = _aware(row.until) if row else None
    return until if until and until > now else None


def is_snoozed(database_url: str, issue_id: str, now: datetime | None = None) -> bool:
    """True while a person's snooze on this issue lasts: every alert path asks this before it alerts."""
    return snoozed_until(database_url, issue_id, now) is not None


def snooze(database_url: str, issue_id: str, span: timedelta, actor: str, *, dry_run: bool = False,
           now: datetime | None = None) -> datetime:
    """Snooze (or re-snooze) an issue until now + span; audited. Returns the end of the snooze."""
    until = (now or datetime.now(timezone.utc)) + span
    with audited(database_url, "triageflow", "issue.snooze", f"issue:{issue_id}", dry_run=dry_run,
                 detail={"until": until.isoformat()}, actor=actor):
        if not dry_run:
            with session_scope(database_url) as session:
                row = session.get(IssueSnooze, str(issue_id)) or IssueSnooze(issue_id=str(issue_id), until=until,
                                                                              actor=actor)
                row.until, row.actor, row.created_at = until, actor, datetime.now(timezone.utc)
                session.add(row)
    return until


def unsnooze(database_url: str, issue_id: str, actor: str, *, dry_run: bool = False) -> bool:
    """End a snooze now; False when there was none."""
    with audited(database_url, "triageflow", "issue.unsnooze", f"issue:{issue_id}", dry_run=dry_run,
                 actor=actor) as entry:
        with session_scope(database_url) as session:
            row = session.get(IssueSnooze, str(issue_id))
            if row is None:
                entry.outcome = "skipped"
                return False
            if not dry_run:
                session.delete(row)
    return True


def skip_snoozed(database_url: str, issue_ids: list[str], outcome: dict[str, str]) -> list[str]:
    """The ids not snoozed, in order; each snoozed one is noted in `outcome` (the webhook alert path's filter)."""
    kept = []
    for issue_id in issue_ids:
        if is_snoozed(database_url, issue_id):
            outcome[issue_id] = "snoozed"
        else:
            kept.append(issue_id)
    return kept
