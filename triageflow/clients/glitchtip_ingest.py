"""GlitchTip's (Sentry-compatible) event ingest, reached through a DSN: one envelope per event.

Raises the family of `errors.py`: `Unavailable` (network, 5xx), `RateLimited` (429), `Unauthorized`
(401/403: the DSN's key is wrong), `Rejected` (another 4xx), `Refused` (a DSN that cannot work).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from .errors import RateLimited, Refused, Rejected, Unauthorized, Unavailable
from .tls import tls_context

SERVICE = "glitchtip-ingest"


@dataclass(frozen=True)
class Dsn:
    """`http(s)://<public key>@<host>[/<path>]/<project id>` as GlitchTip shows it."""

    scheme: str
    public_key: str
    host: str
    path: str
    project_id: str

    @classmethod
    def parse(cls, dsn: str) -> "Dsn":
        parts = urlsplit(dsn.strip())
        project = parts.path.rstrip("/").rsplit("/", 1)
        if parts.scheme not in ("http", "https") or not parts.username or not parts.hostname or not project[-1]:
            raise Refused("GLITCHTIP_DSN must look like https://<public key>@<host>/<project id>", service=SERVICE)
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        return cls(parts.scheme, parts.username, netloc, project[0] if len(project) > 1 else "", project[-1])

    @property
    def envelope_url(self) -> str:
        return f"{self.scheme}://{self.host}{self.path}/api/{self.project_id}/envelope/"

    @property
    def auth_header(self) -> str:
        return f"Sentry sentry_key={self.public_key}, sentry_version=7, sentry_client=triageflow-relay/0.1"


class EventIngest:
    """Sends events to a DSN. The receiver drops a repeated `event_id`, so a resend after a lost answer is harmless."""

    def __init__(self, dsn: str, *, http: httpx.Client | None = None, timeout: float = 10.0) -> None:
        self.dsn = Dsn.parse(dsn)
        self._http = http or httpx.Client(timeout=timeout, verify=tls_context())
        self._own_http = http is None

    def send(self, event: dict[str, Any]) -> str:
        from sentry_sdk.envelope import Envelope

        envelope = Envelope(headers={"event_id": event["event_id"], "dsn": None})
        envelope.add_event(event)
        body = envelope.serialize()
        path = f"/api/{self.dsn.project_id}/envelope/"
        try:
            response = self._http.post(self.dsn.envelope_url, content=body, headers={
                "Content-Type": "application/x-sentry-envelope", "X-Sentry-Auth": self.dsn.auth_header})
        except httpx.HTTPError as exc:
            raise Unavailable(f"{SERVICE} did not answer: {exc.__class__.__name__}", service=SERVICE, method="POST",
                              path=path) from None
        status = response.status_code
        detail = dict(service=SERVICE, method="POST", path=path, status=status, server_message=response.text[:300])
        if status == 429:
            retry = response.headers.get("retry-after")
            raise RateLimited(f"{SERVICE} rate-limited the relay (POST {path} → 429)",
                              retry_after=float(retry) if retry and retry.replace(".", "", 1).isdigit() else None,
                              **detail)
        if status >= 500:
            raise Unavailable(f"{SERVICE} failed (POST {path} → {status})", **detail)
        if status in (401, 403):
            raise Unauthorized(f"{SERVICE} refused the DSN's key (POST {path} → {status})", **detail)
        if status >= 400:
            raise Rejected(f"{SERVICE} rejected the event (POST {path} → {status})", **detail)
        return event["event_id"]

    def close(self) -> None:
        if self._own_http:
            self._http.close()

    def __enter__(self) -> "EventIngest":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
