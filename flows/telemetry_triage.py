"""telemetry_triage: groups of app and browser errors over a threshold become GitHub issues, once each."""

from __future__ import annotations

from prefect import flow

from tasks.runbooks import RunbookMatcher
from tasks.telemetry_draft_pr import open_draft_pull
from tasks.telemetry_triage import (file_group_issue, groups_to_triage, known_issue_for, known_issues, record_triaged,
                                    suggested_remediation)
from triageflow.audit import acting_as
from triageflow.clients.github import github_from_settings
from triageflow.settings import settings


@flow(name="telemetry-triage", log_prints=True)
def telemetry_triage(threshold: int | None = None, limit: int = 20, dry_run: bool = False,
                     draft_pr: bool | None = None) -> list[dict]:
    """File one GitHub issue per untriaged group with `threshold` (default TELEMETRY_TRIAGE_THRESHOLD) events
    or more; a re-run, or a run after a crash between filing and recording, files nothing twice. With
    `draft_pr` (default TELEMETRY_DRAFT_PR, off) each new issue also gets one draft pull request of its
    triage notes; it is opened before the group is recorded, so a failed one is tried again next run."""
    s = settings()
    dry_run = dry_run or s.triage_dry_run
    draft_pr = s.telemetry_draft_pr if draft_pr is None else draft_pr
    groups = groups_to_triage(s.triage_database_url, threshold or s.telemetry_triage_threshold, limit)
    if not groups:
        print("no telemetry group needs an issue")
        return []
    matcher, _errors = RunbookMatcher.cached(s.runbooks_dir)
    kb = known_issues(s.triage_database_url)
    labels = ["triage", "telemetry"]
    filed = []
    with github_from_settings(s) as gh, acting_as("flow:telemetry-triage"):
        for group in groups:
            remediation = suggested_remediation(group, matcher, s.runbooks_base_url, known_issue_for(group, kb))
            outcome = file_group_issue(gh, s.triage_database_url, group, remediation, labels, dry_run)
            result = {"fingerprint": group.fingerprint, "action": outcome.action, "number": outcome.number}
            if draft_pr:
                pull = open_draft_pull(gh, s.triage_database_url, group, remediation, outcome.number, dry_run)
                result["draft_pr"] = {"action": pull.action, "number": pull.number, "url": pull.url}
            if outcome.action != "dry-run":
                record_triaged(s.triage_database_url, group.fingerprint, outcome)
            print(f"{group.title} ({group.count} events): issue {_numbered(outcome.action, outcome.number)}"
                  + (f"; draft pull request {_numbered(pull.action, pull.number)}" if draft_pr else ""))
            filed.append(result)
    return filed


def _numbered(action: str, number: int | None) -> str:
    return f"{action} #{number}" if number else action
