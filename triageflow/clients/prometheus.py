"""Prometheus's HTTP API: an instant query, to see whether the expression behind an alert still holds. Read-only."""

from __future__ import annotations

import httpx

from .errors import ClientError, Rejected, Unauthorized, Unavailable
from .tls import tls_context


class Prometheus:
    service = "prometheus"

    def __init__(self, base_url: str, *, timeout: float = 5, http: httpx.Client | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = http or httpx.Client(timeout=timeout, verify=tls_context())

    def __repr__(self) -> str:
        return f"Prometheus({self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "Prometheus":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def query(self, expr: str) -> list[dict]:
        """`GET /api/v1/query`: the series the expression returns now (each with `metric` labels and `value`)."""
        path = "/api/v1/query"
        kw = {"service": self.service, "method": "GET", "path": path}
        try:
            response = self._http.get(self.base_url + path, params={"query": expr})
        except httpx.HTTPError as exc:
            raise Unavailable(f"prometheus unreachable: {exc.__class__.__name__}", **kw) from None
        status = response.status_code
        if status >= 500:
            raise Unavailable(f"prometheus answered {status} (GET {path})", status=status, **kw)
        if status in (401, 403):
            raise Unauthorized(f"prometheus refused the request ({status})", status=status, **kw)
        try:
            body = response.json()
        except ValueError:
            raise ClientError(f"prometheus answered non-JSON on {path} ({status})", status=status, **kw) from None
        if status >= 400 or body.get("status") != "success":
            raise Rejected(f"prometheus rejected the query {expr!r}: {body.get('error') or status}", status=status, **kw)
        data = body.get("data") or {}
        if data.get("resultType") == "scalar":
            return [{"metric": {}, "value": data.get("result")}]
        return list(data.get("result") or [])
