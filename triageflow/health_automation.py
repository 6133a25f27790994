"""The Prefect automation that backs up the flow health hooks: every flow run entering Failed or Crashed on
the Prefect server calls triageflow's service, which records it and alerts unless the run's own hook
already did (a process killed outright runs no hook; the server still sees the state).

`install_automation(service_url, secret)` is idempotent: it replaces the automation and webhook block it
made before.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import SecretStr

AUTOMATION_NAME = "triageflow: flow run failed or crashed"
BLOCK_NAME = "triageflow-flow-health"
ENDPOINT = "/health/flow-runs"
PAYLOAD = '{"flow_run_id": "{{ flow_run.id }}", "state": "{{ flow_run.state.name }}"}'


def install_automation(service_url: str, secret: SecretStr | str) -> str:
    """Create (or re-create) the webhook block and the automation; returns the automation id."""
    from prefect.blocks.webhook import Webhook
    from prefect.client.orchestration import get_client
    from prefect.events.actions import CallWebhook
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

    token = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    block = Webhook(url=SecretStr(service_url.rstrip("/") + ENDPOINT), method="POST",
                    headers={"X-Triage-Token": token, "Content-Type": "application/json"})
    block_id = block.save(BLOCK_NAME, overwrite=True)
    trigger = EventTrigger(match={"prefect.resource.id": "prefect.flow-run.*"},
                           expect={"prefect.flow-run.Failed", "prefect.flow-run.Crashed"},
                           posture=Posture.Reactive, threshold=1, within=timedelta(0))
    automation = AutomationCore(name=AUTOMATION_NAME, description="records and alerts failed or crashed runs "
                                                                  "(triageflow flow health)",
                                trigger=trigger, actions=[CallWebhook(block_document_id=block_id, payload=PAYLOAD)])
    with get_client(sync_client=True) as client:
        for old in client.read_automations_by_name(AUTOMATION_NAME):
            client.delete_automation(old.id)
        return str(client.create_automation(automation))
