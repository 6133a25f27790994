"""Changes to GlitchTip that are idempotent, dry-run-able and audited. Plain functions; flows wrap them."""

from __future__ import annotations

from dataclasses import dataclass

from triageflow.audit import audited
from triageflow.clients.glitchtip import STATUSES, GlitchTip
from triageflow.once import once
from triageflow.scrub import scrub


@dataclass(frozen=True)
class CommentOutcome:
    issue_id: str
    posted: bool
    comment_id: str | None
    reason: str  # "posted", "already posted", "dry-run"


def comment_marker(kind: str, key: str) -> str:
    """An invisible HTML comment that lets a later run find what an earlier run posted."""
    return f"<!-- triageflow:{kind}:{key} -->"


def comment_claim_key(marker: str, issue_id: str) -> str:
    """The claim that makes a marked comment happen once: `comment:<kind>:<key>:issue:<id>`."""
    inner = marker.removeprefix("<!-- triageflow:").removesuffix(" -->")
    return f"comment:{inner}:issue:{issue_id}"


def post_comment_once(gt: GlitchTip, issue_id: str, body: str, marker: str, *, dry_run: bool,
                      database_url: str, force: bool = False, comments: list | None = None) -> CommentOutcome:
    """Post `body` (scrubbed) with `marker` unless a comment with that marker is already there.

    The post happens under a claim (marker + issue), so concurrent runs post once; whoever takes the claim
    reads the comments again first (an earlier holder may have posted and then died). `comments` may hand
    in the issue's comments when the caller has just read them; `force` posts again regardless.
    """
    existing = next((c for c in (gt.comments(issue_id) if comments is None else comments) if marker in c.text), None)
    if existing is not None and not force:
        return CommentOutcome(str(issue_id), False, str(existing.id), "already posted")
    text = f"{scrub(body).rstrip()}\n\n{marker}"
    if dry_run or force:
        return _post_comment(gt, issue_id, text, marker, dry_run=dry_run, database_url=database_url)
    with once(database_url, comment_claim_key(marker, str(issue_id)), lease_seconds=120) as claim:
        if not claim:
            reason = "already posted" if claim.state == "done" else "being posted by another run"
            return CommentOutcome(str(issue_id), False, claim.detail.get("comment_id"), reason)
        existing = next((c for c in gt.comments(issue_id) if marker in c.text), None)
        if existing is not None:
            claim.detail["comment_id"] = str(existing.id)
            return CommentOutcome(str(issue_id), False, str(existing.id), "already posted")
        outcome = _post_comment(gt, issue_id, text, marker, dry_run=False, database_url=database_url)
        claim.detail["comment_id"] = outcome.comment_id
        return outcome


def _post_comment(gt: GlitchTip, issue_id: str, text: str, marker: str, *, dry_run: bool,
                  database_url: str) -> CommentOutcome:
    with audited(database_url, "glitchtip", "comment.add", f"issue:{issue_id}", dry_run=dry_run,
                 detail={"marker": marker, "chars": len(text)}) as entry:
        if dry_run:
            return CommentOutcome(str(issue_id), False, None, "dry-run")
        comment = gt.add_comment(issue_id, text)
        entry.detail["comment_id"] = comment.id if comment else None
        return CommentOutcome(str(issue_id), comment is not None, str(comment.id) if comment else None, "posted")


@dataclass(frozen=True)
class StatusOutcome:
    issue_id: str
    before: str
    after: str
    changed: bool
    reason: str  # "changed", "already <status>", "dry-run"


def change_status(gt: GlitchTip, issue_id: str, status: str, *, dry_run: bool, database_url: str) -> StatusOutcome:
    """Set an issue's status; a second call with the same status changes nothing and says so."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    issue = gt.issue(issue_id)
    if issue.status == status:
        return StatusOutcome(issue.id, issue.status, status, False, f"already {status}")
    with audited(database_url, "glitchtip", "issue.status", f"issue:{issue.id}", dry_run=dry_run,
                 detail={"from": issue.status, "to": status, "title": issue.title}):
        if dry_run:
            return StatusOutcome(issue.id, issue.status, issue.status, False, "dry-run")
        after = gt.set_status(issue.id, status)
        return StatusOutcome(issue.id, issue.status, after.status if after else status, True, "changed")
