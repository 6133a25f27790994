"""Loki's `GET /loki/api/v1/query_range` (log streams and metric matrices), errors mapped onto the client family."""

from __future__ import annotations

from datetime import datetime, timezone

import httpx
from pydantic import BaseModel

from .errors import ClientError, NotFound, RateLimited, Rejected, Unauthorized, Unavailable
from .tls import tls_context


class LogLine(BaseModel):
    at: datetime
    line: str
    labels: dict[str, str] = {}


class MetricPoint(BaseModel):
    at: datetime
    value: float
    labels: dict[str, str] = {}


def _ns(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1_000_000_000))


class Loki:
    """A Loki server (or the sandbox's stand-in). Read-only: nothing here changes anything."""

    service = "loki"
    path = "/loki/api/v1/query_range"

    def __init__(self, base_url: str, *, timeout: float = 10, http: httpx.Client | None = None,
                 org_id: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"X-Scope-OrgID": org_id} if org_id else {}
        self._http = http or httpx.Client(timeout=timeout, headers=headers, verify=tls_context())

    def __repr__(self) -> str:
        return f"Loki({self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "Loki":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _query(self, query: str, start: datetime, end: datetime, limit: int, direction: str) -> dict:
        kw = {"service": self.service, "method": "GET", "path": self.path}
        params = {"query": query, "start": _ns(start), "end": _ns(end), "limit": limit, "direction": direction}
        try:
            response = self._http.get(self.base_url + self.path, params=params)
        except httpx.HTTPError as exc:
            raise Unavailable(f"loki unreachable: {exc.__class__.__name__}", **kw) from None
        status = response.status_code
        text = response.text[:300]
        if status >= 500:
            raise Unavailable(f"loki answered {status} (GET {self.path})", status=status, server_message=text, **kw)
        if status == 429:
            raise RateLimited("loki rate limited", status=429, server_message=text, **kw)
        if status in (401, 403):
            raise Unauthorized(f"loki refused the credentials ({status})", status=status, **kw)
        if status == 404:
            raise NotFound(f"loki has no {self.path} at {self.base_url} (404)", status=404, **kw)
        if status >= 400:
            raise Rejected(f"loki rejected the query ({status}): {text}", status=status, server_message=text, **kw)
        try:
            body = response.json()
            return body["data"]
        except (ValueError, KeyError, TypeError):
            raise ClientError(f"loki answered something that is not a query result: {text}", **kw) from None

    def logs(self, query: str, start: datetime, end: datetime, *, limit: int = 500) -> list[LogLine]:
        """Log lines of a LogQL stream query, newest first."""
        data = self._query(query, start, end, limit, "backward")
        if data.get("resultType") != "streams":
            raise Rejected(f"loki: {query!r} is a metric query (resultType {data.get('resultType')})",
                           service=self.service, method="GET", path=self.path)
        lines = [LogLine(at=datetime.fromtimestamp(int(ts) / 1e9, tz=timezone.utc), line=line,
                         labels=stream.get("stream", {}))
                 for stream in data.get("result", []) for ts, line in stream.get("values", [])]
        return sorted(lines, key=lambda item: item.at, reverse=True)[:limit]

    def metric(self, query: str, start: datetime, end: datetime) -> list[MetricPoint]:
        data = self._query(query, start, end, 1000, "forward")
        return [MetricPoint(at=datetime.fromtimestamp(float(ts), tz=timezone.utc), value=float(v),
                            labels=series.get("metric", {}))
                for series in data.get("result", []) for ts, v in series.get("values", [])]


def loki_from_settings(s) -> Loki | None:
    """None when LOKI_URL is not set: triage says so instead of failing."""
    return Loki(s.loki_url) if s.loki_url else None
