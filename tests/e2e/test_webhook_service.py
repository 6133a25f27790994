"""The web service end to end: a GlitchTip-style webhook from the sandbox → stored → Telegram alert in the
outbox → investigation comment in the sandbox; duplicates, bad requests and retries."""

from __future__ import annotations


import httpx
import pytest
from sqlmodel import select

from models.db import session_scope
from models.webhooks import WebhookDelivery
from triageflow.sandbox.server import LoopbackServer
from triageflow.service.delivery_work import sweep_pending
from triageflow.service.app import create_service
from triageflow.settings import load_settings, reset_settings

from ..waiting import wait_for

SECRET = "s3cret-webhook-token-0123"


@pytest.fixture
def service(triage_env, monkeypatch):
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("WEBHOOK_MAX_BYTES", "4096")
    reset_settings()
    app = create_service()
    with LoopbackServer(app) as server:
        yield server
    app.state.stop_worker()


def deliveries(url):
    with session_scope(url) as s:
        return list(s.exec(select(WebhookDelivery)))



def send(control, service, issue_ids, token=SECRET):
    response = httpx.post(f"{control.url}/_sandbox/webhooks/glitchtip", timeout=60,
                          json={"url": f"{service.url}/webhooks/glitchtip?token={token}", "issue_ids": issue_ids})
    return response.json()


def investigation_comments(glitchtip, issue_id):
    return [c for c in glitchtip.comments(issue_id) if f"triageflow:investigation:{issue_id}" in c.text]


def test_webhook_alerts_once_and_investigates(prefect_harness, triage_env, service, control, glitchtip):
    answer = send(control, service, ["9"])
    assert answer["status"] == 202 and '"issues":["9"]' in answer["body"]
    wait_for(lambda: investigation_comments(glitchtip, 9))
    alerts = [m for m in control.outbox("telegram") if m["method"] == "sendMessage"]
    assert len(alerts) == 1
    text = alerts[0]["text"]
    assert "🟥 <b>ZeroDivisionError: division by zero</b>" in text and "component <b>billing</b>" in text
    assert "app/services/booking_monitor.py:16 in total_price" in text and "Open in GlitchTip" in text
    assert [b["callback_data"] for b in alerts[0]["reply_markup"]["inline_keyboard"][0]] == [
        "investigate:9", "resolve:9", "ignore:9"]
    url = triage_env["TRIAGE_DATABASE_URL"]
    wait_for(lambda: deliveries(url)[0].status == "done")

    again = send(control, service, ["9"])  # the same issue firing again within the window
    assert again["status"] == 202
    wait_for(lambda: len(deliveries(url)) == 2 and deliveries(url)[1].status == "done")
    assert len([m for m in control.outbox("telegram") if m["method"] == "sendMessage"]) == 1
    assert len(investigation_comments(glitchtip, 9)) == 1


def test_issues_counted_but_not_listed_are_fetched(prefect_harness, triage_env, service, control, glitchtip,
                                                   monkeypatch):
    monkeypatch.setenv("TRIAGE_DRY_RUN", "true")  # no investigation comments: this test counts alerts
    reset_settings()
    payload = httpx.post(f"{control.url}/_sandbox/webhooks/glitchtip", timeout=60, json={
        "url": f"{service.url}/webhooks/glitchtip?token=wrong-token-0000000", "issue_ids": ["1", "3", "2", "4"]}).json()
    assert payload["status"] == 401 and len(payload["payload"]["attachments"]) == 3
    response = httpx.post(f"{service.url}/webhooks/glitchtip", headers={"X-Triage-Token": SECRET},
                          json=payload["payload"])
    assert response.status_code == 202 and response.json()["total"] == 4
    url = triage_env["TRIAGE_DATABASE_URL"]
    wait_for(lambda: deliveries(url)[0].status == "done", 120)
    from triageflow.audit import recent

    alerted = {r.target for r in recent(url, 50) if r.action == "alert.send"}
    assert len(alerted) == 4 and {"issue:1", "issue:3", "issue:2"} <= alerted


@pytest.mark.parametrize("name,request_kw,status,detail", [
    ("no secret", {"params": {}, "json": {"attachments": []}}, 401, "secret"),
    ("wrong secret", {"params": {"token": "nope"}, "json": {}}, 401, "secret"),
    ("bad json", {"params": {"token": SECRET}, "content": b"{not json", "headers": {"content-type": "application/json"}},
     400, "not JSON"),
    ("too big", {"params": {"token": SECRET}, "content": b"x" * 5000}, 413, "larger than 4096"),
    ("no attachments", {"params": {"token": SECRET}, "json": {"text": "GlitchTip Alert (1 issues)"}}, 422, "attachments"),
    ("no issue link", {"params": {"token": SECRET}, "json": {"attachments": [{"title": "x", "title_link": "http://x/"}]}},
     422, "attachments[0].title_link"),
])
def test_bad_requests_get_the_right_status_and_nothing_is_stored(triage_env, service, name, request_kw, status, detail):
    response = httpx.post(f"{service.url}/webhooks/glitchtip", **request_kw)
    assert response.status_code == status, response.text
    assert detail in response.text
    assert deliveries(triage_env["TRIAGE_DATABASE_URL"]) == []


def test_a_failed_delivery_stays_pending_and_the_sweep_finishes_it(prefect_harness, triage_env, service, control,
                                                                  monkeypatch):
    monkeypatch.setenv("TRIAGE_DRY_RUN", "false")
    control.fault("/bot", "error", status=502, times=1000)
    send(control, service, ["14"])
    url = triage_env["TRIAGE_DATABASE_URL"]
    row = wait_for(lambda: [d for d in deliveries(url) if d.error])[0]
    assert row.status == "pending" and "telegram" in row.error
    httpx.delete(f"{control.url}/_sandbox/faults")
    assert sweep_pending(load_settings()) == 1
    assert deliveries(url)[0].status == "done"
    assert [m for m in control.outbox("telegram") if m["method"] == "sendMessage"]


def test_health_reports_database_and_prefect(triage_env, service):
    response = httpx.get(f"{service.url}/health")
    assert response.status_code == 200 and response.json()["database"] == "ok"


def test_personal_data_never_reaches_the_chat_or_the_database(prefect_harness, triage_env, service, control):
    send(control, service, ["11"])  # "Payment gateway rejected card 4111-1111-1111-1111", users' emails in tags
    url = triage_env["TRIAGE_DATABASE_URL"]
    wait_for(lambda: deliveries(url) and deliveries(url)[0].status == "done", 120)
    alert = next(m for m in control.outbox("telegram") if m["method"] == "sendMessage")
    assert "4111" not in alert["text"] and "[card]" in alert["text"]
    from models.investigations import InvestigationLog

    with session_scope(url) as s:
        stored = [str(r.result) + r.title for r in s.exec(select(InvestigationLog))]
        stored += [str(d.body) for d in s.exec(select(WebhookDelivery))]
    assert stored and not any("4111-1111-1111-1111" in text or "@example.com" in text for text in stored)
