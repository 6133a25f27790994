"""Step 3 of alert triage: the service's health URLs, each with a timeout (status, latency)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class HealthCheck:
    name: str
    url: str
    ok: bool
    status: int | None
    latency_ms: float
    error: str = ""


def health_urls(setting: str, service: str, annotations: dict[str, str]) -> dict[str, str]:
    """`ALERT_HEALTH_URLS` is `service=url,...` (`service.db=url` for a dependency); the alert may add
    `health_url`. Returns name → url for this service and its dependencies."""
    urls: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in setting.split(","))):
        key, _, url = item.partition("=")
        key = key.strip()
        if key == service or key.startswith(f"{service}."):
            urls[key] = url.strip()
    if annotations.get("health_url", "").startswith(("http://", "https://")):
        urls.setdefault(service or "alert", annotations["health_url"])
    return urls


def check_url(name: str, url: str, timeout: float, http: httpx.Client | None = None) -> HealthCheck:
    """One GET; any answer under 400 is healthy. Never raises: a failed check is a finding."""
    started = time.perf_counter()
    try:
        response = (http or httpx).get(url, timeout=timeout)
        elapsed = (time.perf_counter() - started) * 1000
        return HealthCheck(name, url, response.status_code < 400, response.status_code, round(elapsed, 1))
    except httpx.HTTPError as exc:
        elapsed = (time.perf_counter() - started) * 1000
        return HealthCheck(name, url, False, None, round(elapsed, 1), exc.__class__.__name__)


def health_failing(checks: list[HealthCheck]) -> bool:
    return any(not c.ok for c in checks)
