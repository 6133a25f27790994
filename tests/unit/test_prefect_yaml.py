"""prefect.yaml declares deployments whose entrypoints are real flows and whose schedules are valid."""

from __future__ import annotations

import importlib
from pathlib import Path

import yaml
from prefect import Flow
from prefect.client.schemas.schedules import CronSchedule

ROOT = Path(__file__).resolve().parents[2]


def deployments():
    return yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]


def test_every_entrypoint_is_a_flow_and_every_schedule_parses():
    for deployment in deployments():
        path, name = deployment["entrypoint"].split(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        assert isinstance(getattr(module, name), Flow), deployment["name"]
        for schedule in deployment.get("schedules", []):
            CronSchedule(cron=schedule["cron"], timezone=schedule.get("timezone", "UTC"))
        assert deployment["work_pool"]["name"] == "triageflow"


def test_no_secret_is_templated_into_deployments():
    declared = yaml.safe_dump(yaml.safe_load((ROOT / "prefect.yaml").read_text())).upper()
    for secret in ("TOKEN", "PASSWORD", "SECRET", "DSN"):
        assert secret not in declared, secret  # prefect deploy would store the resolved value


def test_telemetry_triage_runs_every_15_minutes():
    from datetime import datetime, timezone

    from cronsim import CronSim

    [deployment] = [d for d in deployments() if d["name"] == "telemetry-triage"]
    [schedule] = deployment["schedules"]
    runs = CronSim(schedule["cron"], datetime(2026, 12, 6, 10, 7, tzinfo=timezone.utc))
    assert [next(runs).strftime("%H:%M") for _ in range(5)] == ["10:15", "10:30", "10:45", "11:00", "11:15"]
