"""Steps 6 and 7 of alert triage: is it real (with a confidence and the reason), and how bad, of which type,
where. Pure: the rules of the design, thresholds handed in (from settings).

Real: a failing health check; more errors than the threshold within the error window; critical with a stack
trace; latency over its baseline times the factor; a matched known issue that says so.
Not real: a deployment in progress; plain 4xx user errors other than 429; a pattern people marked a false
positive before. A single error with a stack trace is real but low priority.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from .alert_context import AlertContext
from .alert_health import HealthCheck, health_failing
from .alert_known import KnownMatch
from .alert_logs import LogSummary

SEVERITIES = ("critical", "high", "medium", "low")
TYPES = ("bug", "performance", "security", "infrastructure", "database")
_LABEL_SEVERITY = {"critical": "critical", "page": "critical", "fatal": "critical", "error": "high", "high": "high",
                   "major": "high", "warning": "medium", "warn": "medium", "medium": "medium", "minor": "low",
                   "info": "low", "low": "low", "none": "low"}
_TYPE_WORDS = [
    ("security", re.compile(r"auth(entication|orization)? fail|unauthori[sz]ed|forbidden|brute.?force|csrf|xss|"
                            r"injection|certificate|tls|ssl|suspicious|login fail|credential", re.I)),
    ("database", re.compile(r"database|postgres|mysql|\bsql\b|\bdb\b|db[-_]|deadlock|replication|querypool|"
                            r"connection pool|too many connections|\bpg_|slow quer", re.I)),
    ("performance", re.compile(r"latency|slow|timeout|p9[59]|duration|response time|saturat|throughput|"
                               r"memory|cpu|gc pause|queue (depth|length)|backlog", re.I)),
    ("infrastructure", re.compile(r"disk|filesystem|node|instance|down\b|unreachable|pod|container|oom|restart|"
                                  r"network|dns|kube|volume|host|target missing|\bup\b|health", re.I)),
]


@dataclass(frozen=True)
class Thresholds:
    error_count: int = 3
    latency_factor: float = 2.0
    error_rate_critical: float = 0.10
    error_rate_high: float = 0.05
    latency_high_ms: float = 2000.0

    @classmethod
    def from_settings(cls, s) -> "Thresholds":
        return cls(s.alert_error_threshold, s.alert_latency_factor, s.alert_error_rate_critical,
                   s.alert_error_rate_high, s.alert_latency_high_ms)


@dataclass(frozen=True)
class Decision:
    real: bool
    confidence: int
    reason: str
    low_priority: bool = False
    rules: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Category:
    severity: str
    type: str
    component: str
    labels: list[str]


def decide(ctx: AlertContext, logs: LogSummary, health: list[HealthCheck], known: KnownMatch | None,
           false_positives: int, t: Thresholds) -> Decision:
    """The first rule that applies decides; the others that agree are listed too."""
    errors = max(logs.errors_in_window, ctx.error_count or 0)
    stack = logs.has_stack_trace or bool(re.search(r"Traceback|Exception|\bat \w+\.", ctx.description))
    fired: list[tuple[bool, int, str, bool]] = []
    if false_positives:
        fired.append((False, 80, f"marked a false positive {false_positives} time(s) before", False))
    if ctx.deployment_in_progress:
        fired.append((False, 75, "a deployment is in progress", False))
    if (ctx.status_code is not None and 400 <= ctx.status_code < 500 and ctx.status_code != 429) or (
            ctx.status_code is None and logs.only_client_errors):
        codes = ctx.status_code or ", ".join(str(c) for c in sorted(logs.status_codes))
        fired.append((False, 70, f"plain client errors ({codes}), not the service's fault", False))
    if health_failing(health):
        names = ", ".join(c.name for c in health if not c.ok)
        fired.append((True, 95, f"health check failing: {names}", False))
    if known is not None:
        fired.append((known.real, 90, f"known issue {known.name!r}: {known.title}", False))
    if ctx.severity_label == "critical" and stack:
        fired.append((True, 90, "critical with a stack trace", False))
    if errors > t.error_count:
        fired.append((True, 85, f"{errors} errors around the alert (more than {t.error_count})", False))
    if ctx.latency_ms and ctx.baseline_latency_ms and ctx.latency_ms > t.latency_factor * ctx.baseline_latency_ms:
        fired.append((True, 80, f"latency {ctx.latency_ms:g} ms, over {t.latency_factor:g}× its baseline "
                                f"{ctx.baseline_latency_ms:g} ms", False))
    if ctx.error_rate is not None and ctx.error_rate >= t.error_rate_high:
        fired.append((True, 80, f"error rate {ctx.error_rate:.0%} (threshold {t.error_rate_high:.0%})", False))
    if errors == 1 and stack:
        fired.append((True, 60, "a single error with a stack trace: low priority", True))
    if not fired:
        severity = _LABEL_SEVERITY.get(ctx.severity_label, "")
        if severity in ("critical", "high"):
            fired.append((True, 60, f"the rule fired at severity {ctx.severity_label}; nothing contradicts it", False))
        elif ctx.latency_ms and ctx.baseline_latency_ms:
            fired.append((False, 60, "latency within its baseline", False))
        else:
            fired.append((False, 55, f"no evidence of impact (severity {ctx.severity_label or 'not set'}, "
                                     f"{errors} errors, health fine)", False))
    real, confidence, reason, low = fired[0]
    agreeing = [r for ok, _, r, _ in fired[1:] if ok == real]
    confidence = min(99, confidence + 3 * len(agreeing))
    return Decision(real, confidence, reason, low, [reason, *agreeing])


def categorize(ctx: AlertContext, logs: LogSummary, health: list[HealthCheck], known: KnownMatch | None,
               decision: Decision, t: Thresholds, default_labels: list[str] = ()) -> Category:
    severity = _severity(ctx, health, known, decision, t)
    kind = _type(ctx, logs, known)
    component = ctx.component or ctx.service or "unknown"
    labels = list(dict.fromkeys([*default_labels, f"severity:{severity}", f"type:{kind}", f"component:{component}",
                                 *([f"known:{known.name}"] if known else [])]))
    return Category(severity, kind, component, labels)


def _severity(ctx: AlertContext, health, known, decision: Decision, t: Thresholds) -> str:
    """Health down → critical; otherwise the worst of the known issue's, the error rate's and the latency's."""
    if health_failing(health):
        return "critical"
    if decision.low_priority or not decision.real:
        return "low"
    found: list[str] = []
    if known is not None and known.severity in SEVERITIES:
        found.append(known.severity)
    if ctx.error_rate is not None:
        if ctx.error_rate >= t.error_rate_critical:
            found.append("critical")
        elif ctx.error_rate >= t.error_rate_high:
            found.append("high")
    if ctx.latency_ms is not None and ctx.latency_ms >= t.latency_high_ms:
        found.append("critical" if _LABEL_SEVERITY.get(ctx.severity_label) == "critical" else "high")
    if found:
        return min(found, key=SEVERITIES.index)
    return _LABEL_SEVERITY.get(ctx.severity_label, "medium")


def _type(ctx: AlertContext, logs: LogSummary, known) -> str:
    if known is not None and known.category in TYPES:
        return known.category
    declared = ctx.labels.get("type") or ctx.labels.get("category")
    if declared in TYPES:
        return declared
    text = f"{ctx.name} {ctx.summary} {ctx.description} {ctx.component}"
    for kind, words in _TYPE_WORDS:
        if words.search(text):
            return kind
    if logs.has_stack_trace or ctx.error_count or ctx.error_rate is not None:
        return "bug"
    return "bug"


def as_record(decision: Decision, category: Category) -> dict:
    """What AlertEvent.decision stores and /alerts/history shows."""
    return {**asdict(decision), "severity": category.severity, "type": category.type,
            "component": category.component, "labels": category.labels}
