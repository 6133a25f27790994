"""Token buckets per IP, session and project key, on a hand-driven clock."""

from tasks.telemetry_ratelimit import RateLimiter


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_burst_then_refill_at_the_rate():
    clock = Clock()
    limiter = RateLimiter({"ip": 60}, clock=clock)  # one per second, burst 60
    assert all(limiter.check({"ip": "a"}).allowed for _ in range(60))
    refused = limiter.check({"ip": "a"})
    assert not refused.allowed and refused.scope == "ip" and 0 < refused.retry_after <= 1
    clock.now += 1.0
    assert limiter.check({"ip": "a"}).allowed
    assert limiter.check({"ip": "b"}).allowed  # another sender has its own bucket


def test_a_refusal_takes_nothing_from_the_other_scopes():
    clock = Clock()
    limiter = RateLimiter({"ip": 100, "session": 2}, clock=clock)
    for _ in range(2):
        assert limiter.check({"ip": "a", "session": "s"}).allowed
    assert limiter.check({"ip": "a", "session": "s"}).scope == "session"
    for _ in range(98):
        assert limiter.check({"ip": "a", "session": None}).allowed  # the refused call gave its ip token back
    assert limiter.check({"ip": "a"}).scope == "ip"


def test_zero_switches_a_scope_off():
    limiter = RateLimiter({"ip": 0}, clock=Clock())
    assert all(limiter.check({"ip": "a"}).allowed for _ in range(1000))


def test_past_max_keys_the_least_recently_used_key_is_forgotten():
    """A busy sender's emptied bucket is kept; the idle one is the one forgotten (and starts full again)."""
    limiter = RateLimiter({"ip": 2}, clock=Clock(), max_keys=2)
    assert limiter.check({"ip": "busy"}).allowed and limiter.check({"ip": "idle"}).allowed
    assert limiter.check({"ip": "busy"}).allowed            # busy is now the most recently used
    assert limiter.check({"ip": "new"}).allowed             # a third key: idle goes, not busy
    assert not limiter.check({"ip": "busy"}).allowed        # busy's bucket was kept, and it is empty
    assert limiter.check({"ip": "idle"}).allowed            # idle was forgotten: a full bucket again
