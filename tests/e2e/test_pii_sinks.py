"""A phone-number corpus through every sink: North American numbers in every issue's title and tags reach
none of the Telegram or Slack outbox, the GlitchTip comments, the database rows, the Prefect artifacts or
the CLI's output."""

from __future__ import annotations

import dataclasses

import httpx
from sqlalchemy import MetaData, select
from typer.testing import CliRunner

from models.db import engine_for
from triageflow.sandbox.server import LoopbackServer
from triageflow.service.app import create_service
from triageflow.settings import reset_settings

from ..waiting import wait_for

SECRET = "s3cret-webhook-token-0123"
PHONES = ("415-555-2671", "415.555.2671", "4155552671")
LEAKS = ("555-2671", "555.2671", "4155552671")


def leaks(text: str) -> list[str]:
    return [p for p in LEAKS if p in text]



def test_phone_numbers_reach_no_sink(prefect_harness, triage_env, sandbox, control, glitchtip, monkeypatch):
    from flows.daily_metrics import daily_metrics
    from flows.runbook_sweep import runbook_sweep
    from triageflow.cli import app as cli

    state = sandbox.sandbox.glitchtip
    for n, record in enumerate(state.issues.values()):  # the sandbox's own data: every title and tag carries one
        phone = PHONES[n % len(PHONES)]
        record.spec = dataclasses.replace(record.spec, value=f"{record.spec.value} (client {phone})",
                                          operation=f"{record.spec.operation} {phone}")
    assert any(leaks(i.title) for i in glitchtip.issues(None))

    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    reset_settings()
    service_app = create_service()
    with LoopbackServer(service_app) as service:
        answer = httpx.post(f"{control.url}/_sandbox/webhooks/glitchtip", timeout=60, json={
            "url": f"{service.url}/webhooks/glitchtip?token={SECRET}", "issue_ids": ["9", "1"]}).json()
        assert answer["status"] == 202
        wait_for(lambda: all(any("triageflow:investigation:" in c.text for c in glitchtip.comments(i)) for i in (9, 1)))
    service_app.state.stop_worker()
    daily_metrics()
    runbook_sweep()
    cli_output = "".join(CliRunner().invoke(cli, args).output for args in (["issues"], ["audit", "-n", "200"]))

    sinks: dict[str, str] = {"cli": cli_output}
    sinks.update({f"outbox {m['service']} {m['method']}": str(m) for m in control.outbox()})
    sinks.update({f"comment on {i.id}": c.text for i in glitchtip.issues(None) for c in glitchtip.comments(i.id)})
    engine = engine_for(triage_env["TRIAGE_DATABASE_URL"])
    tables = MetaData()
    tables.reflect(engine)
    with engine.connect() as conn:
        for table in tables.sorted_tables:
            sinks[f"table {table.name}"] = " ".join(str(tuple(r)) for r in conn.execute(select(table)))
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        sinks.update({f"artifact {a.key}": str(a.data) for a in client.read_artifacts(limit=200)})

    assert {"outbox telegram sendMessage", "outbox slack chat.postMessage", "table webhook_delivery",
            "table investigation_log", "artifact investigation-9"} <= set(sinks)
    assert sum("[phone]" in text for text in sinks.values()) >= 5  # the numbers were there, replaced
    leaked = {name: leaks(text) for name, text in sinks.items() if leaks(text)}
    assert leaked == {}
