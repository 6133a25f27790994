"""`triage webhook-worker`: the web service's background work as a process of its own."""

from __future__ import annotations


def webhook_worker() -> None:
    """Work accepted webhooks (alerts, investigations, the spool) beside `triage serve` with
    WEBHOOK_BACKGROUND=external; any number may run at once (claims keep each side effect single)."""
    from prefect.settings import PREFECT_API_URL

    from .service.worker import WebhookWorker
    from .settings import load_settings

    WebhookWorker(load_settings(), prefect_api_url=PREFECT_API_URL.value()).run_forever()
