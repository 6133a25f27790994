"""telemetry_triage: groups of app and browser errors over a threshold become GitHub issues, once each."""

from __future__ import annotations

from prefect import flow

from tasks.runbooks import RunbookMatcher
from tasks.telemetry_triage import (file_group_issue, groups_to_triage, known_issue_for, known_issues, record_triaged,
                                    suggested_remediation)
from triageflow.audit import acting_as
from triageflow.clients.github import github_from_settings
from triageflow.settings import settings


@flow(name="telemetry-triage", log_prints=True)
def telemetry_triage(threshold: int | None = None, limit: int = 20, dry_run: bool = False) -> list[dict]:
    """File one GitHub issue per untriaged group with `threshold` (default TELEMETRY_TRIAGE_THRESHOLD) events
    or more; a re-run, or a run after a crash between filing and recording, files nothing twice."""
    s = settings()
    dry_run = dry_run or s.triage_dry_run
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
            if outcome.action != "dry-run":
                record_triaged(s.triage_database_url, group.fingerprint, outcome)
            print(f"{group.title} ({group.count} events): {outcome.action} #{outcome.number}")
            filed.append({"fingerprint": group.fingerprint, "action": outcome.action, "number": outcome.number})
    return filed
