"""Registered remediation actions and the check that the signal which fired has cleared.

Only actions named in `ACTIONS` run, with arguments from the knowledge base and commands/hooks from settings
(`REMEDIATION_COMMANDS`, `REMEDIATION_HOOKS`: JSON objects keyed `"<action>:<service>"`, or `"<service>"` for
restart_service). The alert's text never becomes a command or an argument; the alert's `service` label only
selects among the configured entries.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import httpx
from sqlmodel import col, select

from models.alerts import RemediationAttempt
from models.db import session_scope


@dataclass(frozen=True)
class ActionResult:
    ok: bool
    output: str


class NotConfigured(Exception):
    """The action has no command, hook or connection configured for this service."""


def _table(raw: str, variable: str) -> dict:
    if not raw.strip():
        return {}
    try:
        table = json.loads(raw)
    except ValueError as exc:
        raise NotConfigured(f"{variable} is not JSON: {exc}") from None
    if not isinstance(table, dict):
        raise NotConfigured(f"{variable} must be a JSON object")
    return table


def _command_or_hook(action: str, service: str, s, *, timeout: float = 60) -> ActionResult:
    commands = _table(s.remediation_commands, "REMEDIATION_COMMANDS")
    hooks = _table(s.remediation_hooks, "REMEDIATION_HOOKS")
    keys = [f"{action}:{service}"] + ([service] if action == "restart_service" else [])
    for key in keys:
        if key in commands:
            argv = commands[key]
            argv = shlex.split(argv) if isinstance(argv, str) else [str(a) for a in argv]
            try:
                done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                return ActionResult(False, f"$ {shlex.join(argv)}\n{exc.__class__.__name__}: {exc}")
            out = (done.stdout + done.stderr).strip()[-3000:]
            return ActionResult(done.returncode == 0, f"$ {shlex.join(argv)} → exit {done.returncode}\n{out}")
        if key in hooks:
            url = str(hooks[key])
            try:
                response = httpx.post(url, json={"action": action, "service": service}, timeout=timeout)
            except httpx.HTTPError as exc:
                return ActionResult(False, f"POST {url}: {exc.__class__.__name__}")
            return ActionResult(response.status_code < 400, f"POST {url} → {response.status_code} "
                                                            f"{response.text[:500]}")
    raise NotConfigured(f"no command or hook for {' or '.join(keys)} in REMEDIATION_COMMANDS/REMEDIATION_HOOKS")


def restart_service(args: dict, service: str, s) -> ActionResult:
    return _command_or_hook("restart_service", args.get("service") or service, s)


def reset_db_pool(args: dict, service: str, s) -> ActionResult:
    return _command_or_hook("reset_db_pool", args.get("service") or service, s)


def free_memory(args: dict, service: str, s) -> ActionResult:
    return _command_or_hook("free_memory", args.get("service") or service, s)


def clear_cache_keys(args: dict, service: str, s) -> ActionResult:
    """Delete the Redis keys matching the knowledge base's pattern (SCAN, never KEYS)."""
    import redis

    pattern = args.get("pattern")
    if not pattern or pattern in ("*", "**"):
        raise NotConfigured("clear_cache_keys needs a narrower `pattern` in the known issue's action_args")
    if not s.redis_url:
        raise NotConfigured("REDIS_URL is not set")
    client = redis.Redis.from_url(s.redis_url, socket_timeout=5)
    try:
        deleted = 0
        batch = []
        for key in client.scan_iter(match=pattern, count=500):
            batch.append(key)
            if len(batch) >= 500:
                deleted += client.delete(*batch)
                batch = []
        if batch:
            deleted += client.delete(*batch)
    except redis.RedisError as exc:
        return ActionResult(False, f"redis: {exc.__class__.__name__}: {exc}")
    finally:
        client.close()
    return ActionResult(True, f"deleted {deleted} key(s) matching {pattern!r}")


ACTIONS: dict[str, Callable[[dict, str, object], ActionResult]] = {
    "restart_service": restart_service,
    "reset_db_pool": reset_db_pool,
    "clear_cache_keys": clear_cache_keys,
    "free_memory": free_memory,
}
MODES = ("auto", "approve", "off")


def attempted_recently(database_url: str, fingerprint: str, window: timedelta,
                       now: datetime | None = None) -> RemediationAttempt | None:
    """An attempt for this fingerprint inside the window (whatever its outcome): never a second one."""
    now = now or datetime.now(timezone.utc)
    with session_scope(database_url) as session:
        rows = session.exec(select(RemediationAttempt).where(RemediationAttempt.fingerprint == fingerprint)
                            .order_by(col(RemediationAttempt.id).desc())).all()
    for row in rows:
        started = row.started_at if row.started_at.tzinfo else row.started_at.replace(tzinfo=timezone.utc)
        if now - started < window:
            return row
    return None


def record_attempt(database_url: str, **values) -> int:
    with session_scope(database_url) as session:
        row = RemediationAttempt(**values)
        session.add(row)
        session.flush()
        return row.id


def finish_attempt(database_url: str, attempt_id: int, outcome: str, output: str = "") -> None:
    with session_scope(database_url) as session:
        row = session.get(RemediationAttempt, attempt_id)
        row.outcome, row.finished_at = outcome, datetime.now(timezone.utc)
        if output:
            row.output = (row.output + "\n" + output).strip()[-8000:]
        session.add(row)


def signal_for(health_failing: bool) -> str:
    """Which signal has to clear: the health check if that is what failed, else the alert itself."""
    return "health" if health_failing else "alert"
