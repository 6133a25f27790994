"""`triage alerts history|sweep`: the monitoring alerts triageflow received and what became of them."""

from __future__ import annotations

from typing import Optional

import typer
from rich.table import Table

from .cli import friendly_errors, out
from .settings import load_settings

alerts_app = typer.Typer(no_args_is_help=True, help="Monitoring alerts (Alertmanager, Grafana): history, sweep.")


@alerts_app.command("history")
@friendly_errors
def alerts_history(limit: int = typer.Option(20, "--limit", "-n", min=1, max=500),
                   name: Optional[str] = typer.Option(None, "--name", help="only alerts of this name")) -> None:
    """Recent alerts with their decision, remediation and issue."""
    from tasks.alert_store import history

    table = Table(title="monitoring alerts")
    for column in ("id", "received", "name", "status", "severity", "real", "triage", "remediation", "issue"):
        table.add_column(column, overflow="fold")
    for row in history(load_settings().triage_database_url, limit=limit, name=name):
        decision = row.decision or {}
        real = decision.get("real")
        verdict = "" if real is None else f"{'yes' if real else 'no'} ({decision.get('confidence', '?')})"
        table.add_row(str(row.id), row.received_at.strftime("%Y-%m-%d %H:%M:%S"), row.name, row.status,
                      decision.get("severity") or row.severity, verdict, row.triage_state, row.remediation or "",
                      row.issue_url or "")
    out.print(table)


@alerts_app.command("sweep")
@friendly_errors
def alerts_sweep() -> None:
    """Start triage of stored alerts that never started (the web service does this every WEBHOOK_SWEEP_SECONDS)."""
    from .service.worker import start_untriaged_alerts

    started = start_untriaged_alerts(load_settings())
    for event_id, how in started:
        out.print(f"alert {event_id}: triage {how}")
    out.print(f"{len(started)} alert(s) started" if started else "nothing to start: every stored alert was triaged")


def register_alerts(app: typer.Typer) -> None:
    app.add_typer(alerts_app, name="alerts")
