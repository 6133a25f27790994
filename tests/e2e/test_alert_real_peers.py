"""Real peers: Debian's Prometheus scrapes a sample service, its rules fire through a real Alertmanager into
`triage serve` (uvicorn on loopback, behind a proxy that fails the first delivery so Alertmanager retries),
and what the team sees lands in the sandbox's Slack and GitHub.

(a) a known issue whose registered restart really clears the metric → resolved → Slack says so, no issue;
(b) an action that does not clear it → one issue carrying the attempt;
(c) an unknown alert → an issue with the right labels;
(d) re-sent and retried deliveries change nothing; firing again after resolving → a comment, not a second issue.
"""

from __future__ import annotations

import json
import os
import threading

import httpx
import pytest
from sqlmodel import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from models.alerts import AlertEvent, RemediationAttempt
from models.db import session_scope
from triageflow.sandbox.monitoring_peers import MonitoringPeers, missing_binaries
from triageflow.sandbox.server import LoopbackServer
from triageflow.service.app import create_service
from triageflow.settings import reset_settings

from .test_alert_triage import SECRET, alert_env, gh_issues, wait_for  # noqa: F401 - fixtures shared

pytestmark = pytest.mark.skipif(bool(missing_binaries()) and os.environ.get("TRIAGE_REQUIRE_PEERS") != "1",
                                reason=f"needs Debian packages {missing_binaries()}")


class FailFirst:
    """Answers the first delivery with 500 (Alertmanager then retries), forwards everything to the service."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.seen = 0
        self.lock = threading.Lock()
        self.app = Starlette(routes=[Route("/{path:path}", self.forward, methods=["GET", "POST"])])

    async def forward(self, request: Request) -> Response:
        if request.url.path == "/health":
            return Response("ok")
        with self.lock:
            self.seen += 1
            first = self.seen == 1
        if first:
            return Response("injected failure", status_code=500)
        async with httpx.AsyncClient(timeout=30) as client:
            answer = await client.request(request.method, f"{self.target}{request.url.path}",
                                          params=request.query_params, content=await request.body(),
                                          headers={"content-type": request.headers.get("content-type", "")})
        return Response(answer.content, status_code=answer.status_code, media_type="application/json")


@pytest.fixture
def peers(prefect_harness, alert_env, monkeypatch, tmp_path):
    with LoopbackServer(create_service()) as service:
        proxy = FailFirst(service.url)
        with LoopbackServer(proxy.app) as front:
            hook = f"{front.url}/alerts/alertmanager?token={SECRET}"
            with MonitoringPeers(tmp_path / "monitoring", hook) as running:
                monkeypatch.setenv("ALERTMANAGER_URL", running.alertmanager_url)
                monkeypatch.setenv("REMEDIATION_ENABLED", "true")
                monkeypatch.setenv("REMEDIATION_DRY_RUN", "false")
                monkeypatch.setenv("REMEDIATION_POLL_SECONDS", "0.5")
                monkeypatch.setenv("REMEDIATION_COMMANDS", json.dumps(
                    {"sample-app": running.restart_command(), "sample-worker": ["true"]}))
                reset_settings()
                running.proxy = proxy
                yield running


def events(url, name=None):
    with session_scope(url) as s:
        rows = list(s.exec(select(AlertEvent).order_by(AlertEvent.id)))
    return [r for r in rows if name is None or r.name == name]


def attempts(url):
    with session_scope(url) as s:
        return list(s.exec(select(RemediationAttempt)))


def triaged(url, name, n=1):
    rows = events(url, name)
    return rows if len(rows) >= n and all(r.triage_state == "done" for r in rows[:n]) else None


def test_a_restart_that_clears_the_metric_resolves_without_an_issue(peers, alert_env, control, monkeypatch):
    monkeypatch.setenv("REMEDIATION_DEADLINE_SECONDS", "60")
    reset_settings()
    url = alert_env["TRIAGE_DATABASE_URL"]
    before = httpx.get(f"{peers.sample_url}/metrics").text
    peers.poke("break")
    # The restart counts as cleared once Prometheus's rule stops returning the series, which may come before
    # Alertmanager's resolved notification: wait for both, not for whichever lands first.
    [event] = wait_for(lambda: (rows := triaged(url, "SampleServiceDown")) and rows[0].status == "resolved" and rows, 150)
    assert event.remediation == "restart_service: cleared" and event.issue_number is None
    assert event.deliveries >= 2  # the retried first delivery, then resolved
    [attempt] = attempts(url)
    assert attempt.outcome == "cleared" and "sample service restarted" in attempt.output
    assert httpx.get(f"{peers.sample_url}/metrics").text.split("sample_pid")[1] != before.split("sample_pid")[1]
    replies = wait_for(lambda: (r := [m["text"] for m in control.outbox("slack") if m["thread_ts"] == event.slack_ts])
                       and any("Resolved" in x for x in r) and r, 30)
    assert any("worked: the signal cleared" in r for r in replies)
    assert [m["channel"] for m in control.outbox("slack") if not m["thread_ts"]][0] == "C0CRIT"
    assert gh_issues(control) == [] and peers.proxy.seen >= 2


def test_b_an_action_that_does_not_clear_files_one_issue_with_the_attempt(peers, alert_env, control, monkeypatch):
    monkeypatch.setenv("REMEDIATION_DEADLINE_SECONDS", "6")
    reset_settings()
    url = alert_env["TRIAGE_DATABASE_URL"]
    peers.poke("stick")
    [event] = wait_for(lambda: triaged(url, "WorkerInstanceDown"), 150)
    assert event.remediation == "restart_service: not-cleared"
    [attempt] = attempts(url)
    assert attempt.outcome == "not-cleared" and "$ true → exit 0" in attempt.output
    [issue] = gh_issues(control)
    assert "**not-cleared**" in issue["body"] and f"attempt #{attempt.id}" in issue["body"]
    assert {"severity:critical", "known:service-down"} <= {lbl["name"] for lbl in issue["labels"]}
    peers.poke("unstick")


def test_c_d_unknown_alert_files_one_issue_then_comments_when_it_fires_again(peers, alert_env, control):
    url = alert_env["TRIAGE_DATABASE_URL"]
    peers.poke("slow")
    [event] = wait_for(lambda: triaged(url, "SampleLatencyHigh"), 150)
    [issue] = wait_for(lambda: gh_issues(control))
    labels = {lbl["name"] for lbl in issue["labels"]}
    assert {"triage", "severity:high", "type:performance", "component:sample-api"} <= labels
    assert not any(lbl.startswith("known:") for lbl in labels) and attempts(url) == []
    assert "latency 3000 ms (baseline 50 ms)" in issue["body"]
    # Alertmanager re-sends the group every 2 s (repeat_interval); none of it changes anything
    wait_for(lambda: events(url, "SampleLatencyHigh")[0].deliveries >= 3, 60)
    peers.poke("fast")
    wait_for(lambda: events(url, "SampleLatencyHigh")[0].resolution_told, 90)
    wait_for(lambda: any("Resolved at" in c for c in gh_issues(control)[0]["comment_bodies"]))
    peers.poke("slow")  # fires again: a new startsAt, the same fingerprint
    wait_for(lambda: triaged(url, "SampleLatencyHigh", 2), 150)
    issues = gh_issues(control)
    assert len(issues) == 1 and any(c.startswith("Fired again") for c in issues[0]["comment_bodies"])
    rows = events(url, "SampleLatencyHigh")
    assert rows[0].fingerprint == rows[1].fingerprint and rows[1].issue_number == issues[0]["number"]
    peers.poke("fast")


def test_e_the_alerts_own_metric_query_and_alertmanager_tell_when_it_cleared(peers, alert_env):
    """The signal a remediation waits for, read from the live peers: the rule expression behind the alert (from
    Prometheus's generatorURL) stops returning its series, and Alertmanager stops holding it as firing."""
    from flows.alert_triage import gone_from_alertmanager, metric_cleared
    from tasks.alert_store import load_event
    from triageflow.settings import load_settings

    url = alert_env["TRIAGE_DATABASE_URL"]
    peers.poke("slow")
    [event] = wait_for(lambda: events(url, "SampleLatencyHigh") or None, 150)
    assert "g0.expr=" in event.payload["alert"]["generatorURL"]
    s = load_settings()
    assert not metric_cleared(s, event) and not gone_from_alertmanager(s, event)
    peers.poke("fast")
    wait_for(lambda: metric_cleared(s, load_event(url, event.id)), 60)
    wait_for(lambda: gone_from_alertmanager(s, load_event(url, event.id)), 60)
