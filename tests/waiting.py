"""Waiting in tests for what happens in another thread or process (a webhook worker, a flow run, a peer)."""

from __future__ import annotations

import time


def wait_for(predicate, seconds: float = 120, interval: float = 0.25):
    """The first truthy value `predicate()` returns within `seconds`; an AssertionError if none does."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not reached in {seconds:g} s")
