"""Starved and late schedules: a scheduled deployment that has not run when it should, or never will."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True)
class ScheduledRun:
    expected_start: datetime
    state: str  # "Scheduled" or "Late"


@dataclass(frozen=True)
class DeploymentFacts:
    """What the Prefect API says about one deployment that has schedules."""

    name: str  # "flow/deployment"
    paused: bool
    active_schedules: int
    schedules: int
    runs: list[ScheduledRun] = field(default_factory=list)  # its runs still waiting to start


@dataclass(frozen=True)
class ScheduleProblem:
    deployment: str
    kind: str  # "late" or "starved"
    detail: str


def schedule_problems(d: DeploymentFacts, now: datetime, late_after: timedelta) -> list[ScheduleProblem]:
    """Late: a run waiting past its start by more than `late_after`. Starved: schedules but no upcoming run."""
    if not d.schedules:
        return []
    if d.paused:
        return [ScheduleProblem(d.name, "starved", "the deployment is paused: its schedules create no runs")]
    if not d.active_schedules:
        return [ScheduleProblem(d.name, "starved", "every schedule of the deployment is inactive")]
    problems = []
    overdue = [r for r in d.runs if r.state == "Late" or r.expected_start < now - late_after]
    if overdue:
        oldest = min(r.expected_start for r in overdue)
        minutes = int((now - oldest).total_seconds() // 60)
        problems.append(ScheduleProblem(d.name, "late", f"{len(overdue)} run(s) waiting; the oldest was due "
                                                        f"{minutes} min ago ({oldest:%Y-%m-%d %H:%M} UTC): is a worker polling?"))
    if not [r for r in d.runs if r.expected_start >= now - late_after]:
        problems.append(ScheduleProblem(d.name, "starved", "no upcoming run is scheduled: is the Prefect scheduler running?"))
    return problems
