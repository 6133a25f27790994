"""Incremental issue state: read the issues changed since a pass last looked, remember what they say.

The issue list comes newest last-seen first; a pass stops at the first issue last seen before its
previous high-water mark (less a few minutes, for events stored late), so its cost follows what
changed, not what the server holds. A status change without a new event does not move last-seen:
`full=True` rereads everything.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import insert, update
from sqlmodel import select

from models.audit import utcnow
from models.db import session_scope
from models.issue_state import IssueState, PassMark, aware
from models.payloads import Issue
from triageflow.clients.glitchtip import GlitchTip
from triageflow.scrub import scrub

OVERLAP = timedelta(minutes=5)  # events can be stored a little after the time they carry
PAGE = 100
_NUMBERS = re.compile(r"\d+")


def fingerprint(exception_type: str, title: str) -> str:
    """What stays the same between occurrences of one problem: the type and the title without numbers."""
    return f"{exception_type}|{_NUMBERS.sub('#', (title or '').lower()).strip()}"[:300]


@dataclass
class Changed:
    """The issues a pass read, and whether it got back to where the previous pass stopped."""

    issues: list[Issue] = field(default_factory=list)
    complete: bool = True  # False: stopped at max_pages before reaching the mark
    in_order: bool = True  # False: the server did not sort by last seen, so nothing could be skipped
    previous_mark: datetime | None = None

    @property
    def high_water(self) -> datetime | None:
        return max((i.last_seen for i in self.issues), default=None)


UNCHANGED_RUN = 20  # this many issues in a row below the mark, each as stored: the rest of the overlap is too


def read_changed(gt: GlitchTip, query: str | None, mark: datetime | None, *, stop_before: datetime | None = None,
                 max_pages: int | None = None, progress: Callable[[int], None] | None = None,
                 known: dict[str, tuple[datetime, int]] | None = None,
                 on_page: Callable[[list[Issue]], None] | None = None) -> Changed:
    """Issues matching `query` last seen at or after `mark` (less OVERLAP) and `stop_before`, newest first.

    Inside the overlap, a run of issues that are exactly as stored (`known`: id -> last seen, count) ends
    the read too: on a busy server hundreds of issues share the last few minutes. Stops early only while
    the answer really is sorted newest first: otherwise it reads every page.
    `on_page` gets the issues read so far a page at a time (and the rest at the end), so they can be
    stored while the next page is on its way.
    """
    known = known or {}
    handed = 0

    def hand() -> None:
        nonlocal handed
        if on_page is not None and len(out.issues) > handed:
            on_page(out.issues[handed:])
            handed = len(out.issues)

    cutoffs = [c for c in ((mark - OVERLAP) if mark else None, stop_before) if c is not None]
    cutoff = max(cutoffs) if cutoffs else None
    out = Changed(previous_mark=mark)
    try:
        return _read(gt.issues(query, limit=PAGE, max_pages=max_pages), out, mark, cutoff, max_pages, known, progress,
                     hand)
    finally:
        hand()


def _read(issues, out: Changed, mark, cutoff, max_pages, known, progress, hand) -> Changed:
    """`read_changed`'s walk over the list; `hand` passes on what was read so far."""
    unchanged = 0
    previous: datetime | None = None
    for n, issue in enumerate(issues, 1):
        if previous is not None and issue.last_seen > previous:
            out.in_order = False
        previous = issue.last_seen
        if cutoff is not None and out.in_order and issue.last_seen < cutoff:
            return out
        same = mark is not None and issue.last_seen <= mark and known.get(issue.id) == (issue.last_seen, issue.event_count)
        unchanged = unchanged + 1 if same else 0
        if unchanged >= UNCHANGED_RUN and out.in_order:
            return out
        out.issues.append(issue)
        if n % PAGE == 0:
            hand()
            if progress:
                progress(n)
    hand()
    if max_pages is not None and len(out.issues) >= max_pages * PAGE:
        out.complete = False
    if cutoff is not None and not out.in_order:
        out.issues = [i for i in out.issues if i.last_seen >= cutoff]
    return out


def known_since(database_url: str, moment: datetime | None) -> dict[str, tuple[datetime, int]]:
    """id -> (last seen, count) of the stored issues last seen since `moment` (the overlap of a pass)."""
    if moment is None:
        return {}
    return {i: (s.last_seen, s.count) for i, s in states(database_url, seen_since=moment - OVERLAP).items()}


def load_mark(database_url: str, name: str) -> PassMark | None:
    with session_scope(database_url) as session:
        mark = session.get(PassMark, name)
        if mark is not None:
            mark.high_water, mark.finished_at = aware(mark.high_water), aware(mark.finished_at)
        return mark


def save_mark(database_url: str, name: str, changed: Changed) -> None:
    """Advance the mark, only after a pass that got back to the previous one (else it would skip issues)."""
    if not changed.complete:
        return
    highs = [m for m in (changed.high_water, changed.previous_mark) if m is not None]
    if not highs:
        return  # nothing seen yet: no mark, the next pass reads from the start again
    with session_scope(database_url) as session:  # overlapping passes may both save: the later one wins
        _insert_or_update(session, [{"name": name, "high_water": max(highs), "finished_at": utcnow(),
                                     "listed": len(changed.issues)}], PassMark, "name", ())


def _listed(issue: Issue, now: datetime) -> dict:
    """The columns an issue-list entry sets (what was learned before, mix and resolution, is kept)."""
    title = scrub(issue.title)[:500]
    return {"issue_id": issue.id, "project": issue.project.slug, "level": issue.level, "status": issue.status,
            "title": title, "culprit": (issue.culprit or "")[:500], "exception_type": issue.exception_type[:200],
            "exception_value": scrub(issue.exception_value)[:1000],
            "fingerprint": fingerprint(issue.exception_type, title), "first_seen": issue.first_seen,
            "last_seen": issue.last_seen, "count": issue.event_count, "counted_at": now, "updated_at": now}


def remember(database_url: str, issues: Iterable[Issue]) -> int:
    """Upsert what the list said about each issue, keeping what was learned before (mix, resolution).
    A few statements per 500 issues: a busy day lists thousands."""
    issues = list(issues)
    now = utcnow()
    for chunk in range(0, len(issues), 500):
        part = list({i.id: i for i in issues[chunk:chunk + 500]}.values())
        with session_scope(database_url) as session:
            known = dict(session.exec(select(IssueState.issue_id, IssueState.status).where(
                IssueState.issue_id.in_([i.id for i in part]))).all())
            updates, inserts = [], []
            for issue in part:
                row = _listed(issue, now)
                if issue.id not in known:
                    inserts.append(row | {"mix_events": 0})
                    continue
                if known[issue.id] and known[issue.id] != issue.status:
                    row["resolution"] = None  # resolved or reopened since: what was written about it is read again
                updates.append(row)
            for same_keys in _by_keys(updates):
                session.execute(update(IssueState), same_keys)
            if inserts:
                _insert_or_update(session, inserts)
    return len(issues)


def _insert_or_update(session, rows: list[dict], model=IssueState, key: str = "issue_id",
                      keep: tuple[str, ...] = ("mix_events",)) -> None:
    """Insert rows; one that an overlapping pass inserted meanwhile is updated instead (except `keep`)."""
    dialect = session.get_bind().dialect.name
    if dialect not in ("postgresql", "sqlite"):
        session.execute(insert(model), rows)
        return
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    statement = dialect_insert(model.__table__)
    listed = [c for c in rows[0] if c != key and c not in keep]
    session.execute(statement.on_conflict_do_update(index_elements=[key],
                                                    set_={c: statement.excluded[c] for c in listed}), rows)


def _by_keys(rows: list[dict]) -> list[list[dict]]:
    """Rows grouped by their set of keys (one executemany each)."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    return list(groups.values())


def states(database_url: str, *, seen_since: datetime | None = None, statuses: Iterable[str] | None = None,
           ids: Iterable[str] | None = None) -> dict[str, IssueState]:
    """Stored issues (timestamps made aware), filtered by last seen, status or id."""
    with session_scope(database_url) as session:
        query = select(IssueState)
        if seen_since is not None:
            query = query.where(IssueState.last_seen >= seen_since)
        if statuses is not None:
            query = query.where(IssueState.status.in_(list(statuses)))
        if ids is not None:
            query = query.where(IssueState.issue_id.in_(list(ids)))
        rows = list(session.exec(query))
    for row in rows:
        for name in ("first_seen", "last_seen", "counted_at", "report_last_seen", "report_counted_at", "resolution_at",
                     "swept_last_seen", "updated_at"):
            setattr(row, name, aware(getattr(row, name)))
    return {r.issue_id: r for r in rows}


def update_states(database_url: str, changes: dict[str, dict]) -> None:
    """Set fields on stored issues: {issue_id: {field: value}}."""
    items = list(changes.items())
    for chunk in range(0, len(items), 500):
        part = dict(items[chunk:chunk + 500])
        with session_scope(database_url) as session:
            for row in session.exec(select(IssueState).where(IssueState.issue_id.in_(list(part)))):
                for key, value in part[row.issue_id].items():
                    setattr(row, key, value)
                session.add(row)


def refresh(gt: GlitchTip, database_url: str, name: str, query: str | None = None, *, full: bool = False,
            stop_before: datetime | None = None, max_pages: int | None = None,
            progress: Callable[[int], None] | None = None) -> Changed:
    """One incremental pass: read what changed since the pass `name` last looked, store it, move the mark."""
    mark = None if full else load_mark(database_url, name)
    high = mark.high_water if mark else None
    changed = read_and_remember(gt, database_url, query, high, stop_before=stop_before, max_pages=max_pages,
                                progress=progress)
    save_mark(database_url, name, changed)
    return changed


def read_and_remember(gt: GlitchTip, database_url: str, query: str | None, mark: datetime | None,
                      **options) -> Changed:
    """`read_changed`, each page stored by a writer thread while the next one is fetched."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="issue-state") as writer:
        stored = []
        changed = read_changed(gt, query, mark, known=known_since(database_url, mark),
                               on_page=lambda part: stored.append(writer.submit(remember, database_url, part)),
                               **options)
        for done in stored:
            done.result()  # a failed write fails the pass (before its mark moves)
    return changed
