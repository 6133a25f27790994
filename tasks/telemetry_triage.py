"""Telemetry groups that deserve a GitHub issue, and the issue's text. The text is pure; the reads and the
writes are small tasks used by flows/telemetry_triage.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff
from sqlalchemy import and_, select, update

from models.db import engine_for
from models.telemetry import TelemetryEvent, TelemetryGroup
from tasks.alert_github import IssueOutcome, issue_marker, open_or_comment
from tasks.alert_known import KnownMatch, match_known
from tasks.alert_steps import load_known_issues
from tasks.retry import transient_only
from tasks.runbooks import IssueFacts, MatchResult, RunbookMatcher, runbook_link

MARKER_KIND = "telemetry"
IO = dict(retries=3, retry_delay_seconds=exponential_backoff(1), retry_jitter_factor=0.5,
          retry_condition_fn=transient_only, cache_policy=NO_CACHE)


@dataclass(frozen=True)
class GroupFacts:
    """What an issue says about one group (plain values: a flow run shows and reruns them)."""

    fingerprint: str
    project_id: str
    title: str
    exception_type: str
    level: str
    count: int
    first_seen: str
    last_seen: str
    sample: dict[str, Any]
    correlation_ids: tuple[str, ...] = ()


def marker(fingerprint: str) -> str:
    return issue_marker(MARKER_KIND, fingerprint)


def suggested_remediation(facts: GroupFacts, matcher: RunbookMatcher, base_url: str | None,
                          known: KnownMatch | None = None) -> str:
    """Rule-based: the knowledge base's recommendation when a known issue matches, and the matching
    runbook's quick fix; a plain note when neither does."""
    parts = []
    if known is not None:
        parts.append(f"Known issue **{known.title}** (`{known.name}`, matched on {known.field}): "
                     f"{known.recommendation or 'no recommendation recorded'}")
    result: MatchResult = matcher.match(group_facts_for_matching(facts))
    if result.matched:
        rb = result.runbook
        parts.append(f"Runbook **{rb.title}** ({runbook_link(rb, base_url)}), matched on {result.hit.field}:"
                     f"\n\n{rb.quick_fix}")
    if not parts:
        return f"No runbook or known issue matches ({result.reason}). Triage by hand; add a runbook if this recurs."
    return "\n\n".join(parts)


def group_facts_for_matching(facts: GroupFacts) -> IssueFacts:
    return IssueFacts(title=facts.title, message=str(facts.sample.get("message") or ""),
                      exception_type=facts.exception_type, culprit="", tags=facts.sample.get("tags") or {})


def known_issue_for(facts: GroupFacts, known_issues) -> KnownMatch | None:
    """The first known issue whose pattern fires on the group's title, message or tags."""
    return match_known(known_issues, facts.title, str(facts.sample.get("message") or ""),
                       {k: str(v) for k, v in (facts.sample.get("tags") or {}).items()})


def issue_title(facts: GroupFacts) -> str:
    return f"[telemetry] {facts.title}"[:256]


def issue_body(facts: GroupFacts, remediation: str) -> str:
    sample = facts.sample
    ids = ", ".join(f"`{c}`" for c in facts.correlation_ids) or "none sent"
    where = " · ".join(x for x in (sample.get("release"), sample.get("environment"), sample.get("url")) if x)
    return "\n".join([
        f"**{facts.count} events** of one error reported by apps and browsers (project `{facts.project_id}`, "
        f"level {facts.level}).",
        "",
        "| | |", "| --- | --- |",
        f"| fingerprint | `{facts.fingerprint}` |",
        f"| first seen | {facts.first_seen} |",
        f"| last seen | {facts.last_seen} |",
        f"| count | {facts.count} |",
        f"| correlation ids | {ids} |",
        *( [f"| where | {where} |"] if where else []),
        "",
        "### Sample stack",
        "```",
        str(sample.get("stack") or "(no stack)")[:6000],
        "```",
        "",
        "### Suggested remediation",
        remediation,
    ])


def _iso(moment: datetime) -> str:
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).isoformat(timespec="seconds")


@task(name="groups-to-triage", cache_policy=NO_CACHE)
def groups_to_triage(database_url: str, threshold: int, limit: int) -> list[GroupFacts]:
    """Untriaged groups with at least `threshold` events, most frequent first, with their correlation ids."""
    groups, events = TelemetryGroup.__table__, TelemetryEvent.__table__
    with engine_for(database_url).connect() as conn:
        rows = conn.execute(select(groups).where(and_(groups.c.status == "new", groups.c.count >= threshold))
                            .order_by(groups.c.count.desc(), groups.c.fingerprint).limit(limit)).mappings().all()
        out = []
        for g in rows:
            ids = conn.execute(select(events.c.correlation_id).where(and_(
                events.c.fingerprint == g["fingerprint"], events.c.correlation_id.is_not(None)))
                .order_by(events.c.id.desc()).limit(50)).scalars().all()
            out.append(GroupFacts(g["fingerprint"], g["project_id"], g["title"], g["exception_type"], g["level"],
                                  g["count"], _iso(g["first_seen"]), _iso(g["last_seen"]), dict(g["sample"]),
                                  tuple(dict.fromkeys(ids))[:10]))
    return out


@task(name="file-telemetry-issue", **IO)
def file_group_issue(gh, database_url: str, facts: GroupFacts, remediation: str, labels: list[str],
                     dry_run: bool) -> IssueOutcome:
    """One issue per fingerprint: an open issue carrying the marker (one created just before a crash) is
    found and kept, not duplicated."""
    return open_or_comment(gh, database_url, marker=marker(facts.fingerprint), title=issue_title(facts),
                           body=issue_body(facts, remediation), comment=None, labels=labels, assignees=[],
                           dry_run=dry_run)


@task(name="load-known-issues", cache_policy=NO_CACHE)
def known_issues(database_url: str) -> list:
    return load_known_issues(database_url)


@task(name="record-telemetry-triage", cache_policy=NO_CACHE)
def record_triaged(database_url: str, fingerprint: str, outcome: IssueOutcome) -> None:
    groups = TelemetryGroup.__table__
    with engine_for(database_url).begin() as conn:
        conn.execute(update(groups).where(groups.c.fingerprint == fingerprint).values(
            status="triaged", issue_number=outcome.number, issue_url=outcome.url,
            triaged_at=datetime.now(timezone.utc)))
