"""Token buckets per client IP, per session and per project key: how much telemetry one sender may push.

Pure and in-process (each service process limits what it receives); the clock is handed in for tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    scope: str = ""          # "ip", "session" or "project key": which limit refused
    retry_after: float = 0.0  # seconds until one more event would be accepted


class RateLimiter:
    """`per_minute[scope]` events per minute for each key of that scope, with a burst of the same size.

    A limit of 0 switches its scope off. At most `max_keys` keys are tracked per scope; the least
    recently refilled are forgotten first (a forgotten key starts again with a full bucket).
    """

    def __init__(self, per_minute: dict[str, float], *, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[str, dict[str, tuple[float, float]]] = {scope: {} for scope in per_minute}
        self._lock = threading.Lock()

    def check(self, keys: dict[str, str | None]) -> Verdict:
        """Take one token from every scope's bucket, or none at all when any scope is empty."""
        now = self.clock()
        with self._lock:
            taken: list[tuple[dict, str, float]] = []
            for scope, key in keys.items():
                rate = self.per_minute.get(scope, 0)
                if not rate or not key:
                    continue
                buckets = self._buckets.setdefault(scope, {})
                tokens, at = buckets.get(key, (rate, now))
                tokens = min(rate, tokens + (now - at) * rate / 60.0)
                if tokens < 1:
                    for b, k, t in taken:  # give back what the other scopes already gave
                        b[k] = (t, now)
                    return Verdict(False, scope, (1 - tokens) * 60.0 / rate)
                if buckets.pop(key, None) is None and len(buckets) >= self.max_keys:
                    buckets.pop(next(iter(buckets)))  # the least recently used: each use moves its key last
                taken.append((buckets, key, tokens))
                buckets[key] = (tokens - 1, now)
            return Verdict(True)
