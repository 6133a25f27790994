"""The steps of alert_triage that touch the world, each a Prefect task retried on transient failures only.

Clients are built inside (from settings), so no task receives a client; every change is audited and honours
dry-run; what is sent is scrubbed by the report builders.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff
from sqlmodel import select

from models.alerts import AlertEvent, KnownIssue
from models.db import session_scope
from triageflow.audit import audited
from triageflow.clients.alertmanager import alertmanager_from_settings
from triageflow.clients.github import github_from_settings
from triageflow.clients.loki import loki_from_settings
from triageflow.clients.slack import Slack
from triageflow.settings import load_settings

from .alert_context import AlertContext
from .alert_github import comment_once, issue_marker, open_or_comment
from .alert_health import HealthCheck, check_url, health_urls
from .alert_known import KnownMatch, match_known
from .alert_logs import LogSummary, logql_for, no_loki, summarize_logs
from .alert_report import (
    HistoryFacts,
    Triage,
    assignees_for,
    issue_body,
    issue_comment,
    issue_title,
    slack_blocks,
    slack_channel_for,
    slack_thread_text,
)
from .alert_store import _utc, earlier_events, issues_created_since, load_event, update_event
from .retry import transient_only

IO = dict(retries=3, retry_delay_seconds=exponential_backoff(1), retry_jitter_factor=0.5,
          retry_condition_fn=transient_only, cache_policy=NO_CACHE)


@task(name="alertmanager-state", **IO)
def alertmanager_state(fingerprint: str, source: str) -> dict:
    """Does Alertmanager still hold the alert, and is it silenced? `checked` False when it is not configured."""
    s = load_settings()
    am = alertmanager_from_settings(s) if source == "alertmanager" else None
    if am is None:
        return {"checked": False, "firing": True, "silenced": False, "note": "Alertmanager not asked"}
    with am:
        state = am.alert(fingerprint)
    if state is None:
        return {"checked": True, "firing": False, "silenced": False, "note": "no longer firing in Alertmanager"}
    return {"checked": True, "firing": True, "silenced": bool(state.silenced_by or state.state == "suppressed"),
            "note": f"Alertmanager: {state.state}" + (f", silenced by {state.silenced_by}" if state.silenced_by
                                                       else "")}


@task(name="read-logs", **IO)
def read_logs(ctx: AlertContext) -> LogSummary:
    s = load_settings()
    query = logql_for(ctx.annotations, ctx.service, s.alert_loki_queries)
    loki = loki_from_settings(s)
    if loki is None:
        return no_loki(query)
    with loki:
        lines = loki.logs(query, ctx.window_start, ctx.window_end)
    return summarize_logs(lines, query=query, alert_start=ctx.starts_at,
                          error_window=timedelta(minutes=s.alert_error_window_minutes))


@task(name="check-health", cache_policy=NO_CACHE)
def check_health(ctx: AlertContext) -> list[HealthCheck]:
    s = load_settings()
    urls = health_urls(s.alert_health_urls, ctx.service, ctx.annotations)
    return [check_url(name, url, s.alert_health_timeout) for name, url in urls.items()]


@task(name="alert-history", cache_policy=NO_CACHE)
def alert_history(event_id: int) -> HistoryFacts:
    s = load_settings()
    event = load_event(s.triage_database_url, event_id)
    earlier = earlier_events(s.triage_database_url, event)
    same = [e for e in earlier if e.fingerprint == event.fingerprint]
    starts = sorted(_utc(e.starts_at) for e in [*same, event])
    gaps = [(b - a).total_seconds() / 60 for a, b in zip(starts, starts[1:]) if b > a]
    open_issue = next((e.issue_url for e in same if e.issue_url and e.issue_closed_at is None), None)
    false_positives = sum(1 for e in earlier if e.false_positive)
    return HistoryFacts(len(earlier), sum(gaps) / len(gaps) if gaps else None, open_issue, false_positives,
                        _utc(earlier[0].starts_at).isoformat() if earlier else None)


def load_known_issues(database_url: str) -> list[KnownIssue]:
    with session_scope(database_url) as session:
        return list(session.exec(select(KnownIssue).order_by(KnownIssue.id)))


@task(name="match-known-issue", cache_policy=NO_CACHE)
def match_known_issue(ctx: AlertContext, logs: LogSummary) -> KnownMatch | None:
    s = load_settings()
    log_text = "\n".join([*logs.error_messages, *logs.stack_traces, logs.common_pattern])
    found = match_known(load_known_issues(s.triage_database_url), ctx.text, log_text, ctx.labels)
    if found is not None:
        with session_scope(s.triage_database_url) as session:
            row = session.get(KnownIssue, found.id)
            row.occurrences += 1
            row.last_seen = datetime.now(timezone.utc)
            session.add(row)
    return found


def _slack(s, channel: str) -> Slack | None:
    if not s.slack_bot_token or not channel:
        return None
    return Slack(s.slack_bot_token, channel, api_url=s.slack_api_url)


@task(name="post-slack-alert", **IO)
def post_slack_alert(t: Triage, dry_run: bool) -> str | None:
    """The alert message in its severity's channel, once (its ts is stored; a rerun replies nowhere new)."""
    s = load_settings()
    url = s.triage_database_url
    event = load_event(url, t.ctx.event_id)
    if event.slack_ts:
        return event.slack_ts
    channel = slack_channel_for(t.category.severity, s)
    slack = _slack(s, channel)
    if slack is None:
        return None
    text, blocks = slack_blocks(t, logs_url=t.ctx.annotations.get("logs_url"))
    with audited(url, "slack", "alert.post", f"alert:{t.ctx.fingerprint}", dry_run=dry_run,
                 detail={"channel": channel, "severity": t.category.severity}):
        ts = None if dry_run else slack.post_message(text, blocks)
    update_event(url, t.ctx.event_id, slack_channel=channel, slack_ts=ts)
    return ts


@task(name="reply-in-thread", **IO)
def reply_in_thread(event_id: int, text: str, dry_run: bool, *, also_resolved_channel: bool = False) -> bool:
    s = load_settings()
    event = load_event(s.triage_database_url, event_id)
    if not event.slack_ts or not event.slack_channel:
        return False
    slack = _slack(s, event.slack_channel)
    if slack is None:
        return False
    with audited(s.triage_database_url, "slack", "alert.reply", f"alert:{event.fingerprint}", dry_run=dry_run,
                 detail={"thread": event.slack_ts}):
        if not dry_run:
            slack.post_message(text, thread_ts=event.slack_ts)
            if also_resolved_channel and s.slack_channel_resolved:
                _slack(s, s.slack_channel_resolved).post_message(text)
    return not dry_run


def _open_issue_number(database_url: str, event: AlertEvent) -> int | None:
    """The open issue recorded for this fingerprint by an earlier alert, if any."""
    with session_scope(database_url) as session:
        rows = session.exec(select(AlertEvent).where(AlertEvent.fingerprint == event.fingerprint)
                            .where(AlertEvent.issue_number.is_not(None))
                            .where(AlertEvent.issue_closed_at.is_(None))
                            .where(AlertEvent.issue_action != "digest")).all()
    return max((r.issue_number for r in rows), default=None)


@task(name="file-github-issue", **IO)
def file_github_issue(t: Triage, dry_run: bool) -> dict:
    """One issue per fingerprint (the marker finds it after a crash); a repeat comments; over the hourly budget
    the alert goes into that hour's digest issue instead."""
    s = load_settings()
    url = s.triage_database_url
    event = load_event(url, t.ctx.event_id)
    if event.issue_number is not None:
        return {"action": "already", "number": event.issue_number, "url": event.issue_url}
    if not s.github_token or not s.github_repo:
        return {"action": "not configured", "number": None, "url": None}
    labels = [*(lbl for lbl in s.github_labels.split(",") if lbl.strip()), *t.category.labels]
    labels = list(dict.fromkeys(label.strip() for label in labels))
    marker = issue_marker("alert", t.ctx.fingerprint)
    with github_from_settings(s) as gh:
        known_number = _open_issue_number(url, event)
        if known_number is None:
            found = gh.find_open_issue(marker, labels=labels[:1])
            known_number = found.number if found else None
        now = datetime.now(timezone.utc)
        if known_number is None and issues_created_since(url, now - timedelta(hours=1)) >= s.alert_max_issues_per_hour:
            hour = now.strftime("%Y-%m-%dT%H")
            outcome = open_or_comment(
                gh, url, marker=issue_marker("alert-digest", hour), title=f"[digest] alerts over the hourly limit "
                f"({hour}:00 UTC)", body=f"More than {s.alert_max_issues_per_hour} alert issues in an hour; the rest "
                f"are listed here.\n\n- {issue_title(t)} (`{t.ctx.fingerprint}`)",
                comment=f"- {issue_title(t)} (`{t.ctx.fingerprint}`, event {t.ctx.event_id})",
                labels=[labels[0], "digest"], assignees=[], dry_run=dry_run)
            action = "digest"
        else:
            outcome = open_or_comment(
                gh, url, marker=marker, title=issue_title(t), body=issue_body(t), comment=issue_comment(t),
                labels=labels, assignees=assignees_for(t.category.component, s.github_assignees), dry_run=dry_run,
                known_number=known_number)
            action = outcome.action
    if outcome.number is not None:
        update_event(url, t.ctx.event_id, issue_number=outcome.number, issue_url=outcome.url, issue_action=action)
    return {"action": action, "number": outcome.number, "url": outcome.url}


@task(name="comment-resolved", **IO)
def comment_resolved(event_id: int, dry_run: bool) -> bool:
    s = load_settings()
    event = load_event(s.triage_database_url, event_id)
    if event.issue_number is None or event.issue_action == "digest" or not s.github_token:
        return False
    ended = _utc(event.ends_at or event.resolved_at)
    with github_from_settings(s) as gh:
        return comment_once(gh, s.triage_database_url, event.issue_number,
                            f"Resolved at {ended.isoformat() if ended else 'now'}: {event.name} "
                            f"(`{event.fingerprint}`) cleared.", issue_marker("resolved", str(event_id)),
                            dry_run=dry_run)


__all__ = ["alertmanager_state", "read_logs", "check_health", "alert_history", "match_known_issue",
           "post_slack_alert", "reply_in_thread", "file_github_issue", "comment_resolved", "slack_thread_text"]
