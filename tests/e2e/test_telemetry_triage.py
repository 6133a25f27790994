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
