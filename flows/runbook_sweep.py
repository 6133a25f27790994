"""runbook_sweep: link unresolved issues that match a known problem to its runbook, once, never wrongly."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from models.payloads import Issue
from tasks.flow_health import WATCHED, note_summary
from tasks.glitchtip_actions import post_comment_once
from tasks.issue_state import Changed, load_mark, read_and_remember, save_mark, states, update_states
from tasks.retry import transient_only
from tasks.runbook_links import (
    SweepDecision,
    decide,
    index_runbooks,
    link_comment_body,
    link_comments,
    runbook_marker,
    unlinked_issue_ids,
)
from tasks.runbooks import IssueFacts, RunbookMatcher, runbook_link
from triageflow.audit import acting_as
from triageflow.progress import report
from triageflow.clients.glitchtip import GlitchTip, glitchtip_from_settings
from triageflow.scrub import scrub
from triageflow.settings import load_settings


class MalformedRunbooks(RuntimeError):
    """Some runbook files could not be loaded; the others were used."""


@dataclass(frozen=True)
class SweepRow:
    issue_id: str
    title: str
    runbook: str | None
    outcome: str  # linked, would link (dry-run), already linked, unlinked by a human, no match, ...


@task(name="load-runbooks", cache_policy=NO_CACHE)
def load_runbooks_and_index(runbooks_dir: str, database_url: str) -> tuple[RunbookMatcher, list[str]]:
    matcher, errors = RunbookMatcher.from_directory(runbooks_dir)
    index_runbooks(database_url, matcher.runbooks)
    return matcher, [str(e) for e in errors]


@task(name="list-changed-issues", retries=2, retry_delay_seconds=exponential_backoff(2),
      retry_condition_fn=transient_only, cache_policy=NO_CACHE)
def list_changed_issues(gt: GlitchTip, query: str, database_url: str, full: bool) -> tuple[Changed, list[Issue]]:
    """Issues changed since the last sweep of `query` (all of them with `full`), minus those the last sweep
    already considered at the same last-seen (the few the overlap reads again)."""
    mark = None if full else load_mark(database_url, sweep_pass(query))
    high = mark.high_water if mark else None
    changed = read_and_remember(gt, database_url, query, high,
                                progress=lambda n: report("issues changed since the last sweep", n))
    known = states(database_url, ids=[i.id for i in changed.issues])
    fresh = [i for i in changed.issues
             if full or known.get(i.id) is None or known[i.id].swept_last_seen != i.last_seen]
    return changed, fresh


def sweep_pass(query: str) -> str:
    return f"runbook-sweep:{query}"


@task(name="link-runbook", retries=2, retry_delay_seconds=exponential_backoff(2), retry_condition_fn=transient_only,
      cache_policy=NO_CACHE)
def link_runbook(gt: GlitchTip, matcher: RunbookMatcher, issue: Issue, runbook_id: str, *, dry_run: bool,
                 database_url: str, base_url: str | None) -> str:
    comments = gt.comments(issue.id)
    if link_comments(comments):
        return "already linked"
    result = matcher.match(IssueFacts.from_issue(issue))
    body = link_comment_body(result.hit, runbook_link(result.runbook, base_url), issue.id)
    outcome = post_comment_once(gt, issue.id, body, runbook_marker(runbook_id), dry_run=dry_run,
                                database_url=database_url, comments=comments)
    return {"posted": "linked", "dry-run": "would link (dry-run)"}.get(outcome.reason, outcome.reason)


def summarize(rows: list[SweepRow]) -> dict[str, int]:
    outcomes = [r.outcome for r in rows]
    return {
        "scanned": len(rows),  # new or changed since the last sweep
        "matched": sum(1 for r in rows if r.runbook),
        "linked": outcomes.count("linked") + outcomes.count("would link (dry-run)"),
        "skipped_already_linked": outcomes.count("already linked"),
        "skipped_unlinked": outcomes.count("unlinked by a human"),
        "skipped_no_match": sum(1 for r in rows if r.runbook is None and r.outcome != "unlinked by a human"),
        "skipped_other": sum(1 for r in rows if r.runbook and r.outcome in ("auto_link off",)),
    }


@flow(name="runbook-sweep", log_prints=True, **WATCHED)
def runbook_sweep(query: str = "is:unresolved", dry_run: bool | None = None, full: bool = False) -> dict:
    """Match the issues new or changed since the last sweep (every issue with `full`) against the runbooks,
    and link each match not linked before."""
    s = load_settings()
    dry = s.triage_dry_run if dry_run is None else dry_run
    logger = get_run_logger()
    matcher, errors = load_runbooks_and_index(str(s.runbooks_dir), s.triage_database_url)
    for error in errors:
        logger.error("malformed runbook %s", error)
    unlinked = unlinked_issue_ids(s.triage_database_url)
    rows: list[SweepRow] = []
    with glitchtip_from_settings(s, dry_run=dry) as gt, acting_as("flow:runbook-sweep"):
        changed, fresh = list_changed_issues(gt, query, s.triage_database_url, full)
        logger.info("runbook sweep: %d issues changed since the last sweep, %d to consider%s", len(changed.issues),
                    len(fresh), " (full rescan)" if full else "")
        for n, issue in enumerate(fresh, 1):
            decision: SweepDecision = decide(issue, matcher.match(IssueFacts.from_issue(issue)), unlinked)
            outcome = decision.reason
            if decision.action == "link":
                outcome = link_runbook(gt, matcher, issue, decision.runbook_id, dry_run=dry,
                                       database_url=s.triage_database_url, base_url=s.runbooks_base_url)
            rows.append(SweepRow(issue.id, scrub(issue.title), decision.runbook_id, outcome))
            report("issues matched against the runbooks", n, len(fresh))
            if n % 500 == 0:
                logger.info("runbook sweep: %d of %d considered", n, len(fresh))
    if not dry:  # a dry run changes nothing: the next real sweep considers the same issues
        update_states(s.triage_database_url, {i.id: {"swept_last_seen": i.last_seen} for i in fresh})
        save_mark(s.triage_database_url, sweep_pass(query), changed)  # after linking: a crash re-reads them
    counts = summarize(rows)
    create_table_artifact(key="runbook-sweep", table=[asdict(r) for r in rows],
                          description=f"runbook sweep of {query!r}" + (" (dry-run)" if dry else ""))
    create_markdown_artifact(key="runbook-sweep-summary", markdown="\n".join(
        ["| | issues |", "| --- | --- |"] + [f"| {k.replace('_', ' ')} | {v} |" for k, v in counts.items()]
        + ([f"\n**Malformed runbooks:** {'; '.join(errors)}"] if errors else [])))
    logger.info("runbook sweep: %s", counts)
    note_summary(", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items() if v))
    if errors:
        raise MalformedRunbooks(f"{len(errors)} malformed runbook(s), the rest were used: {'; '.join(errors)}")
    return {"counts": counts, "rows": [asdict(r) for r in rows], "dry_run": dry}
