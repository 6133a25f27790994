"""Incremental issue state: a pass reads what changed since the previous one, and stores it."""

from __future__ import annotations

import pytest

from tasks.issue_state import refresh, states
from triageflow.clients.glitchtip import GlitchTip

from . import scaled_sandbox as scaled


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    server = scaled.start(tmp_path_factory.mktemp("scaled") / "booking")
    yield server
    server.stop()


@pytest.fixture
def gt(big):
    scaled.show_today(big)
    with GlitchTip(big.url, big.token, "acme", rate_limit=0) as client:
        yield client


def test_second_pass_reads_only_what_changed_since_the_first(big, gt, database_url):
    scaled.show_yesterday(big)
    first = refresh(gt, database_url, "test")
    assert first.complete and len(first.issues) == len(big.sandbox.glitchtip.issues)
    scaled.show_today(big)
    scaled.clear_calls(big)
    second = refresh(gt, database_url, "test")
    changed = {str(i) for i, r in big.sandbox.glitchtip.issues.items() if r.events[-1].at > first.high_water}
    assert len(second.issues) < len(first.issues) / 2
    assert changed and {i.id for i in second.issues} >= changed
    assert len(scaled.calls(big)) <= len(second.issues) // 100 + 1
    stored = states(database_url)
    assert len(stored) == len(big.sandbox.glitchtip.issues)
    some = second.issues[0]
    assert stored[some.id].count == some.event_count and stored[some.id].last_seen == some.last_seen
    scaled.clear_calls(big)
    third = refresh(gt, database_url, "test")
    assert len(scaled.calls(big)) == 1 and len(third.issues) < 100  # nothing new: one page, and it stops


def test_full_rereads_everything(big, gt, database_url):
    refresh(gt, database_url, "test")
    again = refresh(gt, database_url, "test", full=True)
    assert len(again.issues) == len(big.sandbox.glitchtip.issues)


def test_overlapping_passes_store_each_issue_once_and_keep_what_was_learned(big, gt, database_url):
    import threading

    from tasks.issue_state import remember, update_states

    listed = list(gt.issues(None, limit=100, max_pages=2))
    barrier, errors = threading.Barrier(2), []

    def store() -> None:
        barrier.wait()
        try:
            remember(database_url, listed)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=store) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stored = states(database_url)
    assert len(stored) == len({i.id for i in listed})
    first = listed[0]
    update_states(database_url, {first.id: {"components": {"database": 3}, "mix_events": 3}})
    remember(database_url, listed[:1])  # listed again: the mix learned before stays
    again = states(database_url, ids=[first.id])[first.id]
    assert again.components == {"database": 3} and again.mix_events == 3 and again.count == first.event_count
