"""The GlitchTip canary's test error and how to tell whether it arrived intact. Pure."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any


class CanaryError(RuntimeError):
    """The test error the canary sends on purpose."""


@dataclass(frozen=True)
class Canary:
    token: str  # one search token, unique per run: how the canary finds its issue again
    tags: dict[str, str] = field(default_factory=dict)
    user: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        return f"triageflow canary {self.token}"

    @property
    def title(self) -> str:
        return f"CanaryError: {self.message}"


def new_canary(flow_run_id: str | None = None) -> Canary:
    token = f"tfcanary{uuid.uuid4().hex[:16]}"
    return Canary(token=token,
                  tags={"triageflow.canary": token, "component": "triageflow", "operation": "canary"},
                  user={"id": "triageflow-canary", "username": "canary"},
                  extra={"canary": token, "flow_run": flow_run_id or "", "nested": {"n": 3, "ok": True},
                         "unicode": "грязь — ✓"})


def differences(canary: Canary, tags: dict[str, str], user: dict[str, Any] | None, extra: dict[str, Any] | None,
                title: str) -> list[str]:
    """What came back different from what was sent (empty when the event arrived intact)."""
    problems = []
    if canary.message not in title:
        problems.append(f"title is {title!r}, expected it to contain {canary.message!r}")
    for key, value in canary.tags.items():
        if key not in tags:
            problems.append(f"tag {key} missing")
        elif tags[key] != value:
            problems.append(f"tag {key} is {tags[key]!r}, sent {value!r}")
    for key, value in canary.user.items():
        got = (user or {}).get(key)
        if str(got) != value:
            problems.append(f"user.{key} is {got!r}, sent {value!r}")
    for key, value in canary.extra.items():
        got = (extra or {}).get(key)
        if got != value:
            problems.append(f"extra {key} is {got!r}, sent {value!r}")
    return problems
