"""The weekly health report: this week against last, to Telegram and Slack with a chart, and an artifact."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from flows.health import weekly_health
from models.db import session_scope
from models.flow_health import FlowHealth
from models.investigations import InvestigationLog
from tasks.glitchtip_actions import change_status
from triageflow.clients.glitchtip import GlitchTip
from triageflow.sandbox import seed


def _seed(url: str) -> None:
    now = datetime.now(timezone.utc)
    runs = [("investigate-issue", "Completed", 3.0, 1), ("investigate-issue", "Completed", 5.0, 2),
            ("investigate-issue", "Failed", 1.0, 3), ("runbook-sweep", "Completed", 700.0, 4),
            ("investigate-issue", "Completed", 2.0, 8), ("investigate-issue", "Completed", 2.0, 9)]
    with session_scope(url) as session:
        for n, (flow, state, secs, days_ago) in enumerate(runs):
            session.add(FlowHealth(flow_run_id=f"r{n}", flow_name=flow, state=state, duration_s=secs,
                                   finished_at=now - timedelta(days=days_ago)))
        for helpful in (True, True, True, False):
            session.add(InvestigationLog(issue_id="9", title="t", duration_ms=5, comment_status="posted",
                                         helpful=helpful))


def test_weekly_report_goes_out_once_with_chart_and_artifact(prefect_harness, triage_env, control, sandbox):
    url = triage_env["TRIAGE_DATABASE_URL"]
    _seed(url)
    spec = next(s for s in seed.ISSUES if s.status == "unresolved")
    with GlitchTip(sandbox.url, sandbox.token, "acme", rate_limit=0) as gt:
        change_status(gt, str(spec.id), "resolved", dry_run=False, database_url=url)

    result = weekly_health()
    by_flow = {r["flow"]: r for r in result["flows"]}
    assert by_flow["investigate-issue"]["runs"] == 3 and by_flow["investigate-issue"]["success"] == "67 %"
    assert by_flow["investigate-issue"]["runs_change"] == "+50 %"  # 3 this week, 2 the week before
    assert by_flow["runbook-sweep"]["slow"] == 1 and ["runbook-sweep", 700.0, 600.0] in result["slow"]
    metrics = {m: v for m, v, _ in result["metrics"]}
    assert metrics["investigations found helpful"].startswith("75 % of 4 rated")
    assert spec.component in result["mttr"]

    telegram = control.outbox("telegram")
    text = next(m["text"] for m in telegram if m["method"] == "sendMessage")
    assert "triageflow health" in text and "investigate-issue" in text and "Slow" in text and "MTTR" in text
    assert [m["photo_is_png"] for m in telegram if m["method"] == "sendPhoto"] == [True]
    slack = control.outbox("slack")
    assert any("triageflow health" in (m.get("text") or "") for m in slack)
    with get_client(sync_client=True) as client:
        (artifact, *_) = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["weekly-health"])))
    assert "data:image/png;base64," in artifact.data and "| investigate-issue | 3 |" in artifact.data

    again = weekly_health()
    assert again["delivery"] == {"telegram": "already sent", "slack": "already sent"}
    assert len([m for m in control.outbox("telegram") if m["method"] == "sendMessage"]) == 1
