"""Linking issues to runbooks: the link comment, the index table, and human unlinks."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from models.db import session_scope
from models.payloads import Comment, Issue
from models.runbooks import RunbookPattern, RunbookUnlink
from triageflow.audit import audited, current_actor
from triageflow.clients.errors import ClientError
from triageflow.clients.glitchtip import GlitchTip

from .glitchtip_actions import comment_marker
from .runbooks import Hit, MatchResult, Runbook

MARKER_KIND = "runbook"
MARKER_PREFIX = "<!-- triageflow:runbook:"


def runbook_marker(runbook_id: str) -> str:
    return comment_marker(MARKER_KIND, runbook_id)


def link_comments(comments: list[Comment]) -> list[Comment]:
    """Comments an earlier run posted to link a runbook (any runbook)."""
    return [c for c in comments if MARKER_PREFIX in c.text]


def link_comment_body(hit: Hit, link: str, issue_id: str) -> str:
    rb = hit.runbook
    return (
        f"**Runbook: [{rb.title}]({link})**\n\n"
        f"This issue matches a known problem (pattern `{hit.pattern}` on {hit.field.replace('_', ' ')}).\n\n"
        f"### Quick fix\n{rb.quick_fix}\n\n"
        f"Full runbook — symptoms, diagnosis, fix, prevention: {link}\n\n"
        f"_Linked automatically by triageflow (runbook_sweep). Wrong runbook? "
        f"`triage runbooks unlink {issue_id}` removes this link and keeps the issue unlinked._"
    )


@dataclass(frozen=True)
class SweepDecision:
    issue_id: str
    title: str
    runbook_id: str | None
    action: str  # "link" or "skip"
    reason: str  # "matched", "no match", "unlinked by a human", "auto_link off", "tie ...", "excluded ..."


def decide(issue: Issue, result: MatchResult, unlinked: set[str]) -> SweepDecision:
    """Whether the sweep should try to link this issue; the comment check comes after, against the server."""
    runbook_id = result.runbook.id if result.runbook else None
    if issue.id in unlinked:
        return SweepDecision(issue.id, issue.title, runbook_id, "skip", "unlinked by a human")
    if not result.matched:
        return SweepDecision(issue.id, issue.title, None, "skip", result.reason)
    if not result.runbook.meta.auto_link:
        return SweepDecision(issue.id, issue.title, runbook_id, "skip", "auto_link off")
    return SweepDecision(issue.id, issue.title, runbook_id, "link", "matched")


# --------------------------------------------------------------------------- database

def index_runbooks(database_url: str, runbooks: list[Runbook]) -> int:
    """Replace the indexed patterns with those of `runbooks`, in one transaction."""
    rows = []
    for rb in runbooks:
        common = dict(runbook_id=rb.id, title=rb.title, path=f"runbooks/{rb.path.name}", component=rb.meta.component,
                      priority=rb.meta.priority, auto_link=rb.meta.auto_link, fields=",".join(rb.meta.fields))
        rows += [RunbookPattern(kind="match", pattern=p, **common) for p in rb.meta.patterns]
        rows += [RunbookPattern(kind="exclude", pattern=p, **common) for p in rb.meta.exclude]
    with session_scope(database_url) as session:
        session.exec(delete(RunbookPattern))
        session.add_all(rows)
    return len(rows)


def unlinked_issue_ids(database_url: str) -> set[str]:
    with session_scope(database_url) as session:
        return set(session.exec(select(RunbookUnlink.issue_id)))


def record_unlink(database_url: str, issue_id: str, runbook_id: str | None, reason: str | None = None) -> bool:
    """Remember that the issue must never be linked again. False when it already was."""
    try:
        with session_scope(database_url) as session:
            session.add(RunbookUnlink(issue_id=str(issue_id), runbook_id=runbook_id, actor=current_actor.get(),
                                      reason=reason))
        return True
    except IntegrityError:
        return False


@dataclass(frozen=True)
class UnlinkOutcome:
    issue_id: str
    recorded: bool
    removed_comments: list[str]
    kept_comments: list[str]
    note: str


def unlink_issue(gt: GlitchTip, issue_id: str, *, dry_run: bool, database_url: str,
                 reason: str | None = None) -> UnlinkOutcome:
    """Record the unlink (first), then remove the link comments where the token may delete them."""
    gt.issue(issue_id)  # an unknown issue fails here, before anything is recorded
    links = link_comments(gt.comments(issue_id))
    runbook_id = links[0].text.split(MARKER_PREFIX, 1)[1].split(" -->", 1)[0] if links else None
    with audited(database_url, "triageflow", "runbook.unlink", f"issue:{issue_id}", dry_run=dry_run,
                 detail={"runbook": runbook_id, "reason": reason}):
        recorded = False if dry_run else record_unlink(database_url, issue_id, runbook_id, reason)
    removed, kept, notes = [], [], []
    for comment in links:
        with audited(database_url, "glitchtip", "comment.delete", f"issue:{issue_id}", dry_run=dry_run,
                     detail={"comment_id": comment.id}) as entry:
            if dry_run:
                kept.append(str(comment.id))
                continue
            try:
                gt.delete_comment(issue_id, comment.id)
                removed.append(str(comment.id))
            except ClientError as exc:  # e.g. a token without event:admin: the unlink still holds
                kept.append(str(comment.id))
                notes.append(f"comment {comment.id} kept: {exc}")
                entry.outcome = "refused"
    note = "; ".join(notes) or ("dry-run: nothing recorded or removed" if dry_run else "ok")
    return UnlinkOutcome(str(issue_id), recorded, removed, kept, note)
