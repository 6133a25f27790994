"""Real senders against a uvicorn-served triageflow on loopback: the Python sentry-sdk in another process,
the browser script in headless Chromium, and a PII corpus that must not reach any table."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import uuid

import httpx
import pytest
from sqlalchemy import inspect, text
from sqlmodel import select
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from models.db import engine_for, session_scope
from models.telemetry import TelemetryEvent, TelemetryGroup
from tasks.telemetry_store import close_batchers
from triageflow.sandbox.server import LoopbackServer
from triageflow.service.app import create_service
from triageflow.settings import reset_settings

KEY = "publickey123"

PII = {  # what a careless app puts in errors; none of it may be stored
    "email": "ann.smith@example.com", "card": "4111 1111 1111 1111", "phone": "+44 20 7946 0958",
    "github token": "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "password in url": "hunter2secret",
    "cookie": "sess_Q9w8E7r6T5y4", "basic auth": "dXNlcjpodW50ZXIyc2VjcmV0", "jwt":
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "ip": "203.0.113.77", "api key": "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
}


@pytest.fixture
def service(database_url, monkeypatch, tmp_path):
    monkeypatch.setenv("TRIAGE_DATABASE_URL", database_url)
    monkeypatch.setenv("TELEMETRY_PROJECT_KEYS", f"7:{KEY}")
    monkeypatch.chdir(tmp_path)
    reset_settings()
    with LoopbackServer(create_service()) as server:
        yield server
    close_batchers()
    reset_settings()


def every_stored_text(url: str) -> str:
    """Every column of every row of every table, as text."""
    engine = engine_for(url)
    out = []
    with engine.connect() as conn:
        for table in inspect(engine).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                out.append(" ".join(str(v) for v in row))
    return "\n".join(out)


def wait_for(predicate, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def groups(url):
    with session_scope(url) as s:
        return list(s.exec(select(TelemetryGroup)))


SDK_APP = textwrap.dedent('''
    import json
    import os
    import sys

    import sentry_sdk

    pii = json.loads(os.environ["APP_PII"])  # runtime data, as an app gets it from its users
    sentry_sdk.init(dsn=sys.argv[1], release="booking@1.4.2", environment="production", send_default_pii=True)
    sentry_sdk.set_user({"id": "42", "email": pii["email"], "ip_address": pii["ip"]})
    sentry_sdk.set_tag("component", "payments")


    def charge(card, password):
        token = pii["github token"]
        raise RuntimeError(f"charge failed for {pii['email']} card {card} phone {pii['phone']} "
                           f"via https://ann:{password}@pay.example/v1?api_key={pii['api key']}")


    for attempt in range(2):  # the same error twice: one group of two
        try:
            charge(pii["card"], pii["password in url"])
        except RuntimeError as exc:
            sentry_sdk.capture_exception(exc)
    sentry_sdk.flush(timeout=20)
''')


def test_real_sentry_sdk_capture_arrives_as_one_group_with_nothing_personal_stored(service, database_url, tmp_path):
    script = tmp_path / "app.py"
    script.write_text(SDK_APP)
    dsn = f"http://{KEY}@127.0.0.1:{service.port}/7"
    done = subprocess.run([sys.executable, str(script), dsn], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "SENTRY_DSN": "", "APP_PII": json.dumps(PII)})
    assert done.returncode == 0, done.stderr
    [group] = wait_for(lambda: [g for g in groups(database_url) if g.count == 2])
    assert group.exception_type == "RuntimeError" and group.title.startswith("RuntimeError: charge failed for [email]")
    assert "charge" in group.sample["stack"]
    stored = every_stored_text(database_url)
    leaked = [name for name, value in PII.items() if value in stored]
    assert leaked == [], f"stored unredacted: {leaked}"


def test_pii_corpus_is_redacted_before_storage_in_every_table(service, database_url):
    report = {"eventId": uuid.uuid4().hex, "type": "Error", "sessionId": "tab-secret-77",
              "message": f"payment for {PII['email']} with {PII['card']} ({PII['phone']}) failed, jwt {PII['jwt']}",
              "url": f"https://ann:{PII['password in url']}@shop.example/pay?token={PII['github token']}",
              "stack": f"Error: x\n    at pay (https://shop.example/app.js:1:1)\nCookie: sid={PII['cookie']}",
              "tags": {"client_ip": PII["ip"], "authorization": f"Basic {PII['basic auth']}",
                       "note": f"key {PII['api key']}"}}
    answer = httpx.post(f"{service.url}/api/telemetry/error", json=report)
    assert answer.status_code == 200, answer.text
    event = {"event_id": uuid.uuid4().hex, "level": "error", "message": f"login by {PII['email']}",
             "request": {"url": f"https://x.example/?password={PII['password in url']}",
                         "headers": {"Cookie": f"sid={PII['cookie']}", "Authorization": f"Basic {PII['basic auth']}",
                                     "User-Agent": "Mozilla/5.0"}},
             "tags": {"ip": PII["ip"]}, "exception": {"values": [{"type": "LoginError", "value": PII["card"],
                 "stacktrace": {"frames": [{"filename": "app/auth.py", "function": "login", "in_app": True,
                                            "context_line": f"check('{PII['github token']}')",
                                            "vars": {"password": PII["password in url"]}}]}}]}}
    answer = httpx.post(f"{service.url}/api/7/store/?sentry_key={KEY}", json=event)
    assert answer.status_code == 200, answer.text
    stored = every_stored_text(database_url)
    assert "LoginError" in stored and "shop.example/pay" in stored  # the events are there ...
    leaked = [name for name, value in PII.items() if value in stored]
    assert leaked == [], f"stored unredacted: {leaked}"  # ... and nothing personal in any table
    assert "tab-secret-77" not in stored  # the session id is kept as a pseudonym only


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

PAGE = """<!doctype html><html><head><title>shop</title>
<script src="{service}/telemetry.js" data-project="shop" data-release="shop@2.0.1"></script></head>
<body><p id="status">waiting</p>
<script>
  function renderCart(cart) {{ return cart.lines.length; }}
  setTimeout(function () {{
    window.addEventListener("error", function () {{
      setTimeout(function () {{
        (window.__triageflowLast || Promise.resolve(null)).then(function (answer) {{
          document.getElementById("status").textContent = answer ? "reported " + answer.id : "not reported";
        }});
      }}, 0);
    }});
    renderCart(undefined);
  }}, 10);
</script></body></html>"""


REJECTING_PAGE = """<!doctype html><html><head><title>shop</title>
<script src="{service}/telemetry.js" data-project="shop"></script></head>
<body><p id="status">waiting</p>
<script>
  function applyCoupon(code) {{ return Promise.reject(new RangeError("coupon " + code + " expired on day 12")); }}
  window.addEventListener("unhandledrejection", function () {{
    setTimeout(function () {{
      window.__triageflowLast.then(function (answer) {{
        document.getElementById("status").textContent = answer ? "reported " + answer.id : "not reported";
      }});
    }}, 0);
  }});
  setTimeout(function () {{ applyCoupon("SPRING"); }}, 10);
</script></body></html>"""


def page_in_chromium(page_app, tmp_path) -> str:
    """The DOM real headless Chromium ends with after loading the app's `/` from another loopback origin."""
    with LoopbackServer(page_app) as page:  # another origin than the service: a cross-origin report
        done = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--no-first-run", "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
             "--virtual-time-budget=15000", "--dump-dom", f"{page.url}/"],
            capture_output=True, text=True, timeout=120)
    assert "<p id=\"status\">" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


needs_chromium = pytest.mark.skipif(CHROMIUM is None and os.environ.get("TRIAGE_REQUIRE_PEERS") != "1",
                                    reason="chromium is not installed (apt-get install chromium)")


@needs_chromium
def test_browser_script_in_headless_chromium_reports_an_unhandled_rejection(service, database_url, tmp_path):
    page_app = Starlette(routes=[Route("/", lambda request: HTMLResponse(REJECTING_PAGE.format(service=service.url)))])
    dom = page_in_chromium(page_app, tmp_path)
    assert "reported " in dom, dom[-2000:]
    [group] = wait_for(lambda: groups(database_url))
    assert group.exception_type == "RangeError" and group.project_id == "shop"
    assert group.title == "RangeError: coupon SPRING expired on day 12"
    assert "applyCoupon" in group.sample["stack"]


@needs_chromium
def test_browser_script_in_headless_chromium_reports_a_thrown_error(service, database_url, tmp_path):
    page_app = Starlette(routes=[Route("/", lambda request: HTMLResponse(PAGE.format(service=service.url))),
                                 Route("/health", lambda request: HTMLResponse("ok"))])
    dom = page_in_chromium(page_app, tmp_path)
    assert "reported " in dom
    [group] = wait_for(lambda: groups(database_url))
    assert group.exception_type == "TypeError" and group.project_id == "shop"
    assert "renderCart" in group.sample["stack"]
    with session_scope(database_url) as s:
        [event] = list(s.exec(select(TelemetryEvent)))
    assert event.release == "shop@2.0.1" and "HeadlessChrome" in (event.user_agent or "")
    assert event.session_id and event.session_id.startswith("s-")
