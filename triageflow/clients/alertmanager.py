"""Prometheus Alertmanager's API v2: does an alert still fire, is it silenced. Read-only."""

from __future__ import annotations

import httpx
from pydantic import BaseModel

from .errors import ClientError, NotFound, Rejected, Unauthorized, Unavailable
from .tls import tls_context


class AlertState(BaseModel):
    fingerprint: str
    state: str  # active | suppressed | unprocessed
    silenced_by: list[str] = []
    inhibited_by: list[str] = []
    labels: dict[str, str] = {}


class Alertmanager:
    service = "alertmanager"

    def __init__(self, base_url: str, *, timeout: float = 5, http: httpx.Client | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = http or httpx.Client(timeout=timeout, verify=tls_context())

    def __repr__(self) -> str:
        return f"Alertmanager({self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "Alertmanager":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get(self, path: str, params: dict | None = None):
        kw = {"service": self.service, "method": "GET", "path": path}
        try:
            response = self._http.get(self.base_url + path, params=params)
        except httpx.HTTPError as exc:
            raise Unavailable(f"alertmanager unreachable: {exc.__class__.__name__}", **kw) from None
        status = response.status_code
        if status >= 500:
            raise Unavailable(f"alertmanager answered {status} (GET {path})", status=status, **kw)
        if status in (401, 403):
            raise Unauthorized(f"alertmanager refused the request ({status})", status=status, **kw)
        if status == 404:
            raise NotFound(f"alertmanager has no {path} at {self.base_url} (404)", status=404, **kw)
        if status >= 400:
            raise Rejected(f"alertmanager rejected GET {path} ({status}): {response.text[:200]}", status=status, **kw)
        try:
            return response.json()
        except ValueError:
            raise ClientError(f"alertmanager answered non-JSON on {path}", **kw) from None

    def alerts(self, *, active: bool = True, silenced: bool = True, inhibited: bool = True) -> list[AlertState]:
        params = {"active": str(active).lower(), "silenced": str(silenced).lower(),
                  "inhibited": str(inhibited).lower()}
        return [AlertState(fingerprint=a["fingerprint"], state=a.get("status", {}).get("state", ""),
                           silenced_by=a.get("status", {}).get("silencedBy") or [],
                           inhibited_by=a.get("status", {}).get("inhibitedBy") or [], labels=a.get("labels", {}))
                for a in self._get("/api/v2/alerts", params)]

    def alert(self, fingerprint: str) -> AlertState | None:
        """The alert if Alertmanager still holds it as firing (active or suppressed), else None."""
        return next((a for a in self.alerts() if a.fingerprint == fingerprint), None)

    def silences(self) -> list[dict]:
        return [s for s in self._get("/api/v2/silences") if s.get("status", {}).get("state") == "active"]


def alertmanager_from_settings(s) -> Alertmanager | None:
    return Alertmanager(s.alertmanager_url) if s.alertmanager_url else None
