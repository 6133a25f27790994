"""Working stored webhook deliveries, several at a time: each under its own claim (`delivery:<id>`), and
each issue they name decided once per batch (alert once per window, then one investigation: see
`alerting.py`).

GlitchTip and Alertmanager send in bursts, mostly the same issues again. One delivery at a time cost
about a dozen statements each (its claim, its row, the issue's snooze, last alert and investigation
claim, the claim and row again), and that CPU was taken from the request path answering the burst. A
batch takes its claims in one INSERT, reads its rows, the snoozes, the last alerts and the
investigation claims in one statement each, and marks everything done in one transaction; only an issue
that needs an action goes through the claim-by-claim path.

What a crash leaves is the same as one at a time: claims held under a lease, rows pending, and the sweep
retakes them once the lease has run out; every side effect is behind its own claim.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import and_, select, update

from models.claims import Claim
from models.db import engine_for
from models.flow_health import IssueSnooze
from models.webhooks import IssueAlert, WebhookDelivery

from ..audit import acting_as
from ..once import Hold, done_many, patiently, renew_many, take_many
from ..settings import Settings
from ..snooze import is_snoozed
from .alerting import READ_IT_YOURSELF, Investigate, LazyGlitchTip, _aware, alert_once, ensure_investigation, \
    investigate_now, investigation_key, issues_to_alert, pending_deliveries

log = logging.getLogger("triageflow.service")
BATCH_MAX = 50
_deliveries, _claims = WebhookDelivery.__table__, Claim.__table__


@dataclass
class Delivery:
    """One delivery of the batch, held by this worker."""

    id: int
    hold: Hold
    listed: list[str]
    total: int
    received_at: datetime
    outcome: dict[str, str] = field(default_factory=dict)
    error: str | None = None


@dataclass
class IssueFacts:
    """What the batch read once about its issues: snoozes, last alerts, and investigation claims."""

    read_for: set[str]  # the issues read; any other (an unlisted one GlitchTip named) is read when decided
    snoozed: set[str]
    last_alert: dict[str, datetime]
    investigations: dict[str, tuple[str, int]]  # claim key → (status, lease until, ms)

    @classmethod
    def read(cls, database_url: str, issue_ids: set[str], dedup: timedelta) -> "IssueFacts":
        now = datetime.now(timezone.utc)
        ids = sorted(issue_ids)
        with engine_for(database_url).connect() as conn:
            snoozes = conn.execute(select(IssueSnooze.issue_id, IssueSnooze.until)
                                   .where(IssueSnooze.issue_id.in_(ids))).all()
            alerts = {r.issue_id: _aware(r.alerted_at) for r in conn.execute(
                select(IssueAlert.issue_id, IssueAlert.alerted_at).where(IssueAlert.issue_id.in_(ids)))}
            keys = [investigation_key(i, at) for i, at in alerts.items() if now - at < dedup]
            claims = {r.key: (r.status, r.lease_until_ms) for r in conn.execute(
                select(_claims.c.key, _claims.c.status, _claims.c.lease_until_ms).where(_claims.c.key.in_(keys)))}
        return cls(set(ids), {r.issue_id for r in snoozes if _aware(r.until) > now}, alerts, claims)

    def is_snoozed(self, database_url: str, issue_id: str) -> bool:
        return issue_id in self.snoozed if issue_id in self.read_for else is_snoozed(database_url, issue_id)

    def previous_alert(self, issue_id: str):
        """The issue's last alert as read, or `alert_once`'s own read for an issue the batch did not read."""
        return self.last_alert.get(issue_id) if issue_id in self.read_for else READ_IT_YOURSELF

    def investigation_state(self, key: str) -> str | None:
        """'started earlier' or 'running' when its claim says so; None when it must be taken (or retaken)."""
        status, lease_until_ms = self.investigations.get(key, (None, 0))
        if status == "done":
            return "started earlier"
        if status == "held" and lease_until_ms > datetime.now(timezone.utc).timestamp() * 1000:
            return "running"
        return None


def process_delivery(delivery_id: int, s: Settings, *, investigate: Investigate = investigate_now) -> dict[str, str]:
    """Alert and investigate each issue of one stored delivery, under its claim; on failure it stays pending."""
    return process_deliveries([delivery_id], s, investigate=investigate).get(delivery_id, {})


def process_deliveries(delivery_ids: list[int], s: Settings, *,
                       investigate: Investigate = investigate_now) -> dict[int, dict[str, str]]:
    """Work the deliveries this worker can claim (another worker's, or finished ones, are left out); the
    outcome per issue of each delivery worked. A failed delivery stays pending, with its error."""
    url = s.triage_database_url
    holds = take_many(url, [f"delivery:{i}" for i in delivery_ids], lease_seconds=s.webhook_delivery_lease_seconds)
    held = {i: holds[f"delivery:{i}"] for i in delivery_ids if holds[f"delivery:{i}"]}
    if not held:
        return {}
    try:
        batch = _begin(url, held)
    except Exception as exc:  # noqa: BLE001 - the claims are given back; the sweep tries again
        log.warning("webhook deliveries %s not started: %s", sorted(held), exc)
        _give_back(url, [(i, hold, str(exc)) for i, hold in held.items()], record_on_rows=False)
        return {}
    if batch:
        _decide(batch, s, investigate)
    _finish(url, batch)
    return {d.id: d.outcome for d in batch}


def _begin(url: str, held: dict[int, Hold]) -> list[Delivery]:
    """Count the attempt on each held delivery that is not done yet (one statement); the claims of the
    others (done, or gone) are marked done."""
    def run():
        with engine_for(url).begin() as conn:
            return conn.execute(update(_deliveries).where(
                and_(_deliveries.c.id.in_(list(held)), _deliveries.c.status != "done"),
            ).values(attempts=_deliveries.c.attempts + 1).returning(
                _deliveries.c.id, _deliveries.c.issue_ids, _deliveries.c.body, _deliveries.c.received_at)).all()

    rows = {r.id: r for r in patiently(run)}
    for delivery_id, hold in held.items():
        if delivery_id not in rows:
            hold.done()
    return [Delivery(r.id, held[r.id], list(r.issue_ids), int((r.body or {}).get("total", len(r.issue_ids))),
                     r.received_at) for r in sorted(rows.values(), key=lambda r: r.id)]


def _decide(batch: list[Delivery], s: Settings, investigate: Investigate) -> None:
    url = s.triage_database_url
    facts = IssueFacts.read(url, {i for d in batch for i in d.listed}, timedelta(minutes=s.alert_dedup_minutes))
    decided: dict[str, tuple[str, str | None]] = {}  # issue → (outcome, error)
    first: dict[str, int] = {}  # issue → the delivery of this batch it was decided for
    with LazyGlitchTip(s) as gt, acting_as("service:glitchtip-webhook"):
        for delivery in batch:
            try:
                ids = issues_to_alert(gt, delivery.listed, delivery.total, received_at=delivery.received_at,
                                      cap=s.webhook_unlisted_cap,
                                      window=timedelta(minutes=s.webhook_unlisted_window_minutes))
            except Exception as exc:  # noqa: BLE001 - this delivery stays pending
                delivery.error = str(exc)
                continue
            for issue_id in ids:
                if issue_id not in decided:
                    first[issue_id] = delivery.id
                    decided[issue_id] = _decide_issue(s, gt, issue_id, delivery.id, investigate, facts)
                    if not decided[issue_id][0].startswith(("duplicate", "snoozed")):
                        renew_many([d.hold for d in batch], s.webhook_delivery_lease_seconds)
                what, error = decided[issue_id]
                if error is not None:
                    delivery.error = error
                    break
                delivery.outcome[issue_id] = what if first[issue_id] == delivery.id else \
                    f"duplicate of delivery {first[issue_id]}"


def _decide_issue(s: Settings, gt, issue_id: str, delivery_id: int, investigate: Investigate,
                  facts: IssueFacts) -> tuple[str, str | None]:
    try:
        if facts.is_snoozed(s.triage_database_url, issue_id):
            return "snoozed", None  # a snoozed issue alerts nobody
        what, key = alert_once(s, gt, issue_id, delivery_id, previous=facts.previous_alert(issue_id))
        if key:
            known = facts.investigation_state(key)
            what += ", " + (f"investigation {known}" if known else ensure_investigation(s, issue_id, key, investigate))
        return what, None
    except Exception as exc:  # noqa: BLE001 - every delivery naming this issue stays pending
        log.warning("issue %s of webhook delivery %s: %s", issue_id, delivery_id, exc)
        return "failed", f"{exc.__class__.__name__}: {exc}"


def _finish(url: str, batch: list[Delivery]) -> None:
    """Each finished delivery and its claim done in one transaction; each failed one keeps its error and
    gives its claim back as failed."""
    finished = [d for d in batch if d.error is None]
    for d in finished:
        d.hold.detail["outcome"] = d.outcome
    if finished:
        def run():
            with engine_for(url).begin() as conn:
                conn.execute(update(_deliveries).where(_deliveries.c.id.in_([d.id for d in finished])).values(
                    status="done", error=None, finished_at=datetime.now(timezone.utc)))
                done_many(conn, [d.hold for d in finished])
        patiently(run)
        for d in finished:
            d.hold.finished = True
    failed = [(d.id, d.hold, d.error) for d in batch if d.error is not None]
    for delivery_id, _, error in failed:
        log.warning("webhook delivery %s not finished: %s", delivery_id, error)
    _give_back(url, failed, record_on_rows=True)


def _give_back(url: str, failures: list[tuple[int, Hold, str]], *, record_on_rows: bool) -> None:
    """Each (delivery, claim, error): the error on the delivery's row (when `record_on_rows`) and its claim
    marked failed; when even that fails, the leases run out and the sweep retakes them."""
    try:
        if record_on_rows and failures:
            with engine_for(url).begin() as conn:
                for delivery_id, _, error in failures:
                    conn.execute(update(_deliveries).where(_deliveries.c.id == delivery_id).values(error=error[:2000]))
        for _, hold, error in failures:
            hold.failed(error)
    except Exception:  # noqa: BLE001 - then its lease runs out and the sweep retakes it
        log.exception("webhook deliveries: a failure could not be recorded")


def sweep_pending(s: Settings, *, investigate: Investigate = investigate_now) -> int:
    """Finish what earlier runs accepted but did not complete; how many deliveries this call worked on."""
    pending = pending_deliveries(s.triage_database_url)
    worked = 0
    for start in range(0, len(pending), BATCH_MAX):
        worked += sum(1 for outcome in process_deliveries(pending[start:start + BATCH_MAX], s,
                                                          investigate=investigate).values() if outcome)
    return worked
