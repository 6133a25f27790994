"""GitHub issues filed once per key: a marker in the body finds an earlier one (even one created just before a
crash, before its number was recorded), so a re-run comments instead of opening a second issue.

Every change goes through `audited(...)` and honours dry-run. Used by alert_triage; telemetry triage can
use the same two functions with its own marker kind.
"""

from __future__ import annotations

from dataclasses import dataclass

from triageflow.audit import audited
from triageflow.clients.github import GitHub, GitHubIssue
from triageflow.scrub import scrub


def issue_marker(kind: str, key: str) -> str:
    """The hidden line that identifies the issue of `key` (e.g. kind "alert", key a fingerprint)."""
    return f"<!-- triageflow:{kind}:{key} -->"


@dataclass(frozen=True)
class IssueOutcome:
    action: str  # created | commented | found | dry-run
    number: int | None
    url: str | None


def open_or_comment(gh: GitHub, database_url: str, *, marker: str, title: str, body: str, comment: str | None,
                    labels: list[str], assignees: list[str], dry_run: bool,
                    known_number: int | None = None) -> IssueOutcome:
    """Comment on the open issue carrying `marker` (or `known_number`), else create one with the marker.

    `comment=None` means: when the issue exists, leave it alone (action `found`)."""
    existing = _existing(gh, marker, known_number, labels)
    if existing is not None:
        if comment is None:
            return IssueOutcome("found", existing.number, existing.html_url)
        with audited(database_url, "github", "issue.comment", f"issue:{existing.number}", dry_run=dry_run,
                     detail={"marker": marker}):
            if not dry_run:
                gh.comment(existing.number, scrub(comment))
        return IssueOutcome("dry-run" if dry_run else "commented", existing.number, existing.html_url)
    with audited(database_url, "github", "issue.create", marker, dry_run=dry_run,
                 detail={"title": title, "labels": labels}) as entry:
        if dry_run:
            return IssueOutcome("dry-run", None, None)
        created = gh.create_issue(scrub(title)[:256], f"{scrub(body)}\n\n{marker}", labels=labels,
                                  assignees=assignees)
        entry.detail["number"] = created.number
    return IssueOutcome("created", created.number, created.html_url)


def comment_once(gh: GitHub, database_url: str, number: int, text: str, marker: str, *, dry_run: bool) -> bool:
    """Post `text` on issue `number` unless a comment already carries `marker`; True when posted."""
    if any(marker in c.body for c in gh.comments(number)):
        return False
    with audited(database_url, "github", "issue.comment", f"issue:{number}", dry_run=dry_run, detail={"marker": marker}):
        if not dry_run:
            gh.comment(number, f"{scrub(text)}\n\n{marker}")
    return not dry_run


def close_once(gh: GitHub, database_url: str, number: int, *, dry_run: bool, reason: str = "completed") -> bool:
    """Close issue `number` if it is open; True when closed now."""
    if gh.issue(number).state != "open":
        return False
    with audited(database_url, "github", "issue.close", f"issue:{number}", dry_run=dry_run):
        if not dry_run:
            gh.close(number, reason=reason)
    return not dry_run


def _existing(gh: GitHub, marker: str, known_number: int | None, labels: list[str]) -> GitHubIssue | None:
    if known_number is not None:
        issue = gh.issue(known_number)
        if issue.state == "open":
            return issue
        return None
    return gh.find_open_issue(marker, labels=labels[:1])
