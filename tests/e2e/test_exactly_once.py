"""Issue 10's table: duplicates (sequential and concurrent), many issues at once, overlapping investigations
and sweeps, hostile bodies and an unreachable database — each side effect happens once, nothing is a 500."""

from __future__ import annotations

import contextvars
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlmodel import select

from models.db import session_scope
from models.webhooks import WebhookDelivery
from triageflow.sandbox.server import LoopbackServer
from triageflow.service.app import create_service
from triageflow.settings import reset_settings

from ..waiting import wait_for

SECRET = "s3cret-webhook-token-0123"


@pytest.fixture
def service(triage_env, monkeypatch):
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("WEBHOOK_READ_TIMEOUT", "1")
    reset_settings()
    app = create_service()
    with LoopbackServer(app) as server:
        yield server
    app.state.stop_worker()


def payload(control, issue_ids: list[str]) -> dict:
    return httpx.post(f"{control.url}/_sandbox/webhooks/glitchtip", json={"issue_ids": issue_ids}).json()["payload"]


def post(service, body, **kw) -> httpx.Response:
    return httpx.post(f"{service.url}/webhooks/glitchtip", params={"token": SECRET}, json=body, timeout=60, **kw)


def deliveries(url) -> list[WebhookDelivery]:
    with session_scope(url) as s:
        return list(s.exec(select(WebhookDelivery)))



def alerts(control) -> list[dict]:
    return [m for m in control.outbox("telegram") if m["method"] == "sendMessage"]


def investigation_comments(glitchtip, issue_id) -> list:
    return [c for c in glitchtip.comments(issue_id) if f"triageflow:investigation:{issue_id}" in c.text]


def all_done(url, count):
    rows = deliveries(url)
    return len(rows) == count and all(d.status == "done" for d in rows)


def test_the_same_webhook_fifty_times_in_a_row_alerts_and_comments_once(prefect_harness, triage_env, service,
                                                                        control, glitchtip):
    body = payload(control, ["9"])
    answers = [post(service, body) for _ in range(50)]
    assert {a.status_code for a in answers} == {202}
    url = triage_env["TRIAGE_DATABASE_URL"]
    wait_for(lambda: all_done(url, 50))
    wait_for(lambda: investigation_comments(glitchtip, 9))
    time.sleep(1)  # a second investigation, were one started, would post in this time
    assert len(alerts(control)) == 1
    assert len(investigation_comments(glitchtip, 9)) == 1


def test_the_same_webhook_fifty_times_at_once_alerts_and_comments_once(prefect_harness, triage_env, service,
                                                                       control, glitchtip):
    body = payload(control, ["9"])
    with ThreadPoolExecutor(25) as pool:
        answers = list(pool.map(lambda _: post(service, body), range(50)))
    assert {a.status_code for a in answers} == {202}
    url = triage_env["TRIAGE_DATABASE_URL"]
    wait_for(lambda: all_done(url, 50))
    wait_for(lambda: investigation_comments(glitchtip, 9))
    time.sleep(1)
    assert len(alerts(control)) == 1
    assert len(investigation_comments(glitchtip, 9)) == 1


def test_ten_issues_fifty_times_at_once_alert_ten_times(prefect_harness, triage_env, service, control, monkeypatch):
    monkeypatch.setenv("TRIAGE_DRY_RUN", "false")
    issues = [str(n) for n in range(1, 11)]
    bodies = [payload(control, [i]) for i in issues] * 50
    with ThreadPoolExecutor(25) as pool:
        answers = list(pool.map(lambda b: post(service, b), bodies))
    assert {a.status_code for a in answers} == {202}
    url = triage_env["TRIAGE_DATABASE_URL"]
    wait_for(lambda: all_done(url, 500), 180)
    sent = alerts(control)
    assert len(sent) == 10
    assert sorted(m["reply_markup"]["inline_keyboard"][0][0]["callback_data"] for m in sent) == sorted(
        f"investigate:{i}" for i in issues)


def _in_threads(n: int, fn) -> list:
    """Run `fn` in `n` threads at once, each with the caller's context (its Prefect settings)."""
    barrier, results, errors = threading.Barrier(n), [None] * n, []

    def run(i: int, ctx: contextvars.Context) -> None:
        barrier.wait()
        try:
            results[i] = ctx.run(fn)
        except Exception as exc:  # noqa: BLE001 - re-raised below in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, contextvars.copy_context())) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def test_overlapping_investigations_with_a_slow_comment_post_comment_once(prefect_harness, triage_env, database_url,
                                                                          control, glitchtip, monkeypatch):
    from flows.investigate import investigate_issue

    monkeypatch.setenv("TRIAGE_DATABASE_URL", database_url)
    reset_settings()
    control.fault("/api/0/issues/4/comments/", "latency", method="POST", seconds=2, times=5)
    results = _in_threads(3, lambda: investigate_issue("4"))
    assert len(investigation_comments(glitchtip, 4)) == 1
    assert sorted(r["comment_status"] for r in results).count("posted") == 1


def test_overlapping_sweeps_with_a_slow_comment_post_link_once(prefect_harness, triage_env, database_url, control,
                                                               glitchtip, monkeypatch):
    from flows.runbook_sweep import runbook_sweep

    monkeypatch.setenv("TRIAGE_DATABASE_URL", database_url)
    reset_settings()
    control.fault("/api/0/issues/", "latency", method="POST", seconds=0.3, times=40)
    _in_threads(2, lambda: runbook_sweep())
    for issue in glitchtip.issues("is:unresolved"):
        links = [c for c in glitchtip.comments(issue.id) if "<!-- triageflow:runbook:" in c.text]
        assert len(links) <= 1, f"issue {issue.id} linked {len(links)} times"
    assert len(control.requests("/api/0/issues/", "POST")) == 16  # one link per matching issue


def raw_answer(sock: socket.socket) -> str:
    """An HTTP answer read off a raw socket: headers, then as many body bytes as they announce."""
    sock.settimeout(30)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0)
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            break
        body += chunk
    return (head + b"\r\n\r\n" + body).decode()


DEEP = b'{"attachments": [{"title_link": "http://x/acme/issues/9"}], "extra": ' + b"[" * 500 + b"]" * 500 + b"}"


@pytest.mark.parametrize("name,content,status,detail", [
    ("1,000 deep", b"[" * 1000 + b"]" * 1000, 422, "nests deeper"),
    ("500 deep in an extra field", DEEP, 422, "nests deeper"),
    ("5,000-digit issue count", ('{"text": "GlitchTip Alert (' + "9" * 5000 + ' issues)", "attachments": '
                                 '[{"title_link": "http://x/acme/issues/9"}]}').encode(), 422, "text"),
    ("5,000-digit number", b'{"n": ' + b"9" * 5000 + b"}", 422, "more than 18 digits"),
    ("5,000-digit issue id", b'{"attachments": [{"title_link": "http://x/issues/' + b"9" * 5000 + b'"}]}', 422,
     "title_link"),
    ("thousands of attachments", b'{"attachments": [' + b",".join([b'{"title_link": "http://x/issues/9"}'] * 2000)
     + b"]}", 422, "more than 50"),
    ("huge declared length", None, 413, "larger than"),
    ("not UTF-8", b'{"text": "\xff\xfe"}', 400, "not JSON"),
])
def test_hostile_bodies_get_a_4xx_and_nothing_is_stored(triage_env, service, name, content, status, detail):
    if content is None:
        with socket.create_connection(("127.0.0.1", service.port)) as sock:
            sock.sendall(f"POST /webhooks/glitchtip?token={SECRET} HTTP/1.1\r\nHost: x\r\n"
                         f"Content-Type: application/json\r\nContent-Length: {'9' * 12}\r\n\r\n{{".encode())
            answer = raw_answer(sock)
        assert answer.startswith(f"HTTP/1.1 {status}") and detail in answer
    else:
        response = httpx.post(f"{service.url}/webhooks/glitchtip", params={"token": SECRET}, content=content,
                              headers={"content-type": "application/json"}, timeout=30)
        assert response.status_code == status, response.text
        assert detail in response.text
    assert deliveries(triage_env["TRIAGE_DATABASE_URL"]) == []


def test_a_body_that_stalls_is_cut_off_with_408(triage_env, service):
    with socket.create_connection(("127.0.0.1", service.port)) as sock:
        sock.sendall(f"POST /webhooks/glitchtip?token={SECRET} HTTP/1.1\r\nHost: x\r\n"
                     f"Content-Type: application/json\r\nContent-Length: 200\r\n\r\n".encode() + b"{" + b" " * 49)
        answer = raw_answer(sock)
    assert answer.startswith("HTTP/1.1 408") and "not received within 1 s" in answer
    assert deliveries(triage_env["TRIAGE_DATABASE_URL"]) == []


def test_with_an_external_worker_the_service_only_stores(prefect_harness, triage_env, control, monkeypatch):
    from prefect.settings import PREFECT_API_URL

    from triageflow.service.worker import WebhookWorker
    from triageflow.settings import load_settings

    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("WEBHOOK_BACKGROUND", "external")
    monkeypatch.setenv("WEBHOOK_SWEEP_SECONDS", "0.5")
    monkeypatch.setenv("TRIAGE_DRY_RUN", "true")  # this test counts alerts, not investigations
    reset_settings()
    app = create_service()
    with LoopbackServer(app) as service:
        assert post(service, payload(control, ["9"])).status_code == 202
        time.sleep(1.5)
        url = triage_env["TRIAGE_DATABASE_URL"]
        assert [d.status for d in deliveries(url)] == ["pending"]
        worker = WebhookWorker(load_settings(), prefect_api_url=PREFECT_API_URL.value()).start()  # = webhook-worker
        try:
            wait_for(lambda: [d.status for d in deliveries(url)] == ["done"])
        finally:
            worker.stop()
    from triageflow.audit import recent

    assert [r.target for r in recent(url, 50) if r.action == "alert.send"] == ["issue:9"]
