"""The weekly health report: this week against last — runs, success, durations, slow runs, and the
success metrics (helpfulness, runbook link accuracy, MTTR per component, alert- vs report-first issues).

Everything here is pure: the flow hands in what it read.
"""

from __future__ import annotations

import io
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from triageflow.scrub import scrub  # noqa: E402

from .health_report import FlowStats, Outcomes, change  # noqa: E402

HELPFUL_TARGET = 0.8


@dataclass(frozen=True)
class Resolution:
    issue_id: str
    component: str
    first_seen: datetime
    resolved_at: datetime
    exact: bool  # resolved through triageflow (audited time) rather than estimated from lastSeen


def mttr_by_component(resolutions: list[Resolution]) -> dict[str, float]:
    """Mean hours from first seen to resolved, per component."""
    hours: dict[str, list[float]] = {}
    for r in resolutions:
        hours.setdefault(r.component, []).append(max((r.resolved_at - r.first_seen).total_seconds(), 0) / 3600)
    return {c: statistics.fmean(v) for c, v in sorted(hours.items())}


def first_seen_channel(first_seen: datetime, alerted_at: datetime | None, reports: list[datetime]) -> str:
    """How the team first heard of an issue: "alert", "daily report", or "not yet" (neither so far)."""
    report = min((t for t in reports if t >= first_seen), default=None)
    if alerted_at is not None and (report is None or alerted_at <= report):
        return "alert"
    return "daily report" if report is not None else "not yet"


@dataclass
class WeeklyHealth:
    start: datetime
    end: datetime
    flows: list[FlowStats]
    previous: dict[str, FlowStats]
    outcomes: Outcomes
    previous_outcomes: Outcomes
    mttr: dict[str, float] = field(default_factory=dict)
    previous_mttr: dict[str, float] = field(default_factory=dict)
    first_seen: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def report_first_share(self) -> float | None:
        known = self.first_seen.get("alert", 0) + self.first_seen.get("daily report", 0)
        return self.first_seen.get("daily report", 0) / known if known else None

    @property
    def slow(self) -> list[tuple[str, float, float]]:
        """(flow, seconds, threshold) of every run over its flow's threshold."""
        return [(f.flow, r.duration_s, f.slow_threshold_s) for f in self.flows for r in f.slow]


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v * 100:.0f} %"


def _s(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f} s"


def rows(w: WeeklyHealth) -> list[dict]:
    """One row per flow, with last week's figures beside."""
    out = []
    for f in w.flows:
        p = w.previous.get(f.flow)
        out.append({"flow": f.flow, "runs": f.runs, "runs_change": change(f.runs, p.runs if p else None),
                    "success": _pct(f.success_rate),
                    "success_change": change(f.success_rate, p.success_rate if p else None),
                    "median": _s(f.median_s), "median_change": change(f.median_s, p.median_s if p else None),
                    "failed": f.failed, "slow": len(f.slow)})
    return out


def metric_lines(w: WeeklyHealth) -> list[tuple[str, str, str]]:
    """(metric, this week, change) for the success metrics."""
    o, p = w.outcomes, w.previous_outcomes
    helpful = _pct(o.helpful_share) + (f" of {o.rated} rated (target ≥ {HELPFUL_TARGET:.0%})" if o.rated else "")
    return [
        ("investigations", str(o.investigations), change(o.investigations, p.investigations)),
        ("investigation cache hit ratio", _pct(o.cache_hit_ratio), change(o.cache_hit_ratio, p.cache_hit_ratio)),
        ("investigations found helpful", helpful, change(o.helpful_share, p.helpful_share)),
        ("runbook links added", str(o.links_added), change(o.links_added, p.links_added)),
        ("runbook link accuracy", _pct(o.link_accuracy), change(o.link_accuracy, p.link_accuracy)),
        ("issues created", str(o.issues_created), change(o.issues_created, p.issues_created)),
        ("new issues first seen in a daily report", _pct(w.report_first_share), ""),
    ]


def markdown(w: WeeklyHealth, chart_uri: str | None = None) -> str:
    lines = [f"# triageflow health, {w.start:%Y-%m-%d} – {w.end:%Y-%m-%d}", "",
             "| flow | runs | Δ | success | Δ | median | Δ | failed | slow |", "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['flow']} | {r['runs']} | {r['runs_change']} | {r['success']} | {r['success_change']} | "
              f"{r['median']} | {r['median_change']} | {r['failed']} | {r['slow']} |" for r in rows(w)]
    lines += ["", "| metric | this week | Δ |", "|---|---|---|"]
    lines += [f"| {m} | {v} | {c} |" for m, v, c in metric_lines(w)]
    if w.mttr:
        lines += ["", "| component | MTTR (h) | Δ |", "|---|---|---|"]
        lines += [f"| {c} | {h:.1f} | {change(h, w.previous_mttr.get(c))} |" for c, h in w.mttr.items()]
    if w.slow:
        lines += ["", "**Slow runs (warnings):**"] + [f"- {f}: {s:.1f} s (threshold {t:g} s)" for f, s, t in w.slow]
    lines += [f"\n_{n}_" for n in w.notes]
    if chart_uri:
        lines += ["", f"![runs per flow]({chart_uri})"]
    return scrub("\n".join(lines))


def telegram_html(w: WeeklyHealth) -> str:
    h = lambda t: escape(scrub(str(t)), quote=False)  # noqa: E731
    lines = [f"<b>🩺 triageflow health, {w.start:%d %b} – {w.end:%d %b %Y}</b>", ""]
    for r in rows(w):
        lines.append(f"<b>{h(r['flow'])}</b>: {r['runs']} runs ({h(r['runs_change'])}), success {h(r['success'])} "
                     f"({h(r['success_change'])}), median {h(r['median'])}" + (f", ⚠️ {r['slow']} slow" if r["slow"] else ""))
    if not w.flows:
        lines.append("No flow runs recorded this week.")
    lines.append("")
    lines += [f"{h(m)}: <b>{h(v)}</b>" + (f" ({h(c)})" if c else "") for m, v, c in metric_lines(w)]
    if w.mttr:
        lines.append("MTTR: " + h(", ".join(f"{c} {v:.1f} h" for c, v in w.mttr.items())))
    if w.slow:
        lines.append("⚠️ Slow: " + h("; ".join(f"{f} {s:.0f} s > {t:g} s" for f, s, t in w.slow[:10])))
    return "\n".join(lines)[:4000]


def plain_text(w: WeeklyHealth) -> str:
    import re

    return re.sub(r"</?[a-z]+[^>]*>", "", telegram_html(w)).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def chart(w: WeeklyHealth) -> bytes:
    """Runs per flow, this week against last, failures stacked in red."""
    names = [f.flow for f in w.flows] or ["(no runs)"]
    x = range(len(names))
    this_ok = [f.runs - f.failed for f in w.flows] or [0]
    this_bad = [f.failed for f in w.flows] or [0]
    last = [w.previous[f].runs if f in w.previous else 0 for f in names]
    fig, ax = plt.subplots(figsize=(9, 4), dpi=100)
    ax.bar([i - 0.2 for i in x], last, width=0.4, color="#b0bec5", label="last week")
    ax.bar([i + 0.2 for i in x], this_ok, width=0.4, color="#43a047", label="this week: ok")
    ax.bar([i + 0.2 for i in x], this_bad, width=0.4, bottom=this_ok, color="#e53935", label="this week: failed")
    ax.set_xticks(list(x), names, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("runs")
    ax.set_title(f"triageflow runs per flow, week to {w.end:%d %b %Y}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def weeks(end: datetime) -> tuple[tuple[datetime, datetime], tuple[datetime, datetime]]:
    week = timedelta(days=7)
    return (end - week, end), (end - 2 * week, end - week)
