"""Alerts end to end against the sandbox: Alertmanager/Grafana bodies → stored → alert_triage → Slack outbox and
sandbox GitHub issues; duplicates, mixed groups, resolution, budget, remediation, bad requests."""

from __future__ import annotations

import copy
import json
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlmodel import select

from models.alerts import AlertEvent, KnownIssue, RemediationAttempt
from models.db import session_scope
from triageflow.sandbox.github_api import github_env
from triageflow.sandbox.server import LoopbackServer
from triageflow.sandbox.slack_interactivity import SLACK_SIGNING_SECRET
from triageflow.service.app import create_service
from triageflow.settings import reset_settings

from ..waiting import wait_for

SECRET = "s3cret-alert-token-0123456"
ALERTING = "alerting"


@pytest.fixture
def alert_env(triage_env, sandbox, monkeypatch):
    values = dict(github_env(sandbox), WEBHOOK_SECRET=SECRET, LOKI_URL=sandbox.url, GITHUB_SECONDS_BETWEEN_WRITES="0",
                  SLACK_CHANNEL_CRITICAL="C0CRIT", SLACK_CHANNEL_HIGH="C0HIGH", SLACK_CHANNEL_MEDIUM="C0MED",
                  SLACK_CHANNEL_RESOLVED="C0RESOLVED", SLACK_SIGNING_SECRET=SLACK_SIGNING_SECRET,
                  ALERT_HEALTH_URLS=f"backend-api={sandbox.url}/_sandbox/health/backend-api")
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    reset_settings()
    yield dict(triage_env, **values)
    reset_settings()


@pytest.fixture
def service(alert_env):
    with LoopbackServer(create_service()) as server:
        yield server


def body_of(peers, name):
    data = json.loads((peers / ALERTING / name).read_text())
    return copy.deepcopy(data.get("body") or data.get("body_json") or data)


def fresh(body, minutes_ago=1):
    """The recorded alerts, started a minute ago (so the sandbox's seeded logs fall in their window)."""
    start = (datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z")
    for alert in body["alerts"]:
        alert["startsAt"] = start
    return body


def events(url):
    with session_scope(url) as s:
        return list(s.exec(select(AlertEvent).order_by(AlertEvent.id)))



def post(service, path, body, token=SECRET):
    return httpx.post(f"{service.url}{path}", params={"token": token}, json=body, timeout=30)


def gh_issues(control):
    return httpx.get(f"{control.url}/_sandbox/github/issues").json()


def all_done(url, n):
    rows = events(url)
    return len(rows) == n and all(r.triage_state in ("done", "skipped") for r in rows)


def test_a_group_is_triaged_per_alert_once_and_resolution_is_told(prefect_harness, alert_env, service, control,
                                                                  peers):
    url = alert_env["TRIAGE_DATABASE_URL"]
    body = fresh(body_of(peers, "alertmanager-firing-two-alerts.json"))
    response = post(service, "/alerts/alertmanager", body)
    assert response.status_code == 202
    assert [a["change"] for a in response.json()["alerts"]] == ["new", "new"]
    wait_for(lambda: all_done(url, 2))

    slack = [m for m in control.outbox("slack") if m["method"] == "chat.postMessage" and not m["thread_ts"]]
    # api-1: 12 % errors → critical; api-2: 9 % → high, and its logs match the known pool-exhaustion issue
    assert [m["channel"] for m in slack] == ["C0CRIT", "C0HIGH"]
    assert "HighErrorRate" in slack[0]["text"] and slack[0]["blocks"][0]["type"] == "header"
    issues = gh_issues(control)
    assert len(issues) == 2
    first = issues[0]
    labels = {lbl["name"] for lbl in first["labels"]}
    assert {"triage", "severity:critical", "component:backend-api"} <= labels
    for section in ("## Summary", "## Impact", "## Log query and sample lines", "## Known-issue match",
                    "<details><summary>Raw payload</summary>", "triageflow:alert:"):
        assert section in first["body"]
    assert "upstream timeout" in first["body"]  # the sandbox Loki's seeded lines were read
    assert "Database connection pool exhausted" in issues[1]["body"]
    assert "known:db-pool-exhausted" in {lbl["name"] for lbl in issues[1]["labels"]}

    again = post(service, "/alerts/alertmanager", body)  # the whole group re-sent, as Alertmanager does
    assert [a["change"] for a in again.json()["alerts"]] == ["unchanged", "unchanged"]
    time.sleep(1)
    assert len(gh_issues(control)) == 2 and [e.deliveries for e in events(url)] == [2, 2]

    resolved = copy.deepcopy(body)
    resolved["status"] = resolved["alerts"][0]["status"] = "resolved"
    resolved["alerts"][0]["endsAt"] = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    resolved["alerts"] = resolved["alerts"][:1]
    assert post(service, "/alerts/alertmanager", resolved).json()["alerts"][0]["change"] == "resolved"
    wait_for(lambda: events(url)[0].resolution_told)
    thread = wait_for(lambda: [m for m in control.outbox("slack") if m["thread_ts"] and "Resolved" in m["text"]])
    assert thread[0]["thread_ts"] == events(url)[0].slack_ts
    assert any(m["channel"] == "C0RESOLVED" for m in control.outbox("slack"))
    wait_for(lambda: any("Resolved at" in c for c in gh_issues(control)[0]["comment_bodies"]))

    history = httpx.get(f"{service.url}/alerts/history", params={"token": SECRET}).json()
    assert len(history) == 2 and history[1]["issue"].endswith("/issues/1") and history[1]["real"] is True


def test_mixed_group_is_split_and_grafana_values_are_read(prefect_harness, alert_env, service, control, peers,
                                                         monkeypatch):
    monkeypatch.setenv("TRIAGE_DRY_RUN", "true")  # this test reads decisions, sends nothing
    reset_settings()
    url = alert_env["TRIAGE_DATABASE_URL"]
    mixed = post(service, "/alerts/alertmanager", body_of(peers, "alertmanager-mixed-group.json")).json()
    assert [a["change"] for a in mixed["alerts"]] == ["late-resolved", "new", "new"]
    grafana = post(service, "/alerts/grafana", fresh(body_of(peers, "grafana-webhook.json"))).json()
    assert grafana["alerts"][0]["change"] == "new"
    wait_for(lambda: all_done(url, 4))
    rows = events(url)
    assert rows[0].status == "resolved" and rows[0].triage_state == "skipped"
    # Grafana's values {"A": 0.124}: 12 % errors, critical (its logs also match the known pool exhaustion)
    assert "error rate 12% (threshold 5%)" in rows[3].decision["rules"] and rows[3].decision["severity"] == "critical"
    assert control.outbox("slack") == [] and gh_issues(control) == []


def test_fifteen_alerts_in_an_hour_make_ten_issues_and_a_digest(prefect_harness, alert_env, service, control, peers):
    url = alert_env["TRIAGE_DATABASE_URL"]
    body = fresh(body_of(peers, "alertmanager-from-prometheus-rule.json"))
    template = body["alerts"][0]
    body["alerts"] = [dict(copy.deepcopy(template), fingerprint=f"f{n:015d}",
                           labels=dict(template["labels"], instance=f"node-{n}")) for n in range(15)]
    assert post(service, "/alerts/alertmanager", body).status_code == 202
    wait_for(lambda: all_done(url, 15), 240)
    issues = gh_issues(control)
    digests = [i for i in issues if i["title"].startswith("[digest]")]
    assert len(issues) == 11 and len(digests) == 1
    assert len(digests[0]["comment_bodies"]) == 4  # the 12th..15th alerts; the 11th opened the digest


def test_known_issue_remediation_that_clears_the_health_check_files_no_issue(prefect_harness, alert_env, service,
                                                                             control, peers, monkeypatch, tmp_path):
    health = f"{control.url}/_sandbox/health/backend-api"
    httpx.post(health, json={"status": 503}).raise_for_status()
    # the registered restart: a configured command that brings the (sandbox) service back
    script = tmp_path / "restart.py"
    script.write_text(f"import httpx\nhttpx.post({health!r}, json={{'status': 200}}).raise_for_status()\n"
                      "print('restarted backend-api')\n")
    import sys

    monkeypatch.setenv("REMEDIATION_ENABLED", "true")
    monkeypatch.setenv("REMEDIATION_DRY_RUN", "false")
    monkeypatch.setenv("REMEDIATION_DEADLINE_SECONDS", "20")
    monkeypatch.setenv("REMEDIATION_POLL_SECONDS", "0.2")
    monkeypatch.setenv("REMEDIATION_COMMANDS", json.dumps({"backend-api": [sys.executable, str(script)]}))
    reset_settings()
    url = alert_env["TRIAGE_DATABASE_URL"]
    body = fresh(body_of(peers, "alertmanager-firing-two-alerts.json"))
    body["alerts"] = body["alerts"][:1]
    body["alerts"][0]["labels"]["alertname"] = "ServiceDown"
    assert post(service, "/alerts/alertmanager", body).status_code == 202
    wait_for(lambda: all_done(url, 1), 180)
    event = events(url)[0]
    assert event.remediation == "restart_service: cleared" and event.issue_number is None
    with session_scope(url) as s:
        attempts = list(s.exec(select(RemediationAttempt)))
    assert [(a.action, a.outcome, a.check) for a in attempts] == [
        ("restart_service", "cleared", "its health checks pass")]
    assert "restarted backend-api" in attempts[0].output
    with session_scope(url) as s:
        known = s.exec(select(KnownIssue).where(KnownIssue.name == "service-down")).one()
    assert (known.occurrences, known.fix_attempts, known.fix_success_rate) == (1, 1, 1.0)
    replies = [m["text"] for m in control.outbox("slack") if m["thread_ts"]]
    assert any("worked" in r for r in replies) and any("Resolved" in r for r in replies)
    assert gh_issues(control) == []

    # the same fingerprint firing again (a new startsAt) inside the window: never a second attempt
    httpx.post(health, json={"status": 503}).raise_for_status()
    assert post(service, "/alerts/alertmanager", fresh(body, minutes_ago=0)).status_code == 202
    wait_for(lambda: all_done(url, 2), 180)
    with session_scope(url) as s:
        assert len(list(s.exec(select(RemediationAttempt)))) == 1
    issues = gh_issues(control)
    assert len(issues) == 1 and "already attempted" in issues[0]["body"]


@pytest.mark.parametrize("path,kw,status,detail", [
    ("/alerts/alertmanager", {"params": {}, "json": {}}, 401, "secret"),
    ("/alerts/alertmanager", {"params": {"token": SECRET}, "content": b"{nope"}, 400, "not JSON"),
    ("/alerts/alertmanager", {"params": {"token": SECRET}, "json": {"version": "3", "alerts": []}}, 422, "version"),
    ("/alerts/alertmanager", {"params": {"token": SECRET}, "json": {"version": "4", "alerts": [
        {"status": "firing", "labels": {"alertname": "X"}}]}}, 422, "alerts[0].startsAt"),
    ("/alerts/grafana", {"params": {"token": SECRET}, "json": {"alerts": [{"status": "pending"}]}}, 422,
     "alerts[0].status"),
    ("/alerts/grafana", {"headers": {"Authorization": f"Bearer {SECRET}"}, "json": {"alerts": "x"}}, 422, "alerts"),
])
def test_bad_requests_name_the_field_and_store_nothing(alert_env, service, path, kw, status, detail):
    response = httpx.post(f"{service.url}{path}", **kw)
    assert response.status_code == status, response.text
    assert detail in response.text
    assert events(alert_env["TRIAGE_DATABASE_URL"]) == []


def test_resolved_alert_issue_is_closed_by_autoclose_once(prefect_harness, alert_env, service, control, peers):
    from flows.alert_triage import alert_autoclose

    url = alert_env["TRIAGE_DATABASE_URL"]
    body = fresh(body_of(peers, "alertmanager-firing-two-alerts.json"))
    body["alerts"] = body["alerts"][:1]
    post(service, "/alerts/alertmanager", body)
    wait_for(lambda: all_done(url, 1))
    assert alert_autoclose(hours=0) == []  # still firing: nothing to close
    body["alerts"][0]["status"] = "resolved"
    body["alerts"][0]["endsAt"] = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    post(service, "/alerts/alertmanager", body)
    wait_for(lambda: events(url)[0].resolution_told)
    assert alert_autoclose() == []  # resolved less than ALERT_AUTOCLOSE_HOURS ago
    assert alert_autoclose(hours=0) == [1]
    assert gh_issues(control)[0]["state"] == "closed" and events(url)[0].issue_closed_at is not None
    assert alert_autoclose(hours=0) == []


def _pool_alert(peers):
    body = fresh(body_of(peers, "alertmanager-firing-two-alerts.json"))
    body["alerts"] = body["alerts"][:1]
    body["alerts"][0]["labels"]["alertname"] = "DBPoolExhausted"
    body["alerts"][0]["annotations"] = {"summary": "QueuePool limit reached on backend-api"}
    return body


def _approve_env(monkeypatch, timeout):
    import sys

    monkeypatch.setenv("REMEDIATION_ENABLED", "true")
    monkeypatch.setenv("REMEDIATION_DRY_RUN", "false")
    monkeypatch.setenv("REMEDIATION_DEADLINE_SECONDS", "1")
    monkeypatch.setenv("REMEDIATION_APPROVE_TIMEOUT", str(timeout))
    monkeypatch.setenv("REMEDIATION_COMMANDS", json.dumps(
        {"reset_db_pool:backend-api": [sys.executable, "-c", "print('pool reset')"]}))
    reset_settings()


def test_approve_mode_without_an_answer_is_declined(prefect_harness, alert_env, service, control, peers, monkeypatch):
    _approve_env(monkeypatch, 3)
    url = alert_env["TRIAGE_DATABASE_URL"]
    post(service, "/alerts/alertmanager", _pool_alert(peers))
    wait_for(lambda: all_done(url, 1), 180)
    with session_scope(url) as s:
        [attempt] = list(s.exec(select(RemediationAttempt)))
    assert (attempt.action, attempt.mode, attempt.outcome) == ("reset_db_pool", "approve", "declined")
    assert "pool reset" not in attempt.output
    assert "**declined**" in gh_issues(control)[0]["body"]


def test_approve_mode_runs_the_action_once_a_person_approves(prefect_harness, alert_env, service, control, peers,
                                                            monkeypatch):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateName
    from prefect.flow_runs import resume_flow_run

    _approve_env(monkeypatch, 120)
    url = alert_env["TRIAGE_DATABASE_URL"]
    post(service, "/alerts/alertmanager", _pool_alert(peers))

    def paused():
        with get_client(sync_client=True) as client:
            return client.read_flow_runs(flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(name=FlowRunFilterStateName(any_=["Paused"]))))

    [run] = wait_for(paused, 120)
    resume_flow_run(run.id, run_input={"approve": True, "note": "go"})
    wait_for(lambda: all_done(url, 1), 180)
    with session_scope(url) as s:
        [attempt] = list(s.exec(select(RemediationAttempt)))
    assert attempt.outcome == "not-cleared" and "pool reset" in attempt.output  # ran; the alert did not resolve in 1 s


def test_slack_buttons_are_signed_and_a_false_positive_teaches_the_next_triage(prefect_harness, alert_env, service,
                                                                              control, peers, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "")  # this test is about Slack
    reset_settings()
    url = alert_env["TRIAGE_DATABASE_URL"]
    body = fresh(body_of(peers, "alertmanager-from-prometheus-rule.json"), minutes_ago=30)
    post(service, "/alerts/alertmanager", body)
    [event] = wait_for(lambda: all_done(url, 1) and events(url))
    assert event.decision["real"] is True
    message = [m for m in control.outbox("slack") if not m["thread_ts"]][0]
    buttons = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [b.get("action_id") for b in buttons][-3:] == ["ack", "escalate", "false_positive"]

    def press(action, **kw):
        return httpx.post(f"{control.url}/_sandbox/slack/interact", timeout=30, json={
            "url": f"{service.url}/alerts/slack/actions", "action_id": action, "value": str(event.id),
            "message_ts": event.slack_ts, "user": "ops", **kw}).json()

    assert press("ack", age_seconds=600)["status"] == 401  # older than five minutes
    assert press("ack", secret="not-the-signing-secret")["status"] == 401
    assert press("ack")["status"] == 200 and press("false_positive")["status"] == 200
    replies = wait_for(lambda: [m["text"] for m in control.outbox("slack") if m["thread_ts"] == event.slack_ts
                                and "ops" in m["text"]] if len(control.outbox("slack")) >= 3 else None)
    assert any("Acknowledged by @ops" in r for r in replies) and any("false positive" in r for r in replies)
    assert events(url)[0].acknowledged_by == "ops" and events(url)[0].false_positive

    post(service, "/alerts/alertmanager", fresh(body, minutes_ago=1))  # the same alert fires again
    wait_for(lambda: all_done(url, 2))
    again = events(url)[1]
    assert again.decision["real"] is False and "false positive" in again.decision["reason"]
