"""Similar resolved and ignored issues from the local index, at a bounded number of calls.

The index is the stored issue state (titles, exception types, culprits, statuses), kept current by
every incremental pass; an investigation reads at most a few pages of what changed since, then asks
for the comments of its best matches only, once each (they are stored with the issue).
"""

from __future__ import annotations

import logging

from models.audit import utcnow
from models.payloads import Issue
from triageflow.clients.glitchtip import GlitchTip
from triageflow.scrub import scrub

from .issue_state import load_mark, refresh, states, update_states
from .similarity import CANDIDATE_STATUSES, INDEX_PAGES, INDEX_PASS, IndexedIssue, indexed, most_similar, resolution_notes

log = logging.getLogger(__name__)


def refresh_index(gt: GlitchTip, database_url: str, *, full: bool = False, max_pages: int | None = INDEX_PAGES) -> str:
    """Bring the index up to date: built once in full, then only the changed issues (a few pages at most)."""
    if full or load_mark(database_url, INDEX_PASS) is None:
        changed = refresh(gt, database_url, INDEX_PASS, None, full=True)
        log.info("similar-issues index built: %d issues", len(changed.issues))
        return f"built from {len(changed.issues)} issues"
    changed = refresh(gt, database_url, INDEX_PASS, None, max_pages=max_pages)
    return "up to date" if changed.complete else f"refreshed the {len(changed.issues)} most recently changed issues"


def similar_from_index(gt: GlitchTip, database_url: str, issue: Issue, *, limit: int = 5,
                       threshold: float = 60.0) -> list[tuple[IndexedIssue, float, list[str]]]:
    """The closest resolved/ignored issues with what was done about them (comments fetched once per issue)."""
    candidates = indexed(states(database_url, statuses=CANDIDATE_STATUSES).values())
    probe = IndexedIssue(issue.id, scrub(issue.title), issue.culprit, issue.exception_type,
                         scrub(issue.exception_value), issue.status, None)
    best = most_similar(probe, candidates, limit=limit, threshold=threshold)
    fetched = {}
    out = []
    for other, score in best:
        notes = list(other.resolution) if other.resolution is not None else None
        if notes is None:
            notes = resolution_notes(gt.comments(other.id))
            fetched[other.id] = {"resolution": notes, "resolution_at": utcnow()}
        out.append((other, score, notes))
    update_states(database_url, fetched)
    return out
