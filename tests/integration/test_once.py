"""Claims on SQLite and PostgreSQL: of many concurrent callers exactly one acts; done stays done; a failed or
abandoned (expired) claim is retaken, a live one is not."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

import pytest

from triageflow.once import claim_status, once, retakeable, take


def test_of_many_concurrent_callers_one_acts(database_url):
    acted: list[int] = []
    barrier = threading.Barrier(20)

    def worker(n: int) -> None:
        barrier.wait()
        with once(database_url, "comment:m1:issue:9") as claim:
            if claim:
                time.sleep(0.05)
                acted.append(n)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(acted) == 1
    assert claim_status(database_url, "comment:m1:issue:9") == "done"
    with once(database_url, "comment:m1:issue:9") as again:
        assert not again and again.state == "done"


def test_many_processes_race_for_one_claim(database_url, tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        from triageflow.once import once
        time.sleep(max(0.0, float(sys.argv[1]) - time.time()))
        with once({database_url!r}, "report:2026-12-01:text:slack") as claim:
            print("ACTED" if claim else claim.state)
    """)
    start = str(time.time() + 3)
    procs = [subprocess.Popen([sys.executable, "-c", script, start], stdout=subprocess.PIPE, text=True)
             for _ in range(6)]
    outputs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert outputs.count("ACTED") == 1, outputs


def test_a_failed_block_is_retaken_and_the_error_propagates(database_url):
    with pytest.raises(RuntimeError):
        with once(database_url, "alert:issue:3:window:first") as claim:
            assert claim.state == "taken"
            raise RuntimeError("telegram down")
    assert claim_status(database_url, "alert:issue:3:window:first") == "failed"
    assert [k for k, _ in retakeable(database_url, "alert:")] == ["alert:issue:3:window:first"]
    with once(database_url, "alert:issue:3:window:first") as claim:
        assert claim.state == "retaken"
        claim.detail["message_id"] = "77"
    assert take(database_url, "alert:issue:3:window:first").detail == {"message_id": "77"}


def test_a_live_holder_keeps_its_claim_and_an_expired_one_is_retaken(database_url):
    live = take(database_url, "delivery:1", lease_seconds=60)
    assert live and take(database_url, "delivery:1").state == "busy"
    crashed = take(database_url, "delivery:2", lease_seconds=0.2)
    assert crashed
    assert take(database_url, "delivery:2").state == "busy"
    time.sleep(0.4)
    assert [k for k, _ in retakeable(database_url, "delivery:")] == ["delivery:2"]
    successor = take(database_url, "delivery:2")
    assert successor.state == "retaken"
    assert not crashed.renew()  # the crashed holder lost it
    assert live.renew()


def test_release_forgets_a_claim_so_a_real_run_may_act_later(database_url):
    claim = take(database_url, "comment:m2:issue:4")
    claim.release()
    assert claim_status(database_url, "comment:m2:issue:4") is None
    assert take(database_url, "comment:m2:issue:4").state == "taken"
