"""daily_metrics: the morning report — what broke, where, and whether it is getting worse."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import date, datetime, timedelta, timezone
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from tasks.flow_health import WATCHED
from tasks.artifacts import publish_markdown
from tasks.chart import components_chart
from tasks.metrics import Thresholds, Window, aggregate, daily_counts, window_for
from tasks.metrics_collect import MIX_BUDGET, Collected, collect, previous_report_at
from tasks.metrics_report import markdown, slack_blocks, telegram_html
from tasks.metrics_store import delivered, load_history, mark_delivery, previous_statuses, save_report
from tasks.retry import transient_only
from tasks.similarity import issue_link
from triageflow.audit import acting_as, audited
from triageflow.once import once as claim_once
from triageflow.clients.errors import Unavailable
from triageflow.progress import report
from triageflow.clients.glitchtip import GlitchTip, glitchtip_from_settings
from triageflow.clients.slack import slack_from_settings
from triageflow.clients.telegram import telegram_from_settings
from triageflow.scrub import scrub
from triageflow.settings import load_settings

LOOKBACK_DAYS = 14
ALIGN_WITHIN = timedelta(hours=1)
EVENT_BUDGET = 200  # event pages a report may read when no cheaper exact source knows an issue's count


class ReportNotDelivered(RuntimeError):
    """The report was built and stored, but a channel did not get it."""


@task(name="collect-events", retries=2, retry_delay_seconds=exponential_backoff(2), retry_condition_fn=transient_only,
      cache_policy=NO_CACHE)
def collect_events(gt: GlitchTip, since: datetime) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Every event since `since` of every issue seen since then (events come newest first: stop at `since`).
    The bot's /stats reads this way; the report does not (see `collect_counts`).

    The server ignores `age:` searches, so the window is cut here from lastSeen and event dates.
    """
    rows, meta = [], {}
    for issue in gt.issues(None):
        if issue.last_seen < since:
            continue
        components = []
        for event in gt.events(issue.id):
            if event.date_created < since:
                break
            tags = {t.key: t.value for t in event.tags}
            component = tags.get("component") or issue.project.slug
            components.append(component)
            rows.append({"issue_id": issue.id, "at": event.date_created, "component": component,
                         "service": tags.get("server_name") or tags.get("service") or "unknown",
                         "level": issue.level, "project": issue.project.slug})
        meta[issue.id] = {"title": scrub(issue.title), "level": issue.level, "first_seen": issue.first_seen,
                          "status": issue.status,
                          "component": max(set(components), key=components.count) if components else issue.project.slug}
    return rows, meta


@task(name="collect-counts", retries=2, retry_delay_seconds=exponential_backoff(2), retry_condition_fn=transient_only,
      cache_policy=NO_CACHE)
def collect_counts(gt: GlitchTip, database_url: str, window: Window, since: datetime, event_budget: int,
                   snapshot: bool, mix_budget: int | None = MIX_BUDGET) -> Collected:
    """Issues changed since the last pass, then each active issue's count from its cheapest exact source."""
    logger = get_run_logger()
    last_logged: dict[str, int] = {}

    def progress(what: str, done: int, total: int) -> None:
        report(what, done, total)
        if done == total or done - last_logged.get(what, 0) >= 500:
            last_logged[what] = done
            logger.info("%s: %d%s", what, done, f" of {total}" if total else "")

    return collect(gt, database_url, window, since, event_budget=event_budget, mix_budget=mix_budget,
                   snapshot=snapshot, progress=progress)


def since_previous_report(window: Window, previous: datetime | None, period: str, day: date | None) -> Window:
    """A rolling daily window starts where the previous report counted (when that was about a day ago),
    so stored counts give exact deltas instead of a few seconds' overlap or gap."""
    if period != "daily" or day is not None or previous is None:
        return window
    if abs(previous - window.start) > ALIGN_WITHIN or previous >= window.end:
        return window
    return Window(previous, window.end, window.day, window.period)


def deliver_once(channel: str, parts: list[tuple[str, Callable[[dict[str, str]], str]]], *, period: str,
                 day: date, dry_run: bool, force: bool, database_url: str, detail: dict) -> str:
    """Send a day's report to one channel unless it already went there: recorded, audited, dry-run-able.

    Each part (the text, then the chart) is claimed on its own (`report:<period>:<day>:<part>:<channel>`),
    so a retry after a failed chart sends the chart only; a part gets the references of those before it.
    """
    if not force and delivered(database_url, period, day, channel):
        return "already sent"
    with audited(database_url, channel, "report.send", f"{period}:{day}", dry_run=dry_run, detail=detail) as entry:
        if dry_run:
            return "dry-run"
        mark_delivery(database_url, period, day, channel, "sending")
        references: dict[str, str] = {}
        for part, send in parts:
            if force:
                references[part] = send(references)
                continue
            with claim_once(database_url, f"report:{period}:{day}:{part}:{channel}") as claim:
                if claim:
                    claim.detail["reference"] = send(references)
                elif claim.state == "busy":
                    raise Unavailable(f"{channel}: the {part} of the {period} report {day} is being sent by "
                                      "another run", service=channel)
                references[part] = claim.detail.get("reference") or ""
        reference = " ".join(f"{part} {ref}" for part, ref in references.items())
        entry.detail["reference"] = reference
        mark_delivery(database_url, period, day, channel, "sent", reference)
        return "sent"


@task(name="send-telegram", retries=2, retry_delay_seconds=exponential_backoff(2), retry_condition_fn=transient_only,
      cache_policy=NO_CACHE)
def send_telegram(html: str, chart: bytes, caption: str, buttons: list, **once) -> str:
    client = telegram_from_settings(load_settings())
    parts = [("text", lambda refs: f"message {client.send_message(html, buttons)}"),
             ("chart", lambda refs: f"photo {client.send_photo(chart, caption)}")]
    return deliver_once("telegram", parts, detail={"chars": len(html)}, **once)


@task(name="send-slack", retries=2, retry_delay_seconds=exponential_backoff(2), retry_condition_fn=transient_only,
      cache_policy=NO_CACHE)
def send_slack(text: str, blocks: list, chart: bytes, **once) -> str:
    client = slack_from_settings(load_settings())
    day = once["day"]
    parts = [("text", lambda refs: client.post_message(text, blocks)),
             ("chart", lambda refs: client.upload_file(chart, f"errors-{day}.png", f"Errors per day by component to {day}",
                                                       thread_ts=refs.get("text") or None))]
    return deliver_once("slack", parts, detail={"blocks": len(blocks)}, **once)


def build_report(collected: Collected, window, s, thresholds: Thresholds, period: str):
    """The report against its history (on a first pass, earlier days never reported are rebuilt from the events)."""
    frame, meta = collected.frame, collected.meta
    before = previous_statuses(s.triage_database_url)
    resolved = {i for i, m in meta.items() if m["status"] == "resolved" and before.get(i) == "unresolved"}
    reopened = {i for i, m in meta.items() if m["status"] == "unresolved" and before.get(i) == "resolved"}
    rebuild = period == "daily" and collected.backfilled
    backfill = daily_counts(frame, window.end, window.day, LOOKBACK_DAYS).to_dict("records") if rebuild else []
    history = load_history(s.triage_database_url, period, window.day - timedelta(days=LOOKBACK_DAYS * 7))
    # without a rebuild, the history is complete where the previous day was reported
    complete = period == "daily" and (rebuild or any(window.previous.day in days for days in history.values()))
    for row in backfill:
        history.setdefault(row["component"], {}).setdefault(row["day"], row["error_count"])
    earlier = {c: {d: n for d, n in days.items() if d < window.day} for c, days in history.items()}
    report = aggregate(frame, meta, window, history=earlier, thresholds=thresholds, resolved_ids=resolved,
                       reopened_ids=reopened, link=lambda i: issue_link(s.glitchtip_url, s.glitchtip_org, i),
                       history_is_complete=complete, back_after_quiet=collected.plan.back_after_quiet)
    report.notes += collected.notes
    if not before:
        report.notes.append("Resolved counts start with the next report (no earlier statuses to compare).")
    chart_counts = {c: dict(days) for c, days in earlier.items()}
    for c in report.components:
        chart_counts.setdefault(c.component, {})[window.day] = c.events
    return report, backfill, chart_counts


def deliver_report(report, chart: bytes, s, *, dry: bool, force: bool) -> tuple[dict[str, str], list[str]]:
    """Each configured channel, each on its own: one that is down does not keep the report from the other."""
    window = report.window
    top = report.top_issues[0] if report.top_issues else None
    buttons = [[(f"🔎 Investigate #{top.issue_id}", f"investigate:{top.issue_id}"),
                ("Open in GlitchTip", top.link)]] if top else []
    html = telegram_html(report)
    fallback, blocks = slack_blocks(report)
    if dry:
        print(html)
    once = dict(period=window.period, day=window.day, dry_run=dry, force=force, database_url=s.triage_database_url)
    channels = {
        "telegram": (s.telegram_bot_token and s.telegram_chat_id, lambda: send_telegram(
            html, chart, f"<b>Errors per day by component, to {window.day}</b>", buttons, **once)),
        "slack": (s.slack_bot_token and s.slack_channel, lambda: send_slack(fallback, blocks, chart, **once)),
    }
    outcomes: dict[str, str] = {}
    failures: list[str] = []
    with acting_as(f"flow:{window.period}-metrics"):
        for name, (configured, send_it) in channels.items():
            if not configured:
                outcomes[name] = "not configured"
                continue
            try:
                outcomes[name] = send_it()
            except Exception as exc:  # noqa: BLE001 - recorded, and the run fails after the other channel
                mark_delivery(s.triage_database_url, window.period, window.day, name, "failed", str(exc))
                outcomes[name] = "failed"
                failures.append(f"{name}: {exc}")
    return outcomes, failures


def build_and_send(day: date | None, hours: int, send: bool, dry_run: bool | None, force: bool, period: str,
                   thresholds: Thresholds, event_budget: int = EVENT_BUDGET, mix_budget: int = MIX_BUDGET) -> dict:
    s = load_settings()
    dry = s.triage_dry_run if dry_run is None else dry_run
    window = window_for(day, hours, datetime.now(timezone.utc), period)
    with glitchtip_from_settings(s) as gt:  # GlitchTip down: the run fails here, before anything is written
        if not gt.supports_issues_stats:  # 5.1 counts the rolling 24 h itself; elsewhere start at the last count
            window = since_previous_report(window, previous_report_at(s.triage_database_url), period, day)
        collected = collect_counts(gt, s.triage_database_url, window,
                                   min(window.start, window.end - timedelta(days=LOOKBACK_DAYS)), event_budget,
                                   snapshot=period == "daily", mix_budget=mix_budget)
    report, backfill, chart_counts = build_report(collected, window, s, thresholds, period)
    save_report(s.triage_database_url, report, backfill, {i: m["status"] for i, m in collected.meta.items()})
    chart = components_chart(chart_counts, window.day)
    text = markdown(report)
    publish_markdown(f"{period}-metrics", text, f"{period} error report {window.day}")
    create_table_artifact(key=f"{period}-metrics-components", table=[asdict(c) for c in report.components],
                          description=f"{period} errors by component, {window.day}")
    outcomes, failures = deliver_report(report, chart, s, dry=dry, force=force) if send else ({}, [])
    get_run_logger().info("%s report %s: %d events, %d issues; delivery %s", period, window.day,
                          report.total_events, report.total_issues, outcomes)
    if failures:
        raise ReportNotDelivered(f"report for {window.day} stored but not delivered to " + "; ".join(failures))
    return {"day": window.day.isoformat(), "total_events": report.total_events, "total_issues": report.total_issues,
            "components": [asdict(c) for c in report.components], "top_issues": [asdict(i) for i in report.top_issues],
            "new_issues": [i.issue_id for i in report.new_issues], "regressed": [i.issue_id for i in report.regressed],
            "resolved": report.resolved, "quiet": report.quiet, "delivery": outcomes, "markdown": text,
            "telegram_html": telegram_html(report), "dry_run": dry, "notes": report.notes,
            "sources": {src: len(collected.plan.by_source(src)) for src in ("new", "delta", "stats", "events", "estimate")},
            "mix_read": len(collected.plan.read_mix), "mix_estimated": len(collected.plan.unmixed)}


@flow(name="daily-metrics", log_prints=True, **WATCHED)
def daily_metrics(day: date | None = None, hours: int = 24, send: bool = True, dry_run: bool | None = None,
                  force: bool = False, p1_events: int = 50, p2_events: int = 10, rise_factor: float = 2.0,
                  event_budget: int = EVENT_BUDGET, mix_budget: int = MIX_BUDGET) -> dict:
    """The last `hours` (or the given UTC day) by component, service and level, against history; sent once.
    `mix_budget`: tag reads for the component/service mix of issues never read before (the most events first)."""
    return build_and_send(day, hours, send, dry_run, force, "daily", Thresholds(p1_events, p2_events, rise_factor),
                          event_budget, mix_budget)


@flow(name="weekly-metrics", log_prints=True, **WATCHED)
def weekly_metrics(week_ending: date | None = None, send: bool = True, dry_run: bool | None = None,
                   force: bool = False, p1_events: int = 300, p2_events: int = 60, rise_factor: float = 1.5) -> dict:
    """The last seven days, week over week; the same pieces as the daily report."""
    return build_and_send(week_ending, 24 * 7, send, dry_run, force, "weekly",
                          Thresholds(p1_events, p2_events, rise_factor))
