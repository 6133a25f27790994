"""telemetry_triage against the sandbox GitHub: a group over the threshold becomes one issue with its facts
and the runbook's remediation; a re-run files nothing; an issue filed just before a crash is found, not doubled."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlmodel import select

from models.db import session_scope
from models.telemetry import TelemetryGroup
from tasks.telemetry_event import BrowserError, record_from_browser
from tasks.telemetry_store import Pending, store_now
from tasks.telemetry_triage import marker
from triageflow.clients.github import GitHub
from triageflow.sandbox.github_api import GITHUB_REPO, GITHUB_TOKEN, github_env
from triageflow.settings import reset_settings


@pytest.fixture
def triage_telemetry_env(triage_env, sandbox, monkeypatch):
    for k, v in {**github_env(sandbox), "TELEMETRY_TRIAGE_THRESHOLD": "3", "GITHUB_SECONDS_BETWEEN_WRITES": "0"}.items():
        monkeypatch.setenv(k, v)
    reset_settings()
    yield triage_env["TRIAGE_DATABASE_URL"]
    reset_settings()


def seed_group(url, message, n, type_="ConnectionTimeout"):
    now = datetime.now(timezone.utc)
    records = [record_from_browser(BrowserError(eventId=uuid.uuid4().hex, message=message, type=type_,
                                                stack="Error\n    at query (https://app.example/db.js:4:2)",
                                                url="https://app.example/orders", release="shop@3.1.0"),
                                   received_at=now - timedelta(minutes=n - i), correlation_id=f"corr-{i}")
               for i in range(n)]
    store_now(url, [Pending(r) for r in records])
    return records[0].fingerprint


def gh_issues(control):
    return httpx.get(f"{control.url}/_sandbox/github/issues").json()


def gh_pulls(control):
    return httpx.get(f"{control.url}/_sandbox/github/pulls").json()


def group(url, fp):
    with session_scope(url) as s:
        return s.exec(select(TelemetryGroup).where(TelemetryGroup.fingerprint == fp)).one()


def test_group_over_threshold_is_filed_once_with_facts_and_remediation(prefect_harness, triage_telemetry_env, control):
    from flows.telemetry_triage import telemetry_triage

    url = triage_telemetry_env
    hot = seed_group(url, "Connection timeout to PostgreSQL at db.internal:5432 (connection pool exhausted)", 4)
    cold = seed_group(url, "disk quota nearly reached", 2, type_="QuotaWarning")
    first = telemetry_triage()
    again = telemetry_triage()
    [issue] = gh_issues(control)
    assert [f["fingerprint"] for f in first] == [hot] and again == []
    assert issue["title"].startswith("[telemetry] ConnectionTimeout: Connection timeout to PostgreSQL")
    body = issue["body"]
    for needle in (hot, "| count | 4 |", "first seen", "last seen", "`corr-3`", "db.js",
                   "Database connection timeout or pool exhausted", "Known issue **Database connection pool exhausted**",
                   "Reset the pool", marker(hot)):
        assert needle in body, needle
    g = group(url, hot)
    assert (g.status, g.issue_number) == ("triaged", issue["number"])
    assert group(url, cold).status == "new"
    assert gh_pulls(control) == [] and "draft_pr" not in first[0]   # TELEMETRY_DRAFT_PR is off by default


def test_an_issue_filed_before_a_crash_is_found_by_its_marker(prefect_harness, triage_telemetry_env, sandbox, control):
    from flows.telemetry_triage import telemetry_triage

    url = triage_telemetry_env
    fp = seed_group(url, "Redis connection refused at cache:6379", 5, type_="ConnectionError")
    with GitHub(GITHUB_TOKEN, GITHUB_REPO, api_url=sandbox.url) as gh:  # the crashed run got this far
        made = gh.create_issue("[telemetry] ConnectionError: Redis connection refused", f"filed\n\n{marker(fp)}",
                               labels=["triage", "telemetry"])
    [outcome] = telemetry_triage()
    assert outcome["action"] == "found" and outcome["number"] == made.number
    assert len(gh_issues(control)) == 1
    assert group(url, fp).issue_number == made.number


def test_dry_run_files_nothing_and_leaves_groups_untriaged(prefect_harness, triage_telemetry_env, control):
    from flows.telemetry_triage import telemetry_triage

    url = triage_telemetry_env
    fp = seed_group(url, "upstream timed out after 30s", 3, type_="UpstreamTimeout")
    [outcome] = telemetry_triage(dry_run=True)
    assert outcome["action"] == "dry-run" and gh_issues(control) == []
    assert group(url, fp).status == "new"


def test_draft_pull_request_of_the_notes_once_per_group_when_enabled(prefect_harness, triage_telemetry_env, control,
                                                                      monkeypatch):
    from flows.telemetry_triage import telemetry_triage

    monkeypatch.setenv("TELEMETRY_DRAFT_PR", "true")
    reset_settings()
    url = triage_telemetry_env
    a = seed_group(url, "Connection timeout to PostgreSQL at db.internal:5432 (connection pool exhausted)", 4)
    b = seed_group(url, "Redis connection refused at cache:6379", 3, type_="ConnectionError")
    first = telemetry_triage()
    assert telemetry_triage() == [] and telemetry_triage(draft_pr=True) == []
    pulls = gh_pulls(control)
    issues = {i["number"]: i for i in gh_issues(control)}
    assert len(pulls) == 2 and len(issues) == 2
    by_head = {p["head"]["ref"]: p for p in pulls}
    for fp in (a, b):
        pull = by_head[f"triage/telemetry-{fp[:12]}"]
        [filed] = [f for f in first if f["fingerprint"] == fp]
        assert pull["draft"] is True and pull["base"]["ref"] == "main" and pull["state"] == "open"
        assert f"Refs #{filed['number']}" in pull["body"] and filed["draft_pr"]["number"] == pull["number"]
        assert pull["number"] not in issues                      # numbered after the issues, in one sequence
        [(path, notes)] = pull["files"].items()
        assert path == f"triage-notes/telemetry-{fp[:12]}.md"
        assert f"Triage of #{filed['number']}." in notes and fp in notes and "### Suggested remediation" in notes
    notes_a = by_head[f"triage/telemetry-{a[:12]}"]["files"]
    assert "| count | 4 |" in next(iter(notes_a.values())) and "Reset the pool" in next(iter(notes_a.values()))


def test_a_draft_pull_request_left_by_a_crashed_run_is_found_not_doubled(prefect_harness, triage_telemetry_env,
                                                                         sandbox, control):
    from flows.telemetry_triage import telemetry_triage

    url = triage_telemetry_env
    done_fp = seed_group(url, "Redis connection refused at cache:6379", 5, type_="ConnectionError")
    half_fp = seed_group(url, "upstream timed out after 30s", 4, type_="UpstreamTimeout")
    with GitHub(GITHUB_TOKEN, GITHUB_REPO, api_url=sandbox.url, seconds_between_writes=0) as gh:
        base, sha = gh.default_branch_head()       # one crashed run got as far as the pull request ...
        gh.create_branch(f"triage/telemetry-{done_fp[:12]}", sha)
        gh.put_file(f"triage/telemetry-{done_fp[:12]}", "notes.md", "partial", "notes")
        made = gh.create_pull("notes", "body", head=f"triage/telemetry-{done_fp[:12]}", base=base)
        gh.create_branch(f"triage/telemetry-{half_fp[:12]}", sha)   # ... another only as far as the branch
    outcomes = {o["fingerprint"]: o["draft_pr"] for o in telemetry_triage(draft_pr=True)}
    assert outcomes[done_fp]["action"] == "found" and outcomes[done_fp]["number"] == made.number
    assert outcomes[half_fp]["action"] == "created"
    pulls = gh_pulls(control)
    assert sorted(p["head"]["ref"] for p in pulls) == sorted(f"triage/telemetry-{fp[:12]}" for fp in (done_fp, half_fp))
    [half] = [p for p in pulls if p["head"]["ref"].endswith(half_fp[:12])]
    assert list(half["files"]) == [f"triage-notes/telemetry-{half_fp[:12]}.md"]


def test_draft_pull_request_dry_run_writes_nothing_and_is_audited(prefect_harness, triage_telemetry_env, control):
    from flows.telemetry_triage import telemetry_triage
    from models.audit import AuditLog

    url = triage_telemetry_env
    fp = seed_group(url, "upstream timed out after 30s", 3, type_="UpstreamTimeout")
    [outcome] = telemetry_triage(dry_run=True, draft_pr=True)
    assert outcome["draft_pr"]["action"] == "dry-run"
    assert gh_pulls(control) == [] and gh_issues(control) == []
    assert not [m for m in control.outbox("github")]
    with session_scope(url) as s:
        rows = s.exec(select(AuditLog).where(AuditLog.action == "pull.create")).all()
    assert [(r.target, r.dry_run, r.outcome) for r in rows] == [(f"draft-pr:telemetry:{fp}", True, "dry-run")]
