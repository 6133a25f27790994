"""Step 1 of alert triage: what the alert itself says (name, severity, service, window, numbers). Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

_NUMBER = re.compile(r"(-?\d+(?:\.\d+)?)\s*(%|ms|s\b)?")


@dataclass(frozen=True)
class AlertContext:
    event_id: int
    fingerprint: str
    name: str
    status: str
    severity_label: str
    service: str
    component: str
    summary: str
    description: str
    starts_at: datetime
    window_start: datetime
    window_end: datetime
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    values: dict[str, float] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    error_count: int | None = None
    error_rate: float | None = None  # a fraction, 0.12 for 12 %
    latency_ms: float | None = None
    baseline_latency_ms: float | None = None
    status_code: int | None = None
    deployment_in_progress: bool = False

    @property
    def text(self) -> str:
        """Everything the alert says in words, for known-issue patterns and categorisation."""
        labels = " ".join(f"{k}={v}" for k, v in sorted(self.labels.items()))
        return f"{self.name} | {self.summary} | {self.description} | {labels}"


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    match = _NUMBER.search(str(value))
    return float(match.group(1)) if match else None


def _rate(value: Any) -> float | None:
    """`0.12`, `12%` and `12` (a percentage when above 1) all mean 12 %."""
    number = _number(value)
    if number is None:
        return None
    if "%" in str(value) or number > 1:
        return number / 100
    return number


def build_context(event, window_minutes: int = 15) -> AlertContext:
    """From a stored AlertEvent (labels, annotations and the payload's Grafana `values` and links)."""
    labels = {str(k): str(v) for k, v in (event.labels or {}).items()}
    annotations = {str(k): str(v) for k, v in (event.annotations or {}).items()}
    alert = (event.payload or {}).get("alert", {})
    values = {str(k): float(v) for k, v in (alert.get("values") or {}).items() if isinstance(v, (int, float))}
    links = {k: alert[k] for k in ("generatorURL", "silenceURL", "dashboardURL", "panelURL")
             if isinstance(alert.get(k), str) and alert[k]}
    if annotations.get("runbook_url"):
        links["runbook_url"] = annotations["runbook_url"]
    if annotations.get("dashboard_url") and "dashboardURL" not in links:
        links["dashboardURL"] = annotations["dashboard_url"]
    name = labels.get("alertname", event.name)
    lowered = name.lower()

    def pick(*keys: str) -> str | None:
        for key in keys:
            if key in annotations:
                return annotations[key]
            if key in labels:
                return labels[key]
        return None

    first_value = next(iter(values.values()), None)
    error_rate = _rate(pick("error_rate", "error_ratio"))
    if error_rate is None and "errorrate" in lowered.replace("_", "") and first_value is not None:
        error_rate = _rate(first_value)
    percent = re.search(r"(\d+(?:\.\d+)?)\s*%", f"{annotations.get('summary', '')} {annotations.get('description', '')}")
    if error_rate is None and "error" in lowered and percent:
        error_rate = float(percent.group(1)) / 100
    latency = _number(pick("latency_ms", "p99_ms", "p95_ms"))
    if latency is None and "latency" in lowered and first_value is not None:
        latency = first_value * 1000 if first_value < 60 else first_value  # seconds from a histogram quantile
    count = _number(pick("error_count", "errors", "count"))
    code = _number(pick("status_code", "code", "status"))
    deploying = (pick("deployment", "deploy_state") or "").lower() in ("in_progress", "in-progress", "running",
                                                                       "rolling", "true")
    starts = event.starts_at if event.starts_at.tzinfo else event.starts_at.replace(tzinfo=timezone.utc)
    return AlertContext(
        event_id=event.id, fingerprint=event.fingerprint, name=name, status=event.status,
        severity_label=labels.get("severity", "").lower(), service=labels.get("service") or event.service,
        component=labels.get("component") or labels.get("service") or event.service or "unknown",
        summary=annotations.get("summary", ""), description=annotations.get("description", ""),
        starts_at=starts, window_start=starts - timedelta(minutes=window_minutes),
        window_end=starts + timedelta(minutes=window_minutes), labels=labels, annotations=annotations,
        values=values, links=links, error_count=int(count) if count is not None else None, error_rate=error_rate,
        latency_ms=latency, baseline_latency_ms=_number(pick("baseline_latency_ms", "baseline_ms")),
        status_code=int(code) if code is not None and 100 <= code < 600 else None,
        deployment_in_progress=deploying)
