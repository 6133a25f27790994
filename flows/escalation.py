"""escalation_pass: GlitchTip alerts on new issues, not when an open one spreads — this pass does.

Each open issue's events and users against the last pass; one alert when it crosses the velocity
threshold, none again until it calms down; none at all while a person has snoozed it.
"""

from __future__ import annotations

from datetime import datetime, timezone
from html import escape

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff
from sqlmodel import select

from models.db import session_scope
from models.flow_health import EscalationState
from tasks.escalation import Counts, LastPass, Thresholds, Verdict, judge
from tasks.flow_health import WATCHED, note_summary
from tasks.health_alerts import alert
from tasks.retry import transient_only
from tasks.similarity import issue_link
from triageflow.clients.glitchtip import GlitchTip, glitchtip_from_settings
from triageflow.scrub import scrub
from triageflow.settings import load_settings
from triageflow.snooze import is_snoozed


@task(name="read-open-issues", retries=2, retry_delay_seconds=exponential_backoff(2),
      retry_condition_fn=transient_only, cache_policy=NO_CACHE)
def read_open_issues(gt: GlitchTip) -> tuple[list[Counts], dict[str, str]]:
    counts, titles = [], {}
    for issue in gt.issues("is:unresolved"):
        counts.append(Counts(issue.id, issue.event_count, issue.user_count, issue.first_seen))
        titles[issue.id] = scrub(issue.title)
    return counts, titles


def _aware(moment: datetime | None) -> datetime | None:
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def last_passes(database_url: str) -> dict[str, LastPass]:
    with session_scope(database_url) as session:
        return {r.issue_id: LastPass(r.events, r.users, _aware(r.checked_at), r.hourly_rate, _aware(r.escalated_at))
                for r in session.exec(select(EscalationState))}


def save_pass(database_url: str, counts: Counts, verdict: Verdict, at: datetime, escalated_at: datetime | None) -> None:
    with session_scope(database_url) as session:
        row = session.get(EscalationState, counts.issue_id) or EscalationState(
            issue_id=counts.issue_id, events=0, users=0, checked_at=at)
        row.events, row.users, row.checked_at, row.hourly_rate = counts.events, counts.users, at, verdict.hourly_rate
        row.escalated_at = escalated_at
        session.add(row)


def escalation_text(v: Verdict, title: str, link: str) -> tuple[str, str]:
    head = f"📈 Issue #{v.issue_id} is spreading"
    why = "; ".join(v.reasons)
    html = (f"<b>{escape(head)}</b>: {escape(title[:200], quote=False)}\n{v.new_events} new events since the last "
            f"pass — {escape(why)}\n<a href=\"{escape(link)}\">Open in GlitchTip</a>")
    return html, f"{head}: {title[:200]}\n{v.new_events} new events since the last pass — {why}\n{link}"


@flow(name="escalation-pass", log_prints=True, **WATCHED)
def escalation_pass(factor: float | None = None, new_users: int | None = None,
                    min_events: int | None = None) -> dict:
    """Compare every open issue with the last pass; alert once on each that starts to spread."""
    s = load_settings()
    t = Thresholds(factor or s.escalation_factor, new_users or s.escalation_new_users,
                   min_events or s.escalation_min_events)
    url = s.triage_database_url
    with glitchtip_from_settings(s) as gt:
        counts, titles = read_open_issues(gt)
    previous = last_passes(url)
    at = datetime.now(timezone.utc)
    outcome: dict[str, list[str]] = {"alerted": [], "snoozed": [], "still escalated": []}
    for c in counts:
        last = previous.get(c.issue_id)
        verdict = judge(c, last, at, t)
        escalated_at = (last.escalated_at if last else None) if verdict.escalated else None
        if verdict.crossed and is_snoozed(url, c.issue_id, at):
            outcome["snoozed"].append(c.issue_id)  # not marked escalated: it alerts if still spreading after
        elif verdict.crossed:
            save_pass(url, c, verdict, at, at)  # record first: a crash after this does not alert twice
            html, plain = escalation_text(verdict, titles[c.issue_id], issue_link(s.glitchtip_url, s.glitchtip_org,
                                                                                  c.issue_id))
            alert(s, "escalation", f"issue:{c.issue_id}", html, plain,
                  buttons=[[("😴 Snooze 24h", f"snooze:{c.issue_id}:24h"),
                            ("🔎 Investigate", f"investigate:{c.issue_id}")]])
            outcome["alerted"].append(c.issue_id)
            continue
        elif verdict.kind == "still escalated":
            outcome["still escalated"].append(c.issue_id)
        save_pass(url, c, verdict, at, escalated_at)
    get_run_logger().info("escalation pass over %d open issues: %s", len(counts), outcome)
    note_summary(f"{len(counts)} open issues, {len(outcome['alerted'])} escalated, {len(outcome['snoozed'])} snoozed")
    return {"issues": len(counts), **outcome}
