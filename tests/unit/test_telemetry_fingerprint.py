"""Grouping on a corpus of realistic errors: the same error from two browsers or hosts is one group,
different errors are different groups; the SDK's own fingerprint wins."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tasks.telemetry_event import BrowserError, record_from_browser, record_from_sentry_event
from tasks.telemetry_fingerprint import Frame, fingerprint, normalise_message

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=timezone.utc)

CHROME_STACK = """TypeError: Cannot read properties of undefined (reading 'price')
    at renderLine (https://shop.example/static/cart.3f2a9c1b.js:120:17)
    at Array.map (<anonymous>)
    at renderCart (https://shop.example/static/cart.3f2a9c1b.js:88:9)
    at https://cdn.vendor.example/lib/react-dom.js:1:5000"""
EDGE_STACK = """TypeError: Cannot read properties of undefined (reading 'price')
    at renderLine (https://www.shop.example/static/cart.77aa01ff.js:121:4)
    at Array.map (<anonymous>)
    at renderCart (https://www.shop.example/static/cart.77aa01ff.js:89:2)"""
FIREFOX_STACK = """renderLine@https://shop.example/static/cart.3f2a9c1b.js:120:20
renderCart@https://shop.example/static/cart.3f2a9c1b.js:88:12"""


def browser(message, stack, url="https://shop.example/cart?id=1", type_="TypeError", **kw):
    report = BrowserError(message=message, stack=stack, url=url, type=type_, **kw)
    return record_from_browser(report, received_at=NOW, correlation_id="c").fingerprint


def python_event(type_, value, frames):
    return record_from_sentry_event({"event_id": "a" * 32, "exception": {"values": [{"type": type_, "value": value,
        "stacktrace": {"frames": frames}}]}}, project_id="7", source="sentry-store", received_at=NOW).fingerprint


def frame(module, function, lineno, in_app=True):
    return {"module": module, "filename": module.replace(".", "/") + ".py", "function": function, "lineno": lineno,
            "in_app": in_app}


ORDER_FRAMES = [frame("app.api", "checkout", 40), frame("app.orders", "load_order", 12),
                frame("sqlalchemy.orm", "one", 2800, in_app=False)]

SAME = [
    ("chrome and edge, other hosts, build hashes, lines and ids",
     lambda: browser("Cannot read properties of undefined (reading 'price')", CHROME_STACK,
                     url="https://shop.example/cart?id=1", userAgent="Chrome/131"),
     lambda: browser("Cannot read properties of undefined (reading 'price')", EDGE_STACK,
                     url="https://www.shop.example/cart?id=99", userAgent="Edg/131")),
    ("same python error on two hosts, other order ids and durations",
     lambda: python_event("OrderNotFound", "order 4812 for 'ann@example.com' not found after 3.5s", ORDER_FRAMES),
     lambda: python_event("OrderNotFound", "order 977 for 'bob@example.org' not found after 12s",
                          [dict(f, lineno=f["lineno"] + 3) for f in ORDER_FRAMES])),
    ("uuids and hex ids in the message",
     lambda: python_event("KeyError", "job 550e8400-e29b-41d4-a716-446655440000 missing (0x7f3a2b)", ORDER_FRAMES),
     lambda: python_event("KeyError", "job 123e4567-e89b-12d3-a456-426614174000 missing (0x11ff00)", ORDER_FRAMES)),
    ("uncaught prefix from the browser",
     lambda: browser("Uncaught ReferenceError: cfg is not defined", FIREFOX_STACK, type_="ReferenceError"),
     lambda: browser("ReferenceError: cfg is not defined", FIREFOX_STACK, type_="ReferenceError")),
]

DIFFERENT = [
    ("other exception type", lambda: python_event("OrderNotFound", "order 1 not found", ORDER_FRAMES),
     lambda: python_event("PaymentDeclined", "order 1 not found", ORDER_FRAMES)),
    ("other message", lambda: python_event("ValueError", "price must be positive", ORDER_FRAMES),
     lambda: python_event("ValueError", "currency must be set", ORDER_FRAMES)),
    ("other in-app function", lambda: python_event("ValueError", "bad", ORDER_FRAMES),
     lambda: python_event("ValueError", "bad", [frame("app.api", "refund", 40), *ORDER_FRAMES[1:]])),
    ("other quoted property? no: other script",
     lambda: browser("Cannot read properties of undefined (reading 'price')", CHROME_STACK),
     lambda: browser("Cannot read properties of undefined (reading 'price')",
                     CHROME_STACK.replace("cart.3f2a9c1b.js", "checkout.3f2a9c1b.js"))),
]


@pytest.mark.parametrize("name, a, b", SAME, ids=[s[0] for s in SAME])
def test_same_error_is_one_group(name, a, b):
    assert a() == b()


@pytest.mark.parametrize("name, a, b", DIFFERENT, ids=[d[0] for d in DIFFERENT])
def test_different_errors_are_different_groups(name, a, b):
    assert a() != b()


def test_sdk_fingerprint_wins_and_default_expands():
    frames = [Frame(filename="a.py", function="f", in_app=True)]
    assert fingerprint("E", "one", frames, ["checkout-db"]) == fingerprint("F", "two", [], ["checkout-db"])
    assert fingerprint("E", "one", frames, ["{{ default }}", "eu"]) != fingerprint("E", "one", frames, ["{{ default }}", "us"])
    assert fingerprint("E", "one", frames, ["x"]) != fingerprint("E", "one", frames)


def test_library_frames_count_only_when_nothing_is_in_app():
    lib_only = [frame("requests.api", "get", 10, in_app=False)]
    other_lib = [frame("urllib3.pool", "urlopen", 10, in_app=False)]
    assert python_event("Timeout", "t", lib_only) != python_event("Timeout", "t", other_lib)
    assert python_event("Timeout", "t", [*lib_only, ORDER_FRAMES[0]]) == python_event(
        "Timeout", "t", [*other_lib, ORDER_FRAMES[0]])


@pytest.mark.parametrize("raw, normal", [
    ("Order 4812 failed after 3.5s", "order <n> failed after <n>"),
    ("user 'ann' and \"bob\"", "user <q> and <q>"),
    ("request 550e8400-e29b-41d4-a716-446655440000", "request <uuid>"),
    ("object at 0x7f3a2b9c", "object at <n>"),
    ("commit 3f2a9c1b7d missing", "commit <n> missing"),
    ("job 3f2a9c1b failed", "job <n> failed"),
    ("job 31279054 failed", "job <n> failed"),  # a hex id that happens to have no letter: the same group
    ("ticket ord_8f3k2 closed", "ticket <id> closed"),
])
def test_normalise_message(raw, normal):
    assert normalise_message(raw) == normal


def test_recorded_sdk_events_are_two_groups(peers):
    from sentry_sdk.envelope import Envelope

    fps = set()
    for n in (1, 2):
        env = Envelope.deserialize((peers / "clients" / "sentry-sdk" / f"envelope-{n}.envelope").read_bytes())
        fps.add(record_from_sentry_event(env.items[0].payload.json, project_id="7", source="sentry-envelope",
                                         received_at=NOW).fingerprint)
    assert len(fps) == 2
