"""Step 5 of alert triage: the knowledge base matched against the alert and its logs, on the runbooks' RE2
matcher (linear time whatever the text). Pure: known issues come in as rows, a match goes out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .runbooks import IssueFacts, Runbook, RunbookMatcher, RunbookMeta


@dataclass(frozen=True)
class KnownMatch:
    id: int
    name: str
    title: str
    real: bool
    category: str
    severity: str | None
    action: str | None
    action_args: dict
    mode: str
    recommendation: str
    pattern: str
    field: str


def validate_pattern(pattern: str) -> str | None:
    """None when the pattern compiles for the matcher; else why not (what the API answers with 422)."""
    try:
        RunbookMeta(title="check", patterns=[pattern])
    except ValueError as exc:
        errors = getattr(exc, "errors", lambda: [])()
        return str(errors[0]["msg"]).removeprefix("Value error, ") if errors else str(exc)
    return None


def matcher_for(known_issues) -> RunbookMatcher:
    """One RunbookMatcher whose "runbooks" are the known issues (id = the row id)."""
    books = [Runbook(str(k.id), Path(f"known-issue-{k.name}"),
                     RunbookMeta(title=k.title if len(k.title) >= 3 else k.name, patterns=[k.pattern],
                                 fields=["title", "message", "tags"], priority=50), {})
             for k in known_issues]
    return RunbookMatcher(books)


def facts_for(alert_text: str, log_text: str, labels: dict[str, str]) -> IssueFacts:
    return IssueFacts(title=alert_text, message=log_text, tags=labels)


def match_known(known_issues, alert_text: str, log_text: str = "", labels: dict[str, str] | None = None,
                *, matcher: RunbookMatcher | None = None) -> KnownMatch | None:
    """The first known issue (lowest id) whose pattern fires on the alert's words, its logs or its labels."""
    known = {str(k.id): k for k in known_issues}
    matcher = matcher or matcher_for(known_issues)
    hits = matcher.hits(facts_for(alert_text, log_text, labels or {}))
    if not hits:
        return None
    hit = min(hits, key=lambda h: int(h.runbook.id))
    k = known[hit.runbook.id]
    return KnownMatch(k.id, k.name, k.title, k.real, k.category, k.severity, k.action, dict(k.action_args or {}),
                      k.mode, k.recommendation, k.pattern, hit.field)
