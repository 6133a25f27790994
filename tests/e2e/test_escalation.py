"""The escalation pass alerts once when an open issue spreads, not again, and never while it is snoozed;
the webhook alert path honours snoozes too."""

from __future__ import annotations

from datetime import timedelta

import httpx

from flows.escalation import escalation_pass
from triageflow.service.alerting import store_delivery
from triageflow.service.delivery_work import process_delivery
from triageflow.settings import load_settings
from triageflow.snooze import snooze, unsnooze


def spike(control, issue_id: int, count: int, new_users: int = 0) -> None:
    httpx.post(f"{control.url}/_sandbox/glitchtip/issues/{issue_id}/events",
               json={"count": count, "new_users": new_users}).raise_for_status()


def escalations(control, issue_id: int) -> list[dict]:
    return [m for m in control.outbox("telegram") if m["method"] == "sendMessage"
            and f"Issue #{issue_id} is spreading" in m["text"]]


def test_a_spike_alerts_once_and_a_snoozed_issue_not_at_all(prefect_harness, triage_env, control):
    url = triage_env["TRIAGE_DATABASE_URL"]
    first = escalation_pass()
    assert first["alerted"] == [] and first["issues"] > 10  # the first pass only learns each issue's rate

    spike(control, 9, 80)
    spike(control, 12, 80)
    snooze(url, "12", timedelta(hours=24), "telegram:1001")
    second = escalation_pass()
    assert second["alerted"] == ["9"] and second["snoozed"] == ["12"]
    (alert,) = escalations(control, 9)
    assert "80 new events since the last pass" in alert["text"] and "× its usual" in alert["text"]
    buttons = [b["callback_data"] for row in alert["reply_markup"]["inline_keyboard"] for b in row]
    assert "snooze:9:24h" in buttons
    assert [m for m in control.outbox("slack") if "Issue #9 is spreading" in m.get("text", "")]
    assert escalations(control, 12) == []

    spike(control, 9, 80)
    third = escalation_pass()
    assert "9" in third["still escalated"] and escalations(control, 9) == [alert], "once, not on every pass"

    unsnooze(url, "12", "cli")
    spike(control, 12, 80)
    assert "12" in escalation_pass()["alerted"], "after the snooze it alerts if it still spreads"


def test_new_users_alone_escalate(prefect_harness, triage_env, control):
    escalation_pass()
    spike(control, 9, 12, new_users=12)
    assert escalation_pass(min_events=1000)["alerted"] == ["9"]
    assert "12 new users" in escalations(control, 9)[0]["text"]


def test_the_webhook_alert_path_skips_a_snoozed_issue(triage_env, control):
    s = load_settings()
    snooze(s.triage_database_url, "9", timedelta(hours=1), "cli")
    delivery = store_delivery(s.triage_database_url, "glitchtip", {"attachments": []}, ["9", "10"], 2)
    outcome = process_delivery(delivery, s, investigate=lambda issue_id, hold, settings: "not started (test)")
    assert outcome["9"] == "snoozed" and outcome["10"].startswith("alerted")
    texts = [m["text"] for m in control.outbox("telegram") if m["method"] == "sendMessage"]
    assert len(texts) == 1 and "#9" not in texts[0]
