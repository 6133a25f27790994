"""Similar issues: resolved or ignored issues whose title, culprit and message are close to this one's."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz import fuzz

from models.payloads import Issue

_NUMBERS = re.compile(r"\d+")


def _normal(text: str) -> str:
    """Numbers vary between occurrences of one problem (ids, attempts, ports): compare without them."""
    return _NUMBERS.sub("#", (text or "").lower()).strip()


def similarity(a: Issue, b: Issue) -> float:
    """0-100: title weighs most, then message, then culprit; the same exception type adds a little."""
    # token_set alone calls a title that contains the other one identical; token_sort keeps the difference
    title = (fuzz.token_set_ratio(_normal(a.title), _normal(b.title)) + fuzz.token_sort_ratio(_normal(a.title), _normal(b.title))) / 2
    message = fuzz.token_set_ratio(_normal(a.exception_value), _normal(b.exception_value))
    culprit = fuzz.ratio(_normal(a.culprit), _normal(b.culprit)) if a.culprit and b.culprit else message
    score = 0.5 * title + 0.3 * message + 0.2 * culprit
    if a.exception_type and a.exception_type != b.exception_type:
        score *= 0.85
    return round(score, 1)


@dataclass(frozen=True)
class SimilarIssue:
    issue: Issue
    score: float
    resolution: list[str]  # the text of its comments (what was done), newest first
    link: str


def most_similar(issue: Issue, others: list[Issue], limit: int = 5, threshold: float = 60.0) -> list[tuple[Issue, float]]:
    scored = [(other, similarity(issue, other)) for other in others if other.id != issue.id]
    scored = [(o, s) for o, s in scored if s >= threshold]
    return sorted(scored, key=lambda pair: (-pair[1], pair[0].id))[:limit]


def issue_link(base_url: str, org: str, issue_id: str) -> str:
    """The GlitchTip web page of an issue (the form its webhooks link to)."""
    return f"{base_url.rstrip('/')}/{org}/issues/{issue_id}"


# --------------------------------------------------------------------------- the local index

INDEX_PASS = "similarity-index"
INDEX_PAGES = 3  # an investigation reads at most this many pages of changed issues
CANDIDATE_STATUSES = ("resolved", "ignored")


@dataclass(frozen=True)
class IndexedIssue:
    """A stored issue as `similarity` reads it (the same attribute names as `Issue`)."""

    id: str
    title: str
    culprit: str
    exception_type: str
    exception_value: str
    status: str
    resolution: tuple[str, ...] | None


def indexed(states) -> list[IndexedIssue]:
    return [IndexedIssue(s.issue_id, s.title, s.culprit, s.exception_type, s.exception_value, s.status,
                         tuple(s.resolution) if s.resolution is not None else None) for s in states]


def resolution_notes(comments) -> list[str]:
    """What people wrote on an issue, without triageflow's own comments, newest first."""
    return [c.text for c in comments if "<!-- triageflow:" not in c.text]
