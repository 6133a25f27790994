"""investigate_issue: what an on-call developer does in the first ten minutes of an error, in seconds.

Stack trace → files in the codebase → recent and suspect commits → similar resolved issues →
matching runbook → one markdown comment on the GlitchTip issue, posted once.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.context import get_run_context
from prefect.tasks import exponential_backoff

from models.db import session_scope
from models.investigations import (
    CodeMatchReport,
    CommitReport,
    FileReport,
    FrameReport,
    Investigation,
    InvestigationLog,
    RunbookReport,
    SimilarReport,
    SuspectReport,
)
from models.payloads import Issue
from tasks.flow_health import WATCHED, note_summary
from tasks.artifacts import publish_markdown
from tasks.codebase import Codebase, CodebaseError, codebase_head, open_codebase, search, search_terms
from tasks.git_history import humanize, recent_commits
from tasks.glitchtip_actions import comment_marker, post_comment_once
from tasks.investigation_report import render
from tasks.retry import transient_only
from tasks.runbooks import IssueFacts, RunbookMatcher, runbook_link
from tasks.similar_index import refresh_index, similar_from_index
from tasks.similarity import issue_link
from tasks.suspect_search import find_suspects
from tasks.suspects import event_release, suspect_note
from tasks.stacktrace import StackFrame, frames_from_event, in_app_frames, stack_excerpt
from triageflow.audit import acting_as
from triageflow.clients.errors import NotFound
from triageflow.clients.glitchtip import GlitchTip, glitchtip_from_settings
from triageflow.scrub import scrub, scrub_data
from triageflow.settings import load_settings

CACHE_FOR = timedelta(hours=24)
SUSPECT_WINDOW = timedelta(days=30)
EVIDENCE_VERSION = 2  # bumped when the cached evidence changes shape: an older cached result is not reused


def _keyed(step: str):
    """Cache per step, issue, latest event and codebase commit: a new event or a new commit invalidates."""
    return lambda context, parameters: f"investigate:{EVIDENCE_VERSION}:{step}:{parameters['key']}"


def _commit(c) -> CommitReport:
    return CommitReport(sha=c.sha, short=c.short, subject=c.subject, author=c.author, date=c.date)


@task(name="fetch-issue-and-event", retries=2, retry_delay_seconds=exponential_backoff(1),
      retry_condition_fn=transient_only, cache_policy=NO_CACHE)
def fetch_issue_with_event(gt: GlitchTip, issue_id: str) -> tuple[Issue, dict[str, Any] | None, list[str]]:
    """The issue and its latest event (asked at once); an earlier event when the latest has no stack trace."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        latest = pool.submit(gt.latest_event, issue_id)
        issue = gt.issue(issue_id)  # an unknown issue fails here, with its own message
        try:
            event = latest.result().model_dump(by_alias=True, mode="json")
        except NotFound:
            return issue, None, ["no event is stored for this issue"]
    if frames_from_event(event):
        return issue, event, []
    for older in gt.events(issue_id, max_pages=1):
        candidate = older.model_dump(by_alias=True, mode="json")
        if frames_from_event(candidate):
            return issue, candidate, [f"the latest event has no stack trace; used event {older.id}"]
    return issue, event, ["no event of this issue has a stack trace"]


def search_codebase(codebase: Codebase, frames: list[StackFrame], culprit: str, message: str):
    result = search(codebase, search_terms(frames, culprit, message))
    matches = [CodeMatchReport(term=m.term, path=m.path, line=m.line, text=m.text) for m in result.matches]
    note = [] if result.complete else [f"the code search stopped at its time bound ({result.seconds:.1f} s)"]
    return matches, result.engine, note


def git_evidence(codebase: Codebase, frame_files: list[tuple[str, int | None]], first_seen, release: str | None = None):
    """Last change of each file, recent commits, and suspects ranked from the evidence behind each."""
    paths = list(dict.fromkeys(path for path, _ in frame_files))
    with ThreadPoolExecutor(max_workers=2) as pool:  # each git call is its own process: run them side by side
        logs_f = pool.submit(lambda: [recent_commits(codebase.root, p, limit=3) for p in paths])
        findings = find_suspects(codebase.root, frame_files, first_seen, files=set(codebase.files), release=release,
                                 window=SUSPECT_WINDOW)
        logs = logs_f.result()
    files, recent = [], {}
    for path, commits in zip(paths, logs):
        files.append(FileReport(path=path, last_change=_commit(commits[0]) if commits else None))
        for c in commits:
            recent.setdefault(c.sha, c)
    suspects = [
        SuspectReport(commit=_commit(s.commit), path=s.path, reason=s.reason, blamed_line=s.blamed_line,
                      before_first_seen=humanize(s.before_first_seen),
                      landed_seconds_before_first_seen=int(s.before_first_seen.total_seconds()),
                      confidence=s.confidence, evidence=[e.kind for e in s.evidence])
        for s in findings.suspects
    ]
    notes = []
    if codebase.shallow:
        notes.append("the codebase is a shallow clone: older history (and older suspects) is not visible")
    if codebase.shallow and findings.boundary:
        notes.append("blame reached the start of the shallow history for some lines")
    if findings.skipped_reformats:
        notes.append("blame looked through layout-only commits: " + ", ".join(
            f"`{c.short}` {c.subject[:60]}" for c in findings.skipped_reformats[:3]))
    newest = sorted(recent.values(), key=lambda c: c.date, reverse=True)
    return files, suspects, [_commit(c) for c in newest], notes, suspect_note(findings.suspects, bool(frame_files))


def find_similar_issues(issue: Issue) -> list[SimilarReport]:
    """Resolved and ignored issues close to this one, with what was done about them."""
    s = load_settings()
    with glitchtip_from_settings(s) as gt:
        refresh_index(gt, s.triage_database_url)
        return [SimilarReport(issue_id=other.id, title=other.title, status=other.status, score=score,
                              link=issue_link(s.glitchtip_url, s.glitchtip_org, other.id), resolution=notes)
                for other, score, notes in similar_from_index(gt, s.triage_database_url, issue)]


def match_runbook(issue: Issue, frames: list[StackFrame], runbooks_dir, base_url: str | None) -> RunbookReport | None:
    matcher, _errors = RunbookMatcher.cached(runbooks_dir)  # malformed files are the sweep's to report
    messages = " | ".join(dict.fromkeys(f"{f.exception_type}: {f.exception_value}" for f in frames if f.exception_type))
    facts = IssueFacts(title=issue.title, culprit=issue.culprit, message=f"{issue.exception_value} {messages}".strip(),
                       exception_type=issue.exception_type)
    result = matcher.match(facts)
    if not result.matched:
        return None
    return RunbookReport(id=result.runbook.id, title=result.runbook.title, link=runbook_link(result.runbook, base_url),
                         pattern=result.hit.pattern, field=result.hit.field)


@task(name="post-investigation-comment", retries=2, retry_delay_seconds=exponential_backoff(1),
      retry_condition_fn=transient_only, cache_policy=NO_CACHE)
def post_investigation_comment(gt: GlitchTip, inv: Investigation, markdown: str, *, dry_run: bool, force: bool,
                               database_url: str):
    return post_comment_once(gt, inv.issue_id, markdown, comment_marker("investigation", inv.issue_id),
                             dry_run=dry_run, database_url=database_url, force=force)


def record_investigation(database_url: str, inv: Investigation, *, cached: bool, comment_id: str | None,
                         comment_status: str, dry_run: bool) -> int:
    try:
        flow_run_id = str(get_run_context().flow_run.id)
    except Exception:  # noqa: BLE001 - outside a run, there is none
        flow_run_id = None
    with session_scope(database_url) as session:
        row = InvestigationLog(issue_id=inv.issue_id, title=scrub(inv.title)[:500], event_id=inv.event_id,
                               result=scrub_data(inv.model_dump(mode="json")), duration_ms=int(inv.seconds * 1000), cached=cached,
                               comment_id=comment_id, comment_status=comment_status, dry_run=dry_run,
                               flow_run_id=flow_run_id)
        session.add(row)
        session.flush()
        return row.id


def frame_reports(frames: list[StackFrame], codebase: Codebase | None) -> list[FrameReport]:
    reports = []
    for f in frames:
        repo_path = codebase.locate(f) if codebase else None
        location = f"{repo_path}:{f.line} in {f.function}" if repo_path and f.line else f.location
        reports.append(FrameReport(location=location, repo_path=repo_path, function=f.function, line=f.line,
                                   context_line=f.context_line, exception_type=f.exception_type))
    return reports


@task(name="gather-evidence", cache_key_fn=_keyed("evidence"), cache_expiration=CACHE_FOR, retries=2,
      retry_delay_seconds=exponential_backoff(1), retry_condition_fn=transient_only)
def gather_evidence(key: str, issue: Issue, frames: list[StackFrame], codebase_path: str | None,
                    inv: Investigation, release: str | None = None) -> Investigation:
    """Frames mapped to files, code search, git history and similar issues (side by side), cached as one
    result per issue, latest event and codebase commit.

    One task rather than three: each task run costs 30-100 ms against the Prefect API, more than the
    work itself on a 5,000-file repository (bench/investigate.py).
    """
    inv = inv.model_copy(deep=True)
    pool = ThreadPoolExecutor(max_workers=3)
    futures = {"similar": pool.submit(find_similar_issues, issue)}
    codebase = None
    if codebase_path is not None:
        try:
            codebase = open_codebase(codebase_path)
        except CodebaseError as exc:  # changed since the flow looked: say so, keep the rest
            inv.limitations.append(f"codebase not searched: {exc}")
    inv.frames = frame_reports(frames, codebase)
    if codebase is not None:
        frame_files = [(f.repo_path, f.line) for f in inv.frames if f.repo_path]
        unmapped = [f.location for f in inv.frames if not f.repo_path]
        if unmapped:
            inv.limitations.append(f"{len(unmapped)} frame(s) not found in the codebase: {', '.join(unmapped[:3])}")
        futures["search"] = pool.submit(search_codebase, codebase, frames, issue.culprit, issue.exception_value)
        if frame_files and codebase.head:
            futures["git"] = pool.submit(git_evidence, codebase, frame_files, issue.first_seen, release)
    pool.shutdown(wait=True)
    if "search" in futures:
        inv.code_matches, inv.search_engine, notes = futures["search"].result()
        inv.limitations += notes
    if "git" in futures:
        inv.files, inv.suspects, inv.recent_commits, notes, inv.suspect_note = futures["git"].result()
        inv.limitations += notes
    inv.similar = futures["similar"].result()
    return inv


@flow(name="investigate-issue", log_prints=True, **WATCHED)
def investigate_issue(issue_id: str | int, post_comment: bool = True, dry_run: bool | None = None,
                      force: bool = False) -> dict:
    """Investigate one GlitchTip issue and (by default) post the findings on it once.

    `issue_id` takes what a person types in the UI or CLI: `3` or `"3"`."""
    started = time.perf_counter()
    s = load_settings()
    dry = s.triage_dry_run if dry_run is None else dry_run
    logger = get_run_logger()
    with glitchtip_from_settings(s, dry_run=dry) as gt, acting_as("flow:investigate-issue"):
        issue, event, limitations = fetch_issue_with_event(gt, str(issue_id))
        frames = in_app_frames(frames_from_event(event)) if event else []
        try:
            head = codebase_head(s.codebase_path)  # only the commit here: the file list is read on a cache miss
        except CodebaseError as exc:
            head, limitations = None, limitations + [f"codebase not searched: {exc}"]
        event_id = event.get("eventID") if event else None
        draft = Investigation(
            issue_id=issue.id, short_id=issue.short_id, title=issue.title, level=issue.level, status=issue.status,
            project=issue.project.slug, events=issue.event_count, first_seen=issue.first_seen,
            last_seen=issue.last_seen, culprit=issue.culprit, event_id=event_id,
            link=issue_link(s.glitchtip_url, s.glitchtip_org, issue.id),
            stack_excerpt=stack_excerpt(frames), limitations=list(limitations))
        key = f"{issue.id}:{event_id or 'none'}:{head or 'none'}"
        codebase_path = str(s.codebase_path) if head else None
        state = gather_evidence.with_options(refresh_cache=force)(key, issue, frames, codebase_path, draft,
                                                                  event_release(event), return_state=True)
        cached = state.name == "Cached"
        inv = state.result()
        inv.runbook = match_runbook(issue, frames, s.runbooks_dir, s.runbooks_base_url)
        inv.seconds = time.perf_counter() - started
        markdown = render(inv)
        comment_id, comment_status = None, "not requested"
        if post_comment:
            outcome = post_investigation_comment(gt, inv, markdown, dry_run=dry, force=force,
                                                 database_url=s.triage_database_url)
            comment_id, comment_status = outcome.comment_id, outcome.reason
    record_investigation(s.triage_database_url, inv, cached=cached, comment_id=comment_id,
                         comment_status=comment_status, dry_run=dry)
    publish_markdown(f"investigation-{issue.id}", scrub(markdown), f"investigation of issue {issue.id}")
    note_summary(f"{len(inv.files)} files, {len(inv.suspects)} suspects, {'cached' if cached else 'fresh'}, "
                 f"comment {comment_status}")
    logger.info("issue %s investigated in %.2f s (%s); comment: %s", issue.id, inv.seconds,
                "cached" if cached else "fresh", comment_status)
    return {"investigation": scrub_data(inv.model_dump(mode="json")), "markdown": scrub(markdown), "comment_id": comment_id,
            "comment_status": comment_status, "cached": cached, "dry_run": dry}
