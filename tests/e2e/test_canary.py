"""glitchtip_canary through the real sentry-sdk against the sandbox: passes when ingestion works, fails clearly when off."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from sqlmodel import select

from flows.canary import CanaryFailed, glitchtip_canary
from models.db import session_scope
from models.flow_health import CanaryRun
from triageflow.settings import reset_settings


@pytest.fixture
def dsn_env(triage_env, sandbox, monkeypatch):
    host = urlsplit(sandbox.url).netloc
    monkeypatch.setenv("GLITCHTIP_DSN", f"http://{1:032x}@{host}/1")
    reset_settings()
    return triage_env


def _runs(url):
    with session_scope(url) as session:
        return list(session.exec(select(CanaryRun)))


def test_canary_arrives_intact_is_timed_and_resolved(prefect_harness, dsn_env, control, glitchtip):
    result = glitchtip_canary(timeout_seconds=20, poll_seconds=0.2)
    assert result["outcome"] == "ok" and result["latency_s"] > 0
    issue = glitchtip.issue(result["issue_id"])
    assert issue.status == "resolved" and result["canary"] in issue.title
    event = glitchtip.latest_event(issue.id)
    assert {t.key: t.value for t in event.tags}["triageflow.canary"] == result["canary"]
    (run,) = _runs(dsn_env["TRIAGE_DATABASE_URL"])
    assert run.outcome == "ok" and run.latency_s == result["latency_s"] and run.issue_id == issue.id
    posted = control.requests("/api/1/envelope/", "POST")
    assert posted and posted[0]["status"] == 200


def test_canary_fails_clearly_when_ingestion_is_off(prefect_harness, dsn_env, control):
    control.fault("/api/1/envelope/", "error", status=503, times=100)
    state = glitchtip_canary(timeout_seconds=2, poll_seconds=0.5, return_state=True)
    assert state.is_failed()
    with pytest.raises(CanaryFailed, match=r"did not arrive in GlitchTip within 2 s"):
        state.result()
    (run,) = _runs(dsn_env["TRIAGE_DATABASE_URL"])
    assert run.outcome == "late" and run.issue_id is None
    alerts = [m for m in control.outbox("telegram") if "glitchtip-canary" in (m.get("text") or "")]
    assert len(alerts) == 1 and "did not arrive" in alerts[0]["text"]


def test_without_a_dsn_the_scheduled_canary_says_so_and_does_not_fail(prefect_harness, triage_env, control, monkeypatch):
    monkeypatch.delenv("GLITCHTIP_DSN", raising=False)
    reset_settings()
    state = glitchtip_canary(return_state=True)
    assert state.is_completed() and state.result() == {"skipped": "GLITCHTIP_DSN is not set"}
    assert control.outbox() == [] and control.requests("/api/1/envelope/", "POST") == []
    assert _runs(triage_env["TRIAGE_DATABASE_URL"]) == []
