"""Client-side protections shared by every outside-service client: rate limit, circuit breaker, retry policy."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from .errors import CircuitOpen, ClientError, RateLimited, Transient

T = TypeVar("T")


class RateLimiter:
    """At most `per_second` calls started per second and `max_in_flight` at once (0 = no rate limit)."""

    def __init__(self, per_second: float = 10.0, max_in_flight: int = 2) -> None:
        self.per_second = per_second
        self._in_flight = threading.BoundedSemaphore(max_in_flight)
        self._lock = threading.Lock()
        self._next_start = 0.0

    def _wait_for_turn(self) -> None:
        if self.per_second <= 0:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_start)
            self._next_start = start + 1.0 / self.per_second
        delay = start - now
        if delay > 0:
            time.sleep(delay)

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._in_flight:
            self._wait_for_turn()
            yield


class CircuitBreaker:
    """Opens after `threshold` consecutive failures; after `cooldown` seconds lets one trial call through."""

    def __init__(self, name: str, threshold: int = 5, cooldown: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self.name = name
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None

    @property
    def state(self) -> str:
        with self._lock:
            if self._opened_at is None:
                return "closed"
            return "half-open" if self._clock() - self._opened_at >= self.cooldown else "open"

    def before_call(self) -> None:
        with self._lock:
            if self._opened_at is None:
                return
            waited = self._clock() - self._opened_at
            if waited < self.cooldown:
                raise CircuitOpen(
                    f"{self.name}: circuit open after {self._failures} consecutive failures; "
                    f"calls refused for another {self.cooldown - waited:.1f}s",
                    service=self.name,
                    reopens_in=self.cooldown - waited,
                )

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._failures >= self.threshold:
                self._opened_at = self._clock()


def backoff_delay(attempt: int, initial: float, maximum: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: a random delay in [initial/2, initial * 2**(attempt-1)]."""
    ceiling = min(maximum, initial * (2 ** max(attempt - 1, 0)))
    return (rng or random).uniform(min(initial / 2, ceiling), ceiling)


def retrying(
    attempts: int,
    *,
    initial: float = 0.5,
    maximum: float = 20.0,
    retry_on: Callable[[BaseException], bool] = lambda e: isinstance(e, Transient),
    sleep: Callable[[float], None] = time.sleep,
    retry_after_cap: float = 120.0,
) -> Retrying:
    """A tenacity policy: retry what `retry_on` accepts, honouring a RateLimited error's Retry-After."""

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            return min(exc.retry_after, retry_after_cap)  # the server's word beats our own backoff
        return backoff_delay(state.attempt_number, initial, maximum)

    return Retrying(
        stop=stop_after_attempt(max(attempts, 1)),
        wait=wait,
        retry=retry_if_exception(retry_on),
        sleep=sleep,
        reraise=True,
    )


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, Transient)


def describe(exc: ClientError) -> str:
    return f"{exc} ({exc.request_line})" if exc.method else str(exc)
