"""Deliveries worked in batches (service/delivery_work.py), on SQLite and PostgreSQL, against the sandbox:
one alert per issue for a burst of duplicates, the deliveries another worker holds or finished left alone,
and a failing issue keeping only its own deliveries pending."""

from __future__ import annotations

import pytest
from sqlmodel import select

from models.claims import Claim
from models.db import session_scope, upgrade
from models.webhooks import WebhookDelivery
from triageflow.once import take
from triageflow.service.alerting import store_delivery
from triageflow.service.delivery_work import process_deliveries
from triageflow.settings import load_settings, reset_settings


@pytest.fixture
def settings_on(database_url, triage_env, monkeypatch):
    upgrade(database_url)
    monkeypatch.setenv("TRIAGE_DATABASE_URL", database_url)
    reset_settings()
    yield load_settings()
    reset_settings()


def not_started(issue_id, hold, s):
    hold.done({"how": "test"})
    return "started (test)"


def rows(url) -> dict[int, WebhookDelivery]:
    with session_scope(url) as s:
        return {d.id: d for d in s.exec(select(WebhookDelivery))}


def alerts(control) -> list[dict]:
    return [m for m in control.outbox("telegram") if m["method"] == "sendMessage"]


def test_a_burst_of_duplicates_alerts_once_per_issue_and_finishes_every_delivery(settings_on, control):
    s = settings_on
    url = s.triage_database_url
    ids = [store_delivery(url, "glitchtip", {"n": n}, [["9", "10", "11"][n % 3]], 1) for n in range(30)]
    outcomes = process_deliveries(ids, s, investigate=not_started)
    assert sorted(outcomes) == ids
    assert len(alerts(control)) == 3
    assert [outcomes[i][k] for i, k in zip(ids[:3], ["9", "10", "11"])] == ["alerted, investigation started (test)"] * 3
    for n, delivery in enumerate(ids[3:], start=3):  # decided once, with the first delivery of its issue
        assert outcomes[delivery] == {["9", "10", "11"][n % 3]: f"duplicate of delivery {ids[n % 3]}"}
    stored = rows(url)
    assert all(d.status == "done" and d.attempts == 1 and d.finished_at for d in stored.values())
    with session_scope(url) as session:
        claims = {c.key: c for c in session.exec(select(Claim).where(Claim.key.startswith("delivery:")))}
    assert len(claims) == 30 and all(c.status == "done" and c.detail["outcome"] for c in claims.values())
    assert process_deliveries(ids, s, investigate=not_started) == {}  # all done: nothing is worked twice
    later = store_delivery(url, "glitchtip", {"n": "later"}, ["9"], 1)
    assert process_deliveries([later], s, investigate=not_started)[later] == {"9": "duplicate, investigation started earlier"}
    assert len(alerts(control)) == 3


def test_a_delivery_held_elsewhere_is_left_to_its_holder(settings_on, control):
    s = settings_on
    url = s.triage_database_url
    mine, theirs = (store_delivery(url, "glitchtip", {}, ["9"], 1) for _ in range(2))
    assert take(url, f"delivery:{theirs}", lease_seconds=60)  # another live worker has it
    assert list(process_deliveries([mine, theirs], s, investigate=not_started)) == [mine]
    stored = rows(url)
    assert stored[mine].status == "done" and stored[theirs].status == "pending" and stored[theirs].attempts == 0


def test_a_failing_issue_keeps_only_its_deliveries_pending(settings_on, control):
    s = settings_on
    url = s.triage_database_url
    control.fault(f"/bot{s.telegram_bot_token.get_secret_value()}/sendMessage", "error", status=400, times=1)
    ids = [store_delivery(url, "glitchtip", {}, [issue], 1) for issue in ("9", "10", "9")]
    outcomes = process_deliveries(ids, s, investigate=not_started)
    stored = rows(url)
    failed = [i for i in ids if stored[i].status == "pending"]
    done = [i for i in ids if stored[i].status == "done"]
    assert len(failed) + len(done) == 3 and failed and done
    first_issue = "9" if stored[ids[0]].status == "pending" else "10"
    assert all(stored[i].error for i in failed) and all(outcomes[i] == {} for i in failed)
    assert {tuple(stored[i].issue_ids) for i in failed} == {(first_issue,)}
    with session_scope(url) as session:
        assert all(session.get(Claim, f"delivery:{i}").status == "failed" for i in failed)
    again = process_deliveries(failed, s, investigate=not_started)  # the sweep's retry alerts it, once
    assert sorted(again) == sorted(failed) and again[failed[0]][first_issue].startswith("alerted")
    assert all(d.status == "done" for d in rows(url).values())
    assert len(alerts(control)) == 2


def test_an_issue_counted_but_not_listed_is_checked_like_a_listed_one(settings_on, control):
    from datetime import timedelta

    from triageflow.snooze import snooze

    s = settings_on
    url = s.triage_database_url
    first = store_delivery(url, "glitchtip", {}, ["1", "3", "2"], 4)
    [extra] = set(process_deliveries([first], s, investigate=not_started)[first]) - {"1", "3", "2"}
    snooze(url, extra, timedelta(hours=1), "cli")                   # GlitchTip names it again, unlisted
    again = store_delivery(url, "glitchtip", {}, ["1", "3", "2"], 4)
    outcome = process_deliveries([again], s, investigate=not_started)[again]
    assert outcome[extra] == "snoozed" and all(outcome[i].startswith("duplicate") for i in ("1", "3", "2"))
