"""The check-integrations flow in a Prefect test harness against the sandbox."""

from __future__ import annotations

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from flows.health import IntegrationsBroken, check_integrations


def test_flow_reports_every_integration_and_publishes_a_table(prefect_harness, triage_env, glitchtip_release):
    results = check_integrations()
    by_name = {r["integration"]: r for r in results}
    assert by_name["glitchtip"]["status"] == "ok" and "acme" in by_name["glitchtip"]["detail"]
    assert f"release detected: GlitchTip {glitchtip_release} (" in by_name["glitchtip"]["detail"]
    assert by_name["database"]["status"] == "ok"
    assert by_name["codebase"]["status"] == "ok" and "Document the sample service" in by_name["codebase"]["detail"]
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["integration-health"])))
    assert any("glitchtip" in str(a.data) and "schedules" in str(a.data) for a in artifacts)


def test_flow_fails_when_an_integration_is_broken(prefect_harness, triage_env, monkeypatch):
    from triageflow.settings import reset_settings

    monkeypatch.setenv("GLITCHTIP_TOKEN", "e" * 64)
    reset_settings()
    state = check_integrations(names=["glitchtip"], return_state=True)
    assert state.is_failed()
    with pytest.raises(IntegrationsBroken, match="glitchtip: .*token refused by"):
        state.result()


def test_unknown_integration_name_is_a_clear_error(prefect_harness, triage_env):
    state = check_integrations(names=["pagerduty"], return_state=True)
    assert state.is_failed()
    with pytest.raises(ValueError, match="unknown integration\\(s\\): pagerduty"):
        state.result()
