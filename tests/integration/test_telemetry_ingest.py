"""Telemetry ingest over real HTTP on loopback: every guardrail's answer, idempotency, and what is stored."""

from __future__ import annotations

import gzip
import json
import uuid
import zlib

import httpx
import pytest
from sqlmodel import select

from models.db import session_scope
from models.telemetry import TelemetryEvent, TelemetryGroup, TelemetryRelay
from tasks.telemetry_store import close_batchers
from triageflow.sandbox.server import LoopbackServer
from triageflow.service.app import create_service
from triageflow.settings import reset_settings

KEY = "publickey123"
AUTH = {"X-Sentry-Auth": f"Sentry sentry_key={KEY}, sentry_version=7, sentry_client=sentry.python/2.75.0",
        "Content-Type": "application/x-sentry-envelope"}


@pytest.fixture
def telemetry_service(database_url, monkeypatch, tmp_path):
    def start(**env):
        values = {"TRIAGE_DATABASE_URL": database_url, "TELEMETRY_PROJECT_KEYS": f"7:{KEY}",
                  "TELEMETRY_MAX_BYTES": "65536", **env}
        for k, v in values.items():
            monkeypatch.setenv(k, v)
        monkeypatch.chdir(tmp_path)
        reset_settings()
        server = LoopbackServer(create_service()).start()
        started.append(server)
        return server

    started: list[LoopbackServer] = []
    yield start
    for server in started:
        server.stop()
    close_batchers()
    reset_settings()


def recorded(peers, n: int) -> bytes:
    return (peers / "clients" / "sentry-sdk" / f"envelope-{n}.envelope").read_bytes()


def with_event_id(envelope: bytes, event_id: str) -> bytes:
    """The recorded envelope with another event id in its header (the payload's own id is the header's)."""
    header, rest = envelope.split(b"\n", 1)
    head = json.loads(header)
    old = head["event_id"]
    head["event_id"] = event_id
    return json.dumps(head).encode() + b"\n" + rest.replace(old.encode(), event_id.encode())


def rows(url, model):
    with session_scope(url) as s:
        return list(s.exec(select(model)))


def browser_report(**over):
    body = {"eventId": uuid.uuid4().hex, "message": "Cannot read properties of undefined (reading 'id')",
            "type": "TypeError", "url": "https://shop.example/cart?item=4",
            "stack": "TypeError: x\n    at render (https://shop.example/static/app.3f2a9c1b.js:10:5)",
            "userAgent": "Mozilla/5.0 Chrome/131", "sessionId": "tab-1", "projectId": "shop"}
    body.update(over)
    return body


def test_recorded_gzip_envelope_is_stored_as_one_group(telemetry_service, database_url, peers):
    svc = telemetry_service()
    body = recorded(peers, 1)
    answer = httpx.post(f"{svc.url}/api/7/envelope/", content=gzip.compress(body),
                        headers={**AUTH, "Content-Encoding": "gzip"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"id": "6dd757ff82e94b1ba88f9e0ada5c07ee"}
    [event] = rows(database_url, TelemetryEvent)
    assert event.exception_type == "ConnectionTimeout" and event.source == "sentry-envelope"
    assert "app/database/postgres.py" in event.stack
    [group] = rows(database_url, TelemetryGroup)
    assert group.count == 1 and group.fingerprint == event.fingerprint and group.status == "new"
    assert group.title.startswith("ConnectionTimeout: Connection timeout to PostgreSQL")
    assert rows(database_url, TelemetryRelay) == []  # the relay is off unless TELEMETRY_RELAY=true


def test_a_repeated_event_id_is_acknowledged_and_counted_once(telemetry_service, database_url, peers):
    svc = telemetry_service()
    body = recorded(peers, 2)
    first = httpx.post(f"{svc.url}/api/7/envelope/", content=body, headers=AUTH)
    again = httpx.post(f"{svc.url}/api/7/envelope/", content=body, headers=AUTH)
    assert first.status_code == again.status_code == 200
    other = httpx.post(f"{svc.url}/api/7/envelope/", content=with_event_id(body, uuid.uuid4().hex), headers=AUTH)
    assert other.status_code == 200
    assert len(rows(database_url, TelemetryEvent)) == 2
    [group] = rows(database_url, TelemetryGroup)
    assert group.count == 2
    report = browser_report()
    answers = [httpx.post(f"{svc.url}/api/telemetry/error", json=report).json() for _ in range(2)]
    assert [a["duplicate"] for a in answers] == [False, True]


def test_store_endpoint_with_key_in_query_and_deflate(telemetry_service, database_url, peers):
    svc = telemetry_service()
    event = json.loads(recorded(peers, 1).split(b"\n")[2])
    event["event_id"] = uuid.uuid4().hex
    answer = httpx.post(f"{svc.url}/api/7/store/?sentry_key={KEY}&sentry_version=7",
                        content=zlib.compress(json.dumps(event).encode()),
                        headers={"Content-Type": "application/json", "Content-Encoding": "deflate"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"id": event["event_id"]}
    assert [e.source for e in rows(database_url, TelemetryEvent)] == ["sentry-store"]


def test_non_event_items_are_accepted_and_ignored(telemetry_service, database_url):
    svc = telemetry_service()
    session = json.dumps({"sid": uuid.uuid4().hex, "status": "ok", "init": True, "started": "2026-12-02T07:00:00Z",
                          "attrs": {"release": "booking@1.4.2"}})
    report = json.dumps({"timestamp": 1764662400, "discarded_events": [{"reason": "queue_overflow", "category": "error",
                                                                         "quantity": 1}]})
    body = "\n".join(['{"sent_at":"2026-12-02T07:00:00Z"}', json.dumps({"type": "session", "length": len(session)}),
                      session, '{"type":"client_report"}', report, ""]).encode()
    answer = httpx.post(f"{svc.url}/api/7/envelope/", content=body, headers=AUTH)
    assert answer.status_code == 200, answer.text
    assert rows(database_url, TelemetryEvent) == []


@pytest.mark.parametrize("headers, query, status, says", [
    ({}, "", 401, "missing sentry_key"),
    ({"X-Sentry-Auth": "Sentry sentry_key=wrongkey, sentry_version=7"}, "", 403, "not accepted for project '7'"),
    ({}, "?sentry_key=wrongkey", 403, "not accepted"),
])
def test_project_key_is_required(telemetry_service, peers, headers, query, status, says):
    svc = telemetry_service()
    answer = httpx.post(f"{svc.url}/api/7/envelope/{query}", content=recorded(peers, 1), headers=headers)
    assert answer.status_code == status and says in answer.json()["detail"]


def test_key_of_another_project_is_refused(telemetry_service, peers):
    svc = telemetry_service()
    answer = httpx.post(f"{svc.url}/api/8/envelope/", content=recorded(peers, 1), headers=AUTH)
    assert answer.status_code == 403 and "project '8'" in answer.json()["detail"]


def test_body_limits_as_sent_and_once_decompressed(telemetry_service, database_url):
    svc = telemetry_service(TELEMETRY_MAX_BYTES="2048")
    big = browser_report(message="x" * 5000)
    answer = httpx.post(f"{svc.url}/api/telemetry/error", json=big)
    assert answer.status_code == 413 and "2048" in answer.json()["detail"]
    bomb = gzip.compress(json.dumps(big).encode())  # small on the wire, too big inflated
    assert len(bomb) < 2048
    answer = httpx.post(f"{svc.url}/api/telemetry/error", content=bomb, headers={"Content-Encoding": "gzip"})
    assert answer.status_code == 413 and "decompressed" in answer.json()["detail"]
    assert rows(database_url, TelemetryEvent) == []


def test_sdk_body_limits_as_declared_as_streamed_and_once_decompressed(telemetry_service, database_url, peers):
    """The SDK routes read their bodies with their own ASGI code: the same three 413s, and nothing stored."""
    svc = telemetry_service(TELEMETRY_MAX_BYTES="4096")
    event = json.loads(recorded(peers, 1).split(b"\n")[2])
    event["extra"] = {"padding": "x" * 10000}
    envelope = "\n".join(["{}", json.dumps({"type": "event"}), json.dumps(event), ""]).encode()
    declared = httpx.post(f"{svc.url}/api/7/envelope/", content=envelope, headers=AUTH)
    assert declared.status_code == 413 and "4096" in declared.json()["detail"]
    streamed = httpx.post(f"{svc.url}/api/7/envelope/", content=iter([envelope[:3000], envelope[3000:]]),
                          headers=AUTH)  # chunked: no Content-Length to refuse up front
    assert streamed.status_code == 413 and "larger than 4096" in streamed.json()["detail"]
    bomb = gzip.compress(envelope)
    assert len(bomb) < 4096
    inflated = httpx.post(f"{svc.url}/api/7/envelope/", content=bomb, headers={**AUTH, "Content-Encoding": "gzip"})
    assert inflated.status_code == 413 and "decompressed" in inflated.json()["detail"]
    assert rows(database_url, TelemetryEvent) == []


@pytest.mark.parametrize("body, field", [
    ({"type": "TypeError"}, "message"),
    ({"message": "boom", "eventId": "not-a-uuid"}, "eventId"),
    ({"message": "boom", "level": "panic"}, "level"),
    ({"message": "boom", "tags": {"a": {"nested": 1}}}, "tags.a"),
    ({"message": "boom", "colour": "red"}, "colour"),
])
def test_bad_json_reports_name_the_field(telemetry_service, body, field):
    svc = telemetry_service()
    answer = httpx.post(f"{svc.url}/api/telemetry/error", json=body)
    assert answer.status_code == 400
    assert answer.json()["detail"]["field"].startswith(field)


@pytest.mark.parametrize("content, headers, status, field", [
    (b"{not json", {}, 400, "body"),
    (b"\x00\x01garbage", {"Content-Encoding": "gzip"}, 400, "Content-Encoding"),
    (b"{}", {"Content-Encoding": "compress"}, 415, "Content-Encoding"),
])
def test_undecodable_bodies_name_what_is_wrong(telemetry_service, content, headers, status, field):
    svc = telemetry_service()
    answer = httpx.post(f"{svc.url}/api/telemetry/error", content=content, headers=headers)
    assert answer.status_code == status and answer.json()["detail"]["field"] == field


def test_one_error_from_two_browsers_is_one_group_and_another_error_is_another(telemetry_service, database_url):
    """Users, tabs, pages and the ids in the message differ; the error is the same, so the group is one."""
    svc = telemetry_service()
    stack = "TypeError: x\n    at render (https://shop.example/static/app.{build}.js:10:5)\n    at main (https://shop.example/static/app.{build}.js:2:1)"
    same = [browser_report(message=f"Cannot read properties of undefined (reading 'id') in cart {cart}",
                           sessionId=session, userAgent=agent, url=f"https://shop.example/cart?item={cart}",
                           stack=stack.format(build=build))
            for cart, session, agent, build in [(4812, "tab-ann", "Mozilla/5.0 Chrome/131", "3f2a9c1b"),
                                                (977, "tab-bob", "Mozilla/5.0 (X11) Chrome/130", "8d0e4a7f")]]
    other = browser_report(type="RangeError", message="Invalid array length", sessionId="tab-ann")
    answers = [httpx.post(f"{svc.url}/api/telemetry/error", json=r).json() for r in (*same, other)]
    assert answers[0]["fingerprint"] == answers[1]["fingerprint"] != answers[2]["fingerprint"]
    groups = {g.fingerprint: g for g in rows(database_url, TelemetryGroup)}
    assert len(groups) == 2 and groups[answers[0]["fingerprint"]].count == 2


def test_envelope_event_without_id_and_bad_level_is_400(telemetry_service):
    svc = telemetry_service()
    event = json.dumps({"level": "loud", "message": "x"})
    body = "\n".join(["{}", json.dumps({"type": "event", "length": len(event)}), event]).encode()
    answer = httpx.post(f"{svc.url}/api/7/envelope/", content=body, headers=AUTH)
    assert answer.status_code == 400 and answer.json()["detail"]["field"] == "event_id"
    event = json.dumps({"event_id": uuid.uuid4().hex, "level": "loud", "message": "x"})
    body = "\n".join(["{}", json.dumps({"type": "event", "length": len(event)}), event]).encode()
    answer = httpx.post(f"{svc.url}/api/7/envelope/", content=body, headers=AUTH)
    assert answer.status_code == 400 and answer.json()["detail"]["field"] == "level"


def test_correlation_id_is_kept_or_generated_and_echoed(telemetry_service, database_url):
    svc = telemetry_service()
    kept = httpx.post(f"{svc.url}/api/telemetry/error", json=browser_report(), headers={"x-correlation-id": "req-42"})
    made = httpx.post(f"{svc.url}/api/telemetry/error", json=browser_report())
    bad = httpx.post(f"{svc.url}/api/telemetry/error", json={}, headers={"x-correlation-id": "req-43"})
    assert kept.headers["x-correlation-id"] == "req-42"
    assert len(made.headers["x-correlation-id"]) == 32
    assert bad.status_code == 400 and bad.headers["x-correlation-id"] == "req-43"
    stored = {e.correlation_id for e in rows(database_url, TelemetryEvent)}
    assert stored == {"req-42", made.headers["x-correlation-id"]}


@pytest.mark.parametrize("env, vary, scope", [
    ({"TELEMETRY_RATE_PER_IP": "3"}, lambda i: {"sessionId": f"tab-{i}"}, "ip"),
    ({"TELEMETRY_RATE_PER_SESSION": "3"}, lambda i: {}, "session"),
    ({"TELEMETRY_RATE_PER_KEY": "3"}, lambda i: {"sessionId": f"tab-{i}"}, "project key"),
])
def test_rate_limits_answer_429_with_retry_after(telemetry_service, database_url, env, vary, scope):
    svc = telemetry_service(**env)
    answers = [httpx.post(f"{svc.url}/api/telemetry/error", json=browser_report(**vary(i))) for i in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    assert int(answers[3].headers["retry-after"]) >= 1
    assert scope in answers[3].json()["detail"]
    assert len(rows(database_url, TelemetryEvent)) == 3


def test_the_ip_limit_counts_bad_bodies_too(telemetry_service, database_url):
    """The documented order (key, rate, size, shape): a sender flooding malformed reports is limited before its
    body is read, not answered 400 forever."""
    svc = telemetry_service(TELEMETRY_RATE_PER_IP="3")
    answers = [httpx.post(f"{svc.url}/api/telemetry/error", content=b"{not json", headers={"content-type": "application/json"})
               for _ in range(5)]
    assert [a.status_code for a in answers] == [400, 400, 400, 429, 429]
    assert int(answers[3].headers["retry-after"]) >= 1 and "ip" in answers[3].json()["detail"]
    assert rows(database_url, TelemetryEvent) == []


def test_sentry_key_rate_limit(telemetry_service, peers):
    svc = telemetry_service(TELEMETRY_RATE_PER_KEY="2")
    body = recorded(peers, 1)
    codes = [httpx.post(f"{svc.url}/api/7/envelope/", content=with_event_id(body, uuid.uuid4().hex),
                        headers=AUTH).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    refused = httpx.post(f"{svc.url}/api/7/envelope/", content=with_event_id(body, uuid.uuid4().hex), headers=AUTH)
    assert refused.status_code == 429 and "project key" in refused.json()["detail"]
    seconds = int(refused.headers["retry-after"])  # what sentry-sdk's transport reads to back off
    assert seconds >= 1 and refused.headers["x-sentry-rate-limits"] == f"{seconds}::organization"


def test_fields_are_clipped_to_their_documented_size(telemetry_service, database_url):
    from tasks.telemetry_event import LIMITS

    svc = telemetry_service()
    answer = httpx.post(f"{svc.url}/api/telemetry/error", json=browser_report(
        message="m" * 6000, url="https://shop.example/" + "p" * 3000, userAgent="U" * 900,
        tags={f"t{i}": "v" * 500 for i in range(80)}))
    assert answer.status_code == 200, answer.text
    [event] = rows(database_url, TelemetryEvent)
    assert len(event.message) == LIMITS["message"] and event.message.endswith("…")
    assert len(event.url) == LIMITS["url"] and len(event.user_agent) == LIMITS["user_agent"]
    assert len(event.tags) == LIMITS["tags"] and all(len(v) == LIMITS["tag_value"] for v in event.tags.values())


def test_browser_script_is_served(telemetry_service):
    svc = telemetry_service()
    answer = httpx.get(f"{svc.url}/telemetry.js")
    assert answer.status_code == 200 and "unhandledrejection" in answer.text
    assert answer.headers["content-type"].startswith("application/javascript")


def test_brotli_envelope_as_sentry_sdk_sends_it_when_brotli_is_installed(telemetry_service, database_url, peers):
    import brotli

    svc = telemetry_service()
    answer = httpx.post(f"{svc.url}/api/7/envelope/", content=brotli.compress(recorded(peers, 2)),
                        headers={**AUTH, "Content-Encoding": "br"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == "*"
    [event] = rows(database_url, TelemetryEvent)
    assert event.exception_type == "SessionExpired"


def test_an_event_the_database_did_not_take_is_answered_503_not_acknowledged(telemetry_service, database_url, peers):
    from sqlalchemy import text

    from models.db import engine_for

    svc = telemetry_service()
    with engine_for(database_url).begin() as conn:  # the write of every batch fails from now on
        conn.execute(text("DROP TABLE telemetry_event"))
    answers = [httpx.post(f"{svc.url}/api/7/envelope/", content=with_event_id(recorded(peers, 1), uuid.uuid4().hex),
                          headers=AUTH),
               httpx.post(f"{svc.url}/api/telemetry/error", json=browser_report())]
    assert [a.status_code for a in answers] == [503, 503]
    assert all(int(a.headers["retry-after"]) >= 1 and "not stored" in a.json()["detail"] for a in answers)
    assert rows(database_url, TelemetryGroup) == []


def test_an_event_with_nul_and_a_lone_surrogate_is_stored_with_its_batch(telemetry_service, database_url, peers):
    svc = telemetry_service()
    odd = uuid.uuid4().hex
    body = ('{"event_id": "%s", "message": "bad \\u0000 byte and \\ud800 half", "tags": {"k\\u0000": "v\\udfff"}}'
            % odd).encode()  # valid JSON; PostgreSQL's text takes neither NUL nor a lone surrogate as they are
    answer = httpx.post(f"{svc.url}/api/7/store/?sentry_key={KEY}", content=body,
                        headers={"Content-Type": "application/json"})
    assert answer.status_code == 200, answer.text
    [event] = rows(database_url, TelemetryEvent)
    assert event.event_id == odd and event.message.startswith("bad ") and "\x00" not in event.message


def test_sdk_endpoints_answer_only_post_and_leave_other_paths_to_the_app(telemetry_service, peers):
    """The SDK paths are answered before FastAPI's dispatch (telemetry_sentry.py): another method is a 405
    naming POST, a path without its trailing slash is the same endpoint, and everything else still reaches
    the app's own routes and 404."""
    svc = telemetry_service()
    refused = httpx.get(f"{svc.url}/api/7/envelope/")
    assert refused.status_code == 405 and refused.headers["allow"] == "POST"
    assert "POST" in refused.json()["detail"]
    no_slash = httpx.post(f"{svc.url}/api/7/store", content=json.dumps(
        {"event_id": uuid.uuid4().hex, "message": "boom"}), headers=AUTH)
    assert no_slash.status_code == 200 and len(no_slash.json()["id"]) == 32
    assert no_slash.headers["access-control-allow-origin"] == "*"
    assert httpx.get(f"{svc.url}/telemetry.js").status_code == 200
    assert httpx.post(f"{svc.url}/api/7/other/").status_code in (404, 405)
    assert httpx.post(f"{svc.url}/api/telemetry/error", json=browser_report()).status_code == 200
