"""Which metric query stands behind an alert, and whether its answer still holds for this alert. Pure logic.

A Prometheus alert carries its rule's expression in `generatorURL` (`/graph?g0.expr=...`); the expression
already holds the threshold (`sample_latency_seconds > 1`), so the alert's signal has cleared when the
expression no longer returns the alert's series. A `clear_query` annotation overrides it (the same rule: no
series of this alert in the answer means cleared), for Grafana alerts or rules whose expression is not enough.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

RULE_LABELS = frozenset({"alertname", "severity"})  # added by the rule, not by the series


def alert_query(labels: dict[str, Any], annotations: dict[str, Any], generator_url: str | None) -> str | None:
    """The query whose answer decides whether the alert still holds, or None when there is none."""
    override = str(annotations.get("clear_query") or "").strip()
    if override:
        return override
    if not generator_url:
        return None
    exprs = parse_qs(urlsplit(generator_url).query).get("g0.expr") or []
    return exprs[0].strip() or None if exprs else None


def prometheus_base(generator_url: str | None) -> str | None:
    """Prometheus's own address, as its generatorURL names it (scheme and host)."""
    if not generator_url:
        return None
    parts = urlsplit(generator_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or "g0.expr" not in parts.query:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def still_holds(series: list[dict], alert_labels: dict[str, Any]) -> bool:
    """Whether any returned series is this alert's: every label of the series (its name aside) has the alert's
    value. Rule labels the series lacks (alertname, severity) do not count against it."""
    wanted = {k: str(v) for k, v in alert_labels.items()}
    for item in series:
        metric = {k: str(v) for k, v in (item.get("metric") or {}).items() if k != "__name__"}
        if all(wanted.get(k) == v for k, v in metric.items() if k not in RULE_LABELS):
            return True
    return False
