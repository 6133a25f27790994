"""Circuit breaker, backoff and rate limiter, on a fake clock."""

import random

import pytest

from triageflow.clients.errors import CircuitOpen, NotFound, RateLimited, Unavailable
from triageflow.clients.resilience import CircuitBreaker, RateLimiter, backoff_delay, retrying


class FakeClock:
    def __init__(self):
        self.now = 100.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_circuit_opens_after_threshold_and_says_so():
    clock = FakeClock()
    breaker = CircuitBreaker("glitchtip", threshold=3, cooldown=30, clock=clock)
    for _ in range(3):
        breaker.before_call()
        breaker.record_failure()
    assert breaker.state == "open"
    with pytest.raises(CircuitOpen, match="circuit open after 3 consecutive failures") as info:
        breaker.before_call()
    assert info.value.reopens_in == pytest.approx(30)


def test_circuit_half_opens_after_cooldown_and_closes_on_success():
    clock = FakeClock()
    breaker = CircuitBreaker("glitchtip", threshold=2, cooldown=10, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    clock.now += 10
    assert breaker.state == "half-open"
    breaker.before_call()  # the trial call is let through
    breaker.record_success()
    assert breaker.state == "closed"


def test_a_success_resets_the_failure_count():
    breaker = CircuitBreaker("x", threshold=2, clock=FakeClock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == "closed"


@pytest.mark.parametrize("attempt,ceiling", [(1, 0.5), (2, 1.0), (3, 2.0), (10, 20.0)])
def test_backoff_grows_exponentially_with_jitter_and_a_cap(attempt, ceiling):
    rng = random.Random(7)
    delays = [backoff_delay(attempt, 0.5, 20.0, rng) for _ in range(200)]
    assert max(delays) <= ceiling
    assert min(delays) >= 0.25
    assert len({round(d, 6) for d in delays}) > 100  # jittered, not fixed


def test_retry_honours_retry_after_and_stops_at_the_limit():
    clock = FakeClock()
    calls = []

    def flaky():
        calls.append(1)
        raise RateLimited("slow down", retry_after=7)

    with pytest.raises(RateLimited):
        retrying(3, sleep=clock.sleep)(flaky)
    assert len(calls) == 3
    assert clock.sleeps == [7, 7]


def test_retry_never_repeats_a_not_found():
    calls = []

    def missing():
        calls.append(1)
        raise NotFound("gone")

    with pytest.raises(NotFound):
        retrying(5, sleep=lambda s: None)(missing)
    assert len(calls) == 1


def test_retry_recovers_from_a_transient_failure():
    outcomes = iter([Unavailable("down"), Unavailable("down"), "ok"])

    def call():
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert retrying(4, initial=0.001, sleep=lambda s: None)(call) == "ok"


def test_rate_limiter_spaces_call_starts(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr("triageflow.clients.resilience.time.monotonic", clock)
    monkeypatch.setattr("triageflow.clients.resilience.time.sleep", clock.sleep)
    limiter = RateLimiter(per_second=10, max_in_flight=2)
    starts = []
    for _ in range(5):
        with limiter.slot():
            starts.append(clock.now)
    gaps = [round(b - a, 6) for a, b in zip(starts, starts[1:])]
    assert gaps == [0.1, 0.1, 0.1, 0.1]


def test_rate_limiter_bounds_calls_in_flight():
    limiter = RateLimiter(per_second=0, max_in_flight=2)
    first, second = limiter.slot(), limiter.slot()
    first.__enter__()
    second.__enter__()
    assert limiter._in_flight.acquire(blocking=False) is False
    second.__exit__(None, None, None)
    assert limiter._in_flight.acquire(blocking=False) is True
