"""A small scaled sandbox over loopback, with yesterday's and today's view, for the cost tests."""

from __future__ import annotations

from datetime import timedelta

import httpx

from triageflow.sandbox import SandboxServer
from triageflow.sandbox.scale import Scale, scaled_sandbox

SMALL = Scale(issues=600, events_per_day=30_000, active=150, new=15, resolved=300, ignored=15)


def start(codebase_dir, scale: Scale = SMALL) -> SandboxServer:
    server = SandboxServer(scaled_sandbox(scale), codebase_dir=codebase_dir, keep_alive=1.0)
    return server.start()


def show_yesterday(server: SandboxServer) -> None:
    moment = server.sandbox.glitchtip.now - timedelta(days=1)
    httpx.post(f"{server.url}/_sandbox/clock", json={"visible_until": moment.isoformat()}).raise_for_status()


def show_today(server: SandboxServer) -> None:
    httpx.post(f"{server.url}/_sandbox/clock", json={"visible_until": None}).raise_for_status()


def calls(server: SandboxServer, prefix: str = "/api/0/") -> list[dict]:
    return [r for r in httpx.get(f"{server.url}/_sandbox/requests").json() if r["path"].startswith(prefix)]


def clear_calls(server: SandboxServer) -> None:
    httpx.delete(f"{server.url}/_sandbox/requests").raise_for_status()
