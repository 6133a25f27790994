"""Health of the automation itself: are the database, GlitchTip, the codebase and Prefect usable?"""

from __future__ import annotations

from dataclasses import asdict

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact

from tasks.flow_health import WATCHED
from triageflow.doctor import CHECKS, run_checks
from triageflow.scrub import scrub
from triageflow.settings import load_settings


class IntegrationsBroken(RuntimeError):
    """At least one configured integration failed its check."""


@task(name="check-integration", retries=1, retry_delay_seconds=2)
def check_integration(name: str) -> dict:
    check = run_checks(load_settings(), [name])[0]
    return {**asdict(check), "detail": scrub(check.detail)}


@flow(name="check-integrations", log_prints=True, **WATCHED)
def check_integrations(names: list[str] | None = None, fail_on_broken: bool = True) -> list[dict]:
    """Check each integration, publish a table artifact, and fail the run when a configured one is broken."""
    unknown = sorted(set(names or []) - set(CHECKS))
    if unknown:
        raise ValueError(f"unknown integration(s): {', '.join(unknown)}; known: {', '.join(CHECKS)}")
    results = [check_integration(name) for name in (names or list(CHECKS))]
    create_table_artifact(key="integration-health", table=results, description="triageflow integration checks")
    broken = [r for r in results if r["status"] == "failed"]
    logger = get_run_logger()
    for r in results:
        logger.info("%s: %s — %s", r["integration"], r["status"], r["detail"])
    if broken and fail_on_broken:
        raise IntegrationsBroken("broken: " + "; ".join(f"{r['integration']}: {r['detail']}" for r in broken))
    return results
