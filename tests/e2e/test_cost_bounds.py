"""What the flows cost against a scaled sandbox, read from its request log: bounded by the day's news."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from flows.daily_metrics import daily_metrics
from flows.investigate import investigate_issue
from flows.runbook_sweep import runbook_sweep
from models.db import upgrade
from triageflow.sandbox.scale import Scale
from triageflow.settings import reset_settings

from ..integration import scaled_sandbox as scaled

SCALE = Scale(issues=600, events_per_day=30_000, active=150, new=15, resolved=300, ignored=15)
MIDNIGHT = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    from triageflow.sandbox import SandboxServer
    from triageflow.sandbox.scale import scaled_sandbox

    server = SandboxServer(scaled_sandbox(SCALE, now=MIDNIGHT), codebase_dir=tmp_path_factory.mktemp("cb") / "booking",
                           keep_alive=1.0).start()
    yield server
    server.stop()


@pytest.fixture
def env(big, monkeypatch, tmp_path):
    from triageflow.cli import sandbox_env

    db = f"sqlite:///{tmp_path / 'cost.db'}"
    upgrade(db)
    values = dict(sandbox_env(big), TRIAGE_DATABASE_URL=db, TRIAGE_ENV="development", GLITCHTIP_RETRIES="1",
                  GLITCHTIP_RATE_LIMIT="0", GLITCHTIP_MAX_IN_FLIGHT="4", TRIAGE_BACKUP_DIR=str(tmp_path / "backups"))
    for key in ("TRIAGE_DRY_RUN", "GLITCHTIP_PROJECT", "PREFECT_API_URL"):
        monkeypatch.delenv(key, raising=False)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    reset_settings()
    scaled.show_today(big)
    yield values
    scaled.show_today(big)
    reset_settings()


def truth(big, start: datetime, end: datetime) -> Counter:
    """Events per component in [start, end), from the sandbox's own state."""
    counts: Counter = Counter()
    for r in big.sandbox.glitchtip.issues.values():
        counts[r.spec.component] += sum(1 for e in r.events if start <= e.at < end) if isinstance(r.events, list) \
            else r.events.count_between(start, end)
    return +counts


def test_the_days_report_costs_its_news_and_counts_exactly(prefect_harness, env, big):
    day = MIDNIGHT.date() - timedelta(days=1)
    scaled.show_yesterday(big)
    first = daily_metrics(day=day - timedelta(days=1), send=False)  # the first pass learns the server once
    assert first["total_events"] > 0
    scaled.show_today(big)
    scaled.clear_calls(big)
    result = daily_metrics(day=day, send=False)
    calls = scaled.calls(big)
    new_issues = len(result["new_issues"])
    assert new_issues >= SCALE.new
    sources = result["sources"]
    # one page per 100 changed issues, one tag summary per new issue, events only for issues back after
    # a quiet spell longer than the first pass looked back (nothing stored to take a delta from)
    assert sources["estimate"] == 0 and sources["events"] <= 15 and sources["delta"] > 100
    assert len(calls) <= 20 + new_issues, Counter(c["path"] for c in calls).most_common(3)  # 150 active issues
    expected = truth(big, MIDNIGHT - timedelta(days=1), MIDNIGHT)
    assert {c["component"]: c["events"] for c in result["components"]} == dict(expected)
    assert result["total_events"] == sum(expected.values())


def test_over_the_tag_budget_the_report_still_counts_every_event_and_says_what_it_estimated(prefect_harness, env,
                                                                                           big):
    day = MIDNIGHT.date() - timedelta(days=1)
    scaled.show_yesterday(big)
    daily_metrics(day=day - timedelta(days=1), send=False)
    scaled.show_today(big)
    scaled.clear_calls(big)
    result = daily_metrics(day=day, send=False, mix_budget=5)
    calls = scaled.calls(big)
    tags = [c for c in calls if c["path"].endswith("/tags/")]
    assert len(tags) == 5 and result["mix_read"] == 5 and result["mix_estimated"] >= SCALE.new - 5
    assert len(calls) <= 20 + 5, Counter(c["path"] for c in calls).most_common(3)
    expected = truth(big, MIDNIGHT - timedelta(days=1), MIDNIGHT)
    assert result["total_events"] == sum(expected.values())  # every event counted, some under their project
    note = next(n for n in result["notes"] if n.startswith("Component and service estimated"))
    assert f"of {result['mix_estimated']} issues" in note
    components = {c["component"]: c["events"] for c in result["components"]}
    projects = {r.spec.project for r in big.sandbox.glitchtip.issues.values()}
    assert all(n <= expected[c] for c, n in components.items() if c not in projects)


def test_a_second_sweep_with_nothing_new_makes_at_most_3_calls(prefect_harness, env, big):
    first = runbook_sweep(dry_run=False)
    assert first["counts"]["scanned"] > 100 and first["counts"]["linked"] > 0
    scaled.clear_calls(big)
    second = runbook_sweep()
    assert len(scaled.calls(big)) <= 3 and second["counts"]["scanned"] == 0
    full = runbook_sweep(full=True)
    assert full["counts"]["scanned"] == first["counts"]["scanned"] and full["counts"]["linked"] == 0


def test_an_investigation_makes_at_most_15_calls_whatever_the_history(prefect_harness, env, big):
    investigate_issue("9", dry_run=True, force=True)  # the first one builds the similar-issues index, once
    scaled.clear_calls(big)
    result = investigate_issue("4", dry_run=True, force=True)
    calls = scaled.calls(big)
    assert len(calls) <= 15, [c["path"] for c in calls]
    similar = result["investigation"]["similar"]
    assert similar and all(s["status"] in ("resolved", "ignored") for s in similar)
    assert any("ZeroDivisionError" in s["title"] for s in similar) and similar[0]["resolution"]
