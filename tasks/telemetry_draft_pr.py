"""The optional draft pull request of a telemetry group's triage notes (TELEMETRY_DRAFT_PR, off by default).

One per group, ever: a claim `draft-pr:telemetry:<fingerprint>` is taken before anything is written, and
each step finds what an interrupted run already made (the branch, the notes file, the pull request from
that branch), so a re-run or a retry after a crash adds nothing twice. The text is pure; the task below
is the only I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from prefect import task

from tasks.telemetry_triage import IO, GroupFacts, issue_body, marker
from triageflow.audit import audited
from triageflow.clients.errors import Rejected
from triageflow.clients.github import GitHub
from triageflow.once import once
from triageflow.scrub import scrub


@dataclass(frozen=True)
class PullOutcome:
    action: str  # created | found | busy | dry-run
    number: int | None
    url: str | None


def claim_key(fingerprint: str) -> str:
    return f"draft-pr:telemetry:{fingerprint}"


def notes_branch(fingerprint: str) -> str:
    return f"triage/telemetry-{fingerprint[:12]}"


def notes_path(fingerprint: str) -> str:
    return f"triage-notes/telemetry-{fingerprint[:12]}.md"


def notes_markdown(facts: GroupFacts, remediation: str, issue_number: int | None) -> str:
    """The notes file: what the issue says, as a document a fix can be written next to."""
    refs = f"Triage of #{issue_number}." if issue_number else "Triage notes."
    return "\n".join([f"# Triage notes: {facts.title}", "", refs, "",
                      issue_body(facts, remediation), "", marker(facts.fingerprint), ""])


def pull_title(facts: GroupFacts) -> str:
    return f"[telemetry] Triage notes: {facts.title}"[:256]


def pull_body(facts: GroupFacts, issue_number: int | None) -> str:
    lines = [f"Draft opened by triageflow's telemetry triage for group `{facts.fingerprint[:12]}` "
             f"({facts.count} events). It adds the triage notes only; push the fix to this branch.", ""]
    if issue_number:
        lines += [f"Refs #{issue_number}", ""]
    return "\n".join(lines + [marker(facts.fingerprint)])


@task(name="open-draft-pull-request", **IO)
def open_draft_pull(gh: GitHub, database_url: str, facts: GroupFacts, remediation: str, issue_number: int | None,
                    dry_run: bool) -> PullOutcome:
    """Branch `triage/telemetry-<fp>`, the notes file on it, and a draft pull request into the default branch."""
    branch, path = notes_branch(facts.fingerprint), notes_path(facts.fingerprint)
    detail = {"branch": branch, "path": path, "issue": issue_number}
    if dry_run:
        with audited(database_url, "github", "pull.create", claim_key(facts.fingerprint), dry_run=True, detail=detail):
            return PullOutcome("dry-run", None, None)
    with once(database_url, claim_key(facts.fingerprint), detail=detail) as claim:
        if claim.state == "done":
            return PullOutcome("found", claim.detail.get("number"), claim.detail.get("url"))
        if not claim:
            return PullOutcome("busy", None, None)
        with audited(database_url, "github", "pull.create", claim.key, dry_run=False, detail=detail) as entry:
            action, pull = "found", gh.find_pull(branch)
            if pull is None:
                action, pull = "created", _create(gh, facts, remediation, issue_number, branch, path)
            entry.detail.update(number=pull.number, action=action)
        claim.detail.update(number=pull.number, url=pull.html_url)
    return PullOutcome(action, pull.number, pull.html_url)


def _create(gh: GitHub, facts: GroupFacts, remediation: str, issue_number: int | None, branch: str, path: str):
    base, sha = gh.default_branch_head()
    gh.create_branch(branch, sha)  # False: an interrupted run made it; it is reused
    gh.put_file(branch, path, scrub(notes_markdown(facts, remediation, issue_number)),
                f"Triage notes for telemetry group {facts.fingerprint[:12]}")
    try:
        return gh.create_pull(scrub(pull_title(facts)), scrub(pull_body(facts, issue_number)), head=branch, base=base)
    except Rejected as exc:
        if exc.status == 422 and "already exists" in (exc.server_message or ""):
            found = gh.find_pull(branch)
            if found is not None:
                return found
        raise
