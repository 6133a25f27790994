"""Alertmanager (webhook v4) and Grafana unified-alerting bodies → one `InboundAlert` per alert. Pure.

A POST carries a whole group, firing and resolved alerts mixed; each alert is keyed by its fingerprint
and `startsAt` (tests/fixtures/peers/alerting/NOTES.md).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .alerts import WebhookError

ZERO_TIME = "0001-01-01T00:00:00Z"
GROUP_FIELDS = ("receiver", "status", "groupLabels", "commonLabels", "commonAnnotations", "externalURL", "version",
                "groupKey", "truncatedAlerts", "orgId", "title", "state", "message")
ALERT_LINKS = ("generatorURL", "silenceURL", "dashboardURL", "panelURL", "imageURL")


@dataclass(frozen=True)
class InboundAlert:
    source: str
    fingerprint: str
    status: str  # firing | resolved
    starts_at: datetime
    ends_at: datetime | None
    labels: dict[str, str]
    annotations: dict[str, str]
    values: dict[str, float] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")

    @property
    def service(self) -> str:
        return self.labels.get("service") or self.labels.get("job") or self.labels.get("component") or ""


def parse_time(value: Any, where: str) -> datetime | None:
    """RFC 3339 as both senders write it; Alertmanager's zero time means "not set"."""
    if value in (None, "", ZERO_TIME) or (isinstance(value, str) and value.startswith("0001-01-01")):
        return None
    if not isinstance(value, str):
        raise WebhookError(where, "must be an RFC 3339 time string")
    text = value.strip().replace("Z", "+00:00")
    if "." in text:  # Go writes up to nine fractional digits; Python reads six
        head, _, rest = text.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits):]
        text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise WebhookError(where, f"not an RFC 3339 time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _string_map(value: Any, where: str, *, required: bool = False) -> dict[str, str]:
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise WebhookError(where, "must be an object of strings")
    return {str(k): str(v) for k, v in value.items()}


def _values(alert: dict[str, Any], where: str) -> dict[str, float]:
    """Grafana's `values` map (refId → number), or the older `valueString` ("[ var='B' ... value=44.2 ]")."""
    raw = alert.get("values")
    out: dict[str, float] = {}
    if isinstance(raw, dict):
        for key, number in raw.items():
            try:
                out[str(key)] = float(number)
            except (TypeError, ValueError):
                raise WebhookError(f"{where}.values.{key}", "must be a number") from None
    elif isinstance(alert.get("valueString"), str):
        for chunk in alert["valueString"].split("["):
            ref = chunk.split("var='", 1)[1].split("'", 1)[0] if "var='" in chunk else None
            val = chunk.split("value=", 1)[1].split()[0].rstrip("]") if "value=" in chunk else None
            if ref and val:
                try:
                    out[ref] = float(val)
                except ValueError:
                    pass
    return out


def _fingerprint(labels: dict[str, str]) -> str:
    """When a sender gives none: stable per label set, like Alertmanager's own."""
    return hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]


def parse_alert_group(body: Any, source: str) -> list[InboundAlert]:
    """Every alert of an Alertmanager v4 (`source="alertmanager"`) or Grafana (`"grafana"`) body."""
    if not isinstance(body, dict):
        raise WebhookError("body", "must be a JSON object")
    version = str(body.get("version", ""))
    if source == "alertmanager" and version != "4":
        raise WebhookError("version", f"must be \"4\" (Alertmanager webhook version 4), got {version or 'nothing'!r}")
    alerts = body.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        raise WebhookError("alerts", "must be a non-empty list")
    group = {k: body[k] for k in GROUP_FIELDS if k in body}
    parsed = []
    for i, alert in enumerate(alerts):
        where = f"alerts[{i}]"
        if not isinstance(alert, dict):
            raise WebhookError(where, "must be an object")
        status = alert.get("status")
        if status not in ("firing", "resolved"):
            raise WebhookError(f"{where}.status", f"must be 'firing' or 'resolved', got {status!r}")
        labels = _string_map(alert.get("labels"), f"{where}.labels", required=True)
        if not labels.get("alertname"):
            raise WebhookError(f"{where}.labels.alertname", "is required")
        starts_at = parse_time(alert.get("startsAt"), f"{where}.startsAt")
        if starts_at is None:
            raise WebhookError(f"{where}.startsAt", "is required")
        ends_at = parse_time(alert.get("endsAt"), f"{where}.endsAt")
        fingerprint = alert.get("fingerprint") or _fingerprint(labels)
        if not isinstance(fingerprint, str) or len(fingerprint) > 100:
            raise WebhookError(f"{where}.fingerprint", "must be a string of at most 100 characters")
        links = {k: alert[k] for k in ALERT_LINKS if isinstance(alert.get(k), str) and alert[k]}
        parsed.append(InboundAlert(
            source=source, fingerprint=fingerprint, status=status, starts_at=starts_at,
            ends_at=ends_at if status == "resolved" else None, labels=labels,
            annotations=_string_map(alert.get("annotations"), f"{where}.annotations"),
            values=_values(alert, where), links=links, raw={"alert": alert, "group": group}))
    return parsed
