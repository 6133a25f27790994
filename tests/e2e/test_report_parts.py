"""The daily report's parts (text, chart) are sent once each per channel: a failure after the text went out
is retried, and re-run, by sending the chart only; Slack's upload steps answering 5xx are retried too."""

from __future__ import annotations

import httpx
import pytest

from flows.daily_metrics import ReportNotDelivered, daily_metrics


def methods(control, service: str) -> list[str]:
    """What the report sent: a failed run's own health alert (issue 14) is not part of the report."""
    return [m["method"] for m in control.outbox(service) if "Flow daily-metrics failed" not in (m.get("text") or "")]


def test_a_chart_that_fails_once_is_retried_without_sending_the_text_again(prefect_harness, triage_env, control):
    control.fault(f"/bot{triage_env['TELEGRAM_BOT_TOKEN']}/sendPhoto", "error", status=500, times=1)
    assert daily_metrics()["delivery"] == {"telegram": "sent", "slack": "sent"}
    assert methods(control, "telegram") == ["sendMessage", "sendPhoto"]


def test_a_rerun_after_the_chart_kept_failing_sends_only_the_chart(prefect_harness, triage_env, control):
    control.fault(f"/bot{triage_env['TELEGRAM_BOT_TOKEN']}/sendPhoto", "error", status=500, times=100)
    state = daily_metrics(return_state=True)
    assert state.is_failed()
    with pytest.raises(ReportNotDelivered, match="telegram"):
        state.result()
    assert methods(control, "telegram") == ["sendMessage"]
    httpx.delete(f"{control.url}/_sandbox/faults")
    assert daily_metrics()["delivery"] == {"telegram": "sent", "slack": "already sent"}
    assert methods(control, "telegram") == ["sendMessage", "sendPhoto"]
    assert methods(control, "slack") == ["chat.postMessage", "files.upload"]


@pytest.mark.parametrize("step", ["/api/files.getUploadURLExternal", "/api/files.completeUploadExternal",
                                  "/api/chat.postMessage"])
def test_slack_5xx_on_any_step_is_retried_and_each_part_is_posted_once(prefect_harness, triage_env, control, step):
    control.fault(step, "error", status=503, times=1)
    assert daily_metrics()["delivery"] == {"telegram": "sent", "slack": "sent"}
    assert methods(control, "slack") == ["chat.postMessage", "files.upload"]
