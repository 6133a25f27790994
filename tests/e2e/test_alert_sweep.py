"""An alert stored but never started (the service died right after its 202, or the start failed) is triaged by
the sweep — once — and `triage alerts history` shows what became of it."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

from tasks.alert_payloads import parse_alert_group
from tasks.alert_store import store_alert, update_event

from .test_alert_triage import alert_env, body_of, events, fresh  # noqa: F401 - fixtures shared

TRIAGE = str(Path(sys.executable).with_name("triage"))


def invoke(*args):
    """The command as a user runs it: its own process (its flow run logs to its own stderr)."""
    from prefect.settings import PREFECT_API_URL

    done = subprocess.run([TRIAGE, *args], env=dict(os.environ, PREFECT_API_URL=PREFECT_API_URL.value()),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return SimpleNamespace(output=done.stdout)


def test_the_sweep_starts_what_was_stored_but_never_started_and_only_that(prefect_harness, alert_env, control,
                                                                         peers):
    url = alert_env["TRIAGE_DATABASE_URL"]
    old, recent = parse_alert_group(fresh(body_of(peers, "alertmanager-firing-two-alerts.json")), "alertmanager")
    stale = store_alert(url, old)  # stored, answered 202, and then the process ended: no triage started
    update_event(url, stale.event_id, received_at=datetime.now(timezone.utc) - timedelta(minutes=5))
    fresh_one = store_alert(url, recent)  # just arrived: its own start is still on the way, the sweep leaves it

    result = invoke("alerts", "sweep")
    assert f"alert {stale.event_id}: triage in-process" in result.output and "1 alert(s) started" in result.output
    rows = {r.id: r for r in events(url)}
    assert rows[stale.event_id].triage_state == "done"
    assert rows[stale.event_id].triage_started == "sweep: in-process"
    assert rows[fresh_one.event_id].triage_state == "pending"
    posts = [m for m in control.outbox("slack") if m["method"] == "chat.postMessage" and not m["thread_ts"]]
    assert len(posts) == 1 and old.name in posts[0]["text"]

    assert "nothing to start" in invoke("alerts", "sweep").output  # the triaged one is not started twice
    assert len([m for m in control.outbox("slack") if m["method"] == "chat.postMessage" and not m["thread_ts"]]) == 1

    history = invoke("alerts", "history", "--limit", "5").output
    assert old.name in history and "done" in history and "pending" in history
