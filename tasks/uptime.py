"""Uptime: which URLs to check, what a check found, and when that is news (down, or back up). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Target:
    url: str
    expect: int = 200
    timeout: float = 10.0


@dataclass(frozen=True)
class Probe:
    url: str
    up: bool
    status: int | None
    latency_ms: int | None
    error: str | None


@dataclass(frozen=True)
class Known:
    up: bool
    since: datetime


@dataclass(frozen=True)
class Change:
    kind: str | None  # "down", "up" (recovered) or None: nothing new
    state: Known
    outage: timedelta | None = None


def parse_targets(text: str) -> list[Target]:
    """`URL [status] [timeout]` entries, comma-separated: 'https://a/health 200 5, https://b/'."""
    targets = []
    for entry in filter(None, (e.strip() for e in (text or "").split(","))):
        parts = entry.split()
        if not parts[0].startswith(("http://", "https://")) or len(parts) > 3:
            raise ValueError(f"UPTIME_TARGETS: {entry!r} is not 'URL [status] [timeout]'")
        try:
            expect = int(parts[1]) if len(parts) > 1 else 200
            timeout = float(parts[2]) if len(parts) > 2 else 10.0
        except ValueError:
            raise ValueError(f"UPTIME_TARGETS: {entry!r}: status must be a number and timeout seconds") from None
        if not 100 <= expect <= 599 or timeout <= 0:
            raise ValueError(f"UPTIME_TARGETS: {entry!r}: status 100–599 and a positive timeout")
        targets.append(Target(parts[0], expect, timeout))
    return targets


def transition(known: Known | None, probe: Probe, now: datetime) -> Change:
    """An outage is news once when it starts, and once when it ends (with how long it lasted)."""
    if known is None:
        return Change(None if probe.up else "down", Known(probe.up, now))
    if known.up == probe.up:
        return Change(None, known)
    if probe.up:
        return Change("up", Known(True, now), now - known.since)
    return Change("down", Known(False, now))


def outage_text(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"
