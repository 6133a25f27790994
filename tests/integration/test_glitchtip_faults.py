"""The client under injected faults: retries where safe, never where not, circuit breaker, timeouts."""

from __future__ import annotations

import time

import pytest

from triageflow.clients.errors import CircuitOpen, NotFound, RateLimited, Rejected, Unavailable
from triageflow.clients.glitchtip import GlitchTip
from triageflow.clients.resilience import CircuitBreaker

ISSUE = "/api/0/issues/9/"


def test_5xx_is_retried_until_it_succeeds(glitchtip, control):
    control.fault(ISSUE, "error", status=503, times=2)
    assert glitchtip.issue(9).id == "9"
    statuses = [r["status"] for r in control.requests(ISSUE)]
    assert statuses == [503, 503, 200]


def test_retries_give_up_with_a_typed_error_naming_the_request(glitchtip, control):
    control.fault(ISSUE, "error", status=502, times=10)
    with pytest.raises(Unavailable) as info:
        glitchtip.issue(9)
    assert info.value.status == 502 and info.value.method == "GET" and info.value.path == ISSUE
    assert "503 Service Unavailable" in info.value.server_message
    assert len(control.requests(ISSUE)) == 4  # 1 + 3 retries


def test_429_waits_for_retry_after(glitchtip, control):
    control.fault(ISSUE, "rate_limit", retry_after=1, times=1)
    started = time.monotonic()
    assert glitchtip.issue(9).id == "9"
    assert time.monotonic() - started >= 0.95  # the server's Retry-After, not the 10 ms test backoff
    assert [r["status"] for r in control.requests(ISSUE)] == [429, 200]


def test_429_that_persists_surfaces_as_rate_limited(sandbox, control):
    control.fault(ISSUE, "rate_limit", retry_after=0, times=5)
    with GlitchTip(sandbox.url, sandbox.token, "acme", rate_limit=0, retries=1) as gt, pytest.raises(RateLimited) as info:
        gt.issue(9)
    assert info.value.retry_after == 0


@pytest.mark.parametrize("call,path,status", [
    (lambda gt: gt.issue(999999), "/api/0/issues/999999/", {"2024": 404, "4.2.1": 404, "5.1": 404}),
    (lambda gt: gt.add_comment(9, "x") and gt._request("POST", "/api/0/issues/9/comments/", json_body={"text": "flat"}),
     "/api/0/issues/9/comments/", {"2024": 400, "4.2.1": 422, "5.1": 422}),  # DRF 400, Ninja 422
])
def test_other_4xx_are_never_retried(glitchtip, control, call, path, status, glitchtip_release):
    with pytest.raises((NotFound, Rejected)):
        call(glitchtip)
    assert [r["status"] for r in control.requests(path) if r["status"] >= 400] == [status[glitchtip_release]]


def test_dropped_connection_is_retried_for_reads(glitchtip, control):
    control.fault(ISSUE, "drop", times=2)
    assert glitchtip.issue(9).id == "9"
    assert len(control.requests(ISSUE)) == 3


def test_dropped_connection_is_not_retried_for_a_post(glitchtip, control):
    """The comment may have been stored before the connection dropped: posting again could duplicate it."""
    control.fault("/api/0/issues/9/comments/", "drop", method="POST", times=1)
    with pytest.raises(Unavailable, match="connection failed"):
        glitchtip.add_comment(9, "once")
    assert len(control.requests("/api/0/issues/9/comments/", "POST")) == 1


def test_post_is_retried_when_the_server_says_unavailable(glitchtip, control):
    control.fault("/api/0/issues/9/comments/", "error", status=503, method="POST", times=1)
    assert glitchtip.add_comment(9, "after a 503").text == "after a 503"
    assert len(glitchtip.comments(9)) == 1


def test_slow_answer_times_out_and_is_retried(sandbox, control):
    control.fault(ISSUE, "latency", seconds=1.0, times=1)
    with GlitchTip(sandbox.url, sandbox.token, "acme", rate_limit=0, timeout=0.3, backoff_initial=0.01) as gt:
        assert gt.issue(9).id == "9"
    assert len(control.requests(ISSUE)) == 2


def test_circuit_opens_after_repeated_failures_and_refuses_calls(sandbox, control):
    control.fault("/api/0/", "error", status=500, times=100)
    breaker = CircuitBreaker("glitchtip", threshold=3, cooldown=60)
    with GlitchTip(sandbox.url, sandbox.token, "acme", rate_limit=0, retries=5, backoff_initial=0.001,
                   circuit=breaker) as gt:
        with pytest.raises(CircuitOpen, match="circuit open after 3 consecutive failures"):
            gt.issue(9)
        sent = len(control.requests("/api/0/"))
        with pytest.raises(CircuitOpen):
            gt.projects()
        assert len(control.requests("/api/0/")) == sent == 3  # nothing more reached the server


def test_sequential_calls_survive_the_server_closing_idle_connections(glitchtip, control):
    """The sandbox closes idle keep-alive connections after 1 s; a reused stale socket must not fail."""
    for _ in range(3):
        assert glitchtip.issue(9).id == "9"
        time.sleep(1.3)
    assert [r["status"] for r in control.requests(ISSUE)] == [200, 200, 200]


def test_many_sequential_calls_on_one_client(glitchtip):
    assert all(glitchtip.issue(i).id == str(i) for i in [1, 2, 3, 4, 5] * 10)


def test_client_rate_limit_spaces_requests(sandbox, control):
    with GlitchTip(sandbox.url, sandbox.token, "acme", rate_limit=20, max_in_flight=2) as gt:
        for _ in range(6):
            gt.issue(9)
    stamps = [r["at"] for r in control.requests(ISSUE)]
    from datetime import datetime

    times = [datetime.fromisoformat(s) for s in stamps]
    span = (times[-1] - times[0]).total_seconds()
    assert span >= 5 / 20 * 0.9  # six starts at 20/s take at least 0.25 s
