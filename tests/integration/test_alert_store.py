"""AlertEvent storage on SQLite and PostgreSQL: once per fingerprint and startsAt, HA peers racing, resolution,
claims, and migration 0007 going down and up again."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from sqlmodel import select

from models.alerts import AlertEvent, KnownIssue
from models.db import session_scope
from tasks.alert_payloads import parse_alert_group
from tasks.alert_store import claim_resolution, claim_triage, finish_triage, store_alert


def alerts(peers, name):
    data = json.loads((peers / "alerting" / name).read_text())
    return parse_alert_group(data.get("body") or data.get("body_json"), "alertmanager")


def test_copies_change_nothing_and_resolution_updates_the_row(database_url, peers):
    firing = alerts(peers, "alertmanager-firing-database.json")
    with ThreadPoolExecutor(4) as pool:  # an HA pair and two retries, all at once
        results = list(pool.map(lambda a: store_alert(database_url, a), [firing[0]] * 4))
    assert sorted(r.change for r in results) == ["new", "unchanged", "unchanged", "unchanged"]
    assert len({r.event_id for r in results}) == 1
    resolved = alerts(peers, "alertmanager-resolved-database.json")[0]
    assert resolved.fingerprint == firing[0].fingerprint
    assert store_alert(database_url, resolved).change == "resolved"
    assert store_alert(database_url, resolved).change == "unchanged"
    with session_scope(database_url) as s:
        [row] = list(s.exec(select(AlertEvent)))
    assert (row.status, row.deliveries) == ("resolved", 6) and row.ends_at is not None


def test_one_run_claims_triage_and_the_resolution_is_told_once(database_url, peers):
    event_id = store_alert(database_url, alerts(peers, "alertmanager-firing-database.json")[0]).event_id
    with ThreadPoolExecutor(4) as pool:
        assert sorted(pool.map(lambda _: claim_triage(database_url, event_id), range(4))) == [False] * 3 + [True]
    store_alert(database_url, alerts(peers, "alertmanager-resolved-database.json")[0])
    assert not claim_resolution(database_url, event_id)  # triage still running: it tells the resolution itself
    finish_triage(database_url, event_id, "done")
    assert claim_resolution(database_url, event_id) and not claim_resolution(database_url, event_id)


def test_migration_0007_downgrades_and_upgrades_keeping_the_seed(database_url):
    from alembic import command

    from models.db import alembic_config, dispose_all

    command.downgrade(alembic_config(database_url), "0005")
    dispose_all()
    command.upgrade(alembic_config(database_url), "head")
    with session_scope(database_url) as s:
        assert len(list(s.exec(select(KnownIssue)))) == 5
