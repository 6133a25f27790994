"""What people read about an alert: the Slack Block Kit message (and its thread replies) and the GitHub issue
from the design's template. Pure; everything is scrubbed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from triageflow.scrub import scrub, scrub_data

from .alert_context import AlertContext
from .alert_decision import Category, Decision
from .alert_health import HealthCheck
from .alert_known import KnownMatch
from .alert_logs import LogSummary

SEVERITY_EMOJI = {"critical": "🔴", "high": "🟠", "medium": "🟡", "low": "🔵"}


@dataclass(frozen=True)
class HistoryFacts:
    earlier: int
    mean_minutes_between: float | None
    open_issue: str | None
    false_positives: int
    last_seen: str | None = None


@dataclass(frozen=True)
class RemediationFacts:
    action: str
    outcome: str  # cleared, not-cleared, failed, declined, dry-run, skipped
    check: str
    output: str = ""
    attempt_id: int | None = None


@dataclass(frozen=True)
class Triage:
    """Everything alert_triage found, in one value the reports are built from."""

    ctx: AlertContext
    logs: LogSummary
    health: list[HealthCheck]
    history: HistoryFacts
    known: KnownMatch | None
    decision: Decision
    category: Category
    remediation: RemediationFacts | None = None
    raw: dict = field(default_factory=dict)


def slack_channel_for(severity: str, s) -> str | None:
    """The channel for a severity; low goes with medium; each falls back to SLACK_CHANNEL."""
    chosen = {"critical": s.slack_channel_critical, "high": s.slack_channel_high,
              "medium": s.slack_channel_medium, "low": s.slack_channel_medium}.get(severity)
    return chosen or s.slack_channel


def _mrkdwn(text: str) -> str:
    return scrub(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_blocks(t: Triage, *, logs_url: str | None = None) -> tuple[str, list[dict]]:
    """(fallback text, blocks): header, facts, reason, logs, buttons to dashboard, logs and silence."""
    ctx, cat, d = t.ctx, t.category, t.decision
    emoji = SEVERITY_EMOJI.get(cat.severity, "⚪")
    verdict = "real" if d.real else "probably not real"
    title = f"{emoji} {cat.severity.upper()} {ctx.name} on {ctx.service or cat.component}"
    text = f"{title}: {verdict} ({d.confidence}%) — {d.reason}"
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": scrub(title)[:150], "emoji": True}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": f"*Severity*\n{cat.severity}"},
            {"type": "mrkdwn", "text": f"*Type*\n{cat.type}"},
            {"type": "mrkdwn", "text": f"*Component*\n{_mrkdwn(cat.component)}"},
            {"type": "mrkdwn", "text": f"*Verdict*\n{verdict} ({d.confidence}%)"}]},
        {"type": "section", "text": {"type": "mrkdwn", "text": _mrkdwn(
            f"*{ctx.summary or ctx.name}*\n{ctx.description}\nWhy: {d.reason}")[:2900]}},
    ]
    if t.logs.configured and t.logs.lines:
        top = t.logs.common_pattern or (t.logs.error_messages[:1] or [""])[0]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _mrkdwn(
            f"*Logs* {t.logs.lines} lines, {t.logs.per_minute}/min, {t.logs.distinct_users} users; "
            f"most common: `{top}`")[:2900]}})
    if t.known:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _mrkdwn(
            f"Known issue: {t.known.title}" + (f" — fix: {t.known.action} ({t.known.mode})" if t.known.action
                                               else ""))}]})
    buttons = []
    for label, url in (("Dashboard", ctx.links.get("dashboardURL") or ctx.links.get("generatorURL")),
                       ("Logs", logs_url), ("Silence", ctx.links.get("silenceURL"))):
        if url and url.startswith(("http://", "https://")):
            buttons.append({"type": "button", "text": {"type": "plain_text", "text": label}, "url": url[:3000],
                            "action_id": f"open_{label.lower()}"})
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn",
                                                     "text": f"alert {ctx.fingerprint} · event {ctx.event_id}"}]})
    return text, blocks


def slack_thread_text(kind: str, t: Triage | None = None, *, issue_url: str | None = None,
                      remediation: RemediationFacts | None = None, name: str = "") -> str:
    """The replies later steps post in the alert's thread."""
    if kind == "remediation" and remediation:
        verdict = {"cleared": "worked: the signal cleared", "not-cleared": "did not clear the signal",
                   "failed": "failed", "declined": "was declined", "dry-run": "was only simulated (dry-run)"}.get(
            remediation.outcome, remediation.outcome)
        return scrub(f"🔧 Remediation `{remediation.action}` {verdict} (checked: {remediation.check}).")
    if kind == "issue" and issue_url:
        return f"📝 GitHub issue: {issue_url}"
    if kind == "resolved":
        return scrub(f"✅ Resolved: {name} cleared" + (f" — {issue_url}" if issue_url else "") + ".")
    return kind


def issue_title(t: Triage) -> str:
    return scrub(f"[{t.category.severity}] {t.ctx.name}: {t.ctx.summary or t.ctx.service}")[:250]


def _section(title: str, body: str) -> str:
    return f"## {title}\n\n{body.strip() or '_nothing found_'}\n"


def issue_body(t: Triage) -> str:
    """The design's template: summary, impact, error details, stack trace, investigation, log query and samples,
    history, remediation, known issue, recommended actions, alert id, raw payload folded."""
    ctx, logs, d, cat = t.ctx, t.logs, t.decision, t.category
    health = "\n".join(f"- {h.name}: {'ok' if h.ok else 'FAILING'} ({h.status or h.error}, {h.latency_ms:g} ms)"
                       for h in t.health) or "- no health URL configured for this service"
    impact = [f"- severity **{cat.severity}**, type **{cat.type}**, component **{cat.component}**",
              f"- verdict: {'real' if d.real else 'probably not real'} ({d.confidence}%): {d.reason}"]
    if ctx.error_rate is not None:
        impact.append(f"- error rate {ctx.error_rate:.1%}")
    if ctx.latency_ms is not None:
        impact.append(f"- latency {ctx.latency_ms:g} ms" + (f" (baseline {ctx.baseline_latency_ms:g} ms)"
                                                          if ctx.baseline_latency_ms else ""))
    if logs.lines:
        impact.append(f"- {logs.lines} error lines, {logs.distinct_users} distinct users, endpoints: "
                      f"{', '.join(logs.endpoints) or '—'}")
    details = [f"- alert `{ctx.name}` since {ctx.starts_at.isoformat()}", *(f"- {k}: `{v}`" for k, v in
                                                                            sorted(ctx.labels.items()))]
    details += [f"- {m}" for m in logs.error_messages[:5]]
    stack = "\n\n".join(f"```\n{s}\n```" for s in logs.stack_traces) or "_no stack trace in the logs_"
    if not logs.configured:
        log_part = logs.note
    else:
        samples = "\n".join(logs.samples) or "(no lines)"
        log_part = (f"Query: `{logs.query}` ({ctx.window_start:%H:%M}–{ctx.window_end:%H:%M} UTC)\n\n"
                    f"- lines: {logs.lines}, {logs.per_minute}/min, first {logs.first_at}, last {logs.last_at}\n"
                    f"- most common pattern: `{logs.common_pattern}`\n\n```\n{samples}\n```")
    h = t.history
    history = (f"- {h.earlier} earlier alert(s) of this fingerprint or name"
               + (f", about every {h.mean_minutes_between:.0f} min" if h.mean_minutes_between else "")
               + (f"\n- marked a false positive {h.false_positives} time(s)" if h.false_positives else ""))
    if t.remediation:
        r = t.remediation
        remediation = (f"- action `{r.action}`: **{r.outcome}** (signal checked: {r.check})"
                       + (f" — attempt #{r.attempt_id}" if r.attempt_id else "")
                       + (f"\n\n```\n{scrub(r.output)[:3000]}\n```" if r.output else ""))
    else:
        remediation = "- none attempted"
    known = (f"- **{t.known.title}** (`{t.known.name}`, pattern `{t.known.pattern}` on {t.known.field})"
             if t.known else "- no known issue matched")
    actions = []
    if t.known and t.known.recommendation:
        actions.append(f"- {t.known.recommendation}")
    if ctx.links.get("runbook_url"):
        actions.append(f"- follow the runbook: {ctx.links['runbook_url']}")
    actions.append("- check the dashboard and the logs above; close this issue when the cause is fixed")
    raw = json.dumps(scrub_data(t.raw), indent=2, default=str)[:20000]
    return "\n".join([
        _section("Summary", f"{ctx.summary or ctx.name}\n\n{ctx.description}"),
        _section("Impact", "\n".join(impact)),
        _section("Error details", "\n".join(details)),
        _section("Stack trace", stack),
        _section("Investigation results", health),
        _section("Log query and sample lines", log_part),
        _section("History", history),
        _section("Remediation", remediation),
        _section("Known-issue match", known),
        _section("Recommended actions", "\n".join(actions)),
        _section("Alert", f"- fingerprint `{ctx.fingerprint}`, event {ctx.event_id}"),
        f"<details><summary>Raw payload</summary>\n\n```json\n{raw}\n```\n</details>",
    ])


def issue_comment(t: Triage) -> str:
    """On the open issue of a fingerprint that fires again."""
    extra = f"; remediation {t.remediation.action}: {t.remediation.outcome}" if t.remediation else ""
    return scrub(f"Fired again at {t.ctx.starts_at.isoformat()} (event {t.ctx.event_id}): {t.decision.reason}"
                 f"{extra}; {t.logs.lines} log lines.")


def assignees_for(component: str, setting: str) -> list[str]:
    """`GITHUB_ASSIGNEES`: `component=login,...`; `*=login` for every other component."""
    pairs = [p.split("=", 1) for p in setting.split(",") if "=" in p]
    chosen = [login.strip() for key, login in pairs if key.strip() == component]
    return chosen or [login.strip() for key, login in pairs if key.strip() == "*"]
