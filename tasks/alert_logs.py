"""Step 2 of alert triage: what the logs around the alert say. Pure: the lines come in, a summary goes out.

Users are counted, never kept; everything that leaves here is scrubbed.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from triageflow.scrub import scrub

_STACK = re.compile(r"(Traceback \(most recent call last\)|\n\s+at [\w.$<>]+\(|Exception in thread|^\s*File \".+\", line \d+)",
                    re.M)
_ENDPOINT = re.compile(r"\b(?:GET|POST|PUT|PATCH|DELETE)\s+(/[\w/\-.{}]*)|\"(?:path|endpoint|route|url)\"\s*:\s*\"(/[^\"?]*)"
                       r"|\b(?:path|endpoint|route)=(/[^\s?&\"]*)")
_USER = re.compile(r"\"?(?:user_id|user|uid|userId)\"?\s*[:=]\s*\"?([\w@.\-]+)")
_VARIABLE = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b|\b0x[0-9a-f]+\b|\b[0-9a-f]{12,}\b|\d+",
                       re.I)
_STATUS = re.compile(r"\"?status(?:_code)?\"?\s*[:=]\s*\"?(\d{3})\b")


@dataclass(frozen=True)
class LogSummary:
    configured: bool
    query: str = ""
    lines: int = 0
    errors_in_window: int = 0  # error lines within ALERT_ERROR_WINDOW_MINUTES of the alert's start
    error_messages: list[str] = field(default_factory=list)
    stack_traces: list[str] = field(default_factory=list)
    endpoints: list[str] = field(default_factory=list)
    distinct_users: int = 0
    first_at: datetime | None = None
    last_at: datetime | None = None
    per_minute: float = 0.0
    common_pattern: str = ""
    status_codes: dict[int, int] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def has_stack_trace(self) -> bool:
        return bool(self.stack_traces)

    @property
    def only_client_errors(self) -> bool:
        """Every status seen is a 4xx other than 429: users' mistakes, not the service's."""
        return bool(self.status_codes) and all(400 <= c < 500 and c != 429 for c in self.status_codes)


def _message(line: str) -> str:
    try:
        data = json.loads(line)
    except ValueError:
        data = None
    if isinstance(data, dict):
        return str(data.get("msg") or data.get("message") or data.get("error") or line)
    last = [part for part in line.strip().splitlines() if part.strip()]
    return last[-1].strip() if last else line


def pattern_of(message: str) -> str:
    """The message with its variable parts (numbers, ids, hex) replaced, so repeats group together."""
    return _VARIABLE.sub("<n>", message)[:200]


def logql_for(annotations: dict[str, str], service: str, template: str) -> str:
    """The alert's own LogQL (annotation `logql` or `loki_query`), else the template filled for its service."""
    return annotations.get("logql") or annotations.get("loki_query") or template.replace("{service}", service or ".+")


def summarize_logs(lines, *, query: str, alert_start: datetime, error_window: timedelta) -> LogSummary:
    """`lines`: objects with `.at` (datetime) and `.line` (text), any order."""
    if not lines:
        return LogSummary(True, query=query, note="no log lines in the window")
    ordered = sorted(lines, key=lambda item: item.at)
    messages = [_message(item.line) for item in ordered]
    patterns = Counter(pattern_of(scrub(m)) for m in messages)  # scrubbed first: an e-mail must not survive as a pattern
    stacks = [scrub(item.line)[:1500] for item in ordered if _STACK.search(item.line)]
    endpoints = Counter(next(g for g in m.groups() if g) for item in ordered for m in _ENDPOINT.finditer(item.line))
    users = {m.group(1) for item in ordered for m in _USER.finditer(item.line)}
    codes = Counter(int(m.group(1)) for item in ordered for m in _STATUS.finditer(item.line))
    first, last = ordered[0].at, ordered[-1].at
    minutes = max((last - first).total_seconds() / 60, 1.0)
    in_window = sum(1 for item in ordered if abs(item.at - alert_start) <= error_window)
    distinct = list(dict.fromkeys(scrub(m)[:300] for m in messages))
    return LogSummary(
        True, query=query, lines=len(ordered), errors_in_window=in_window, error_messages=distinct[:10],
        stack_traces=list(dict.fromkeys(stacks))[:3], endpoints=[e for e, _ in endpoints.most_common(5)],
        distinct_users=len(users), first_at=first, last_at=last, per_minute=round(len(ordered) / minutes, 2),
        common_pattern=patterns.most_common(1)[0][0], status_codes=dict(codes),
        samples=[scrub(item.line)[:500] for item in ordered[-5:]])


def no_loki(query: str) -> LogSummary:
    return LogSummary(False, query=query, note="Loki is not configured (LOKI_URL): logs were not read")
