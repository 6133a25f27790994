"""What watching costs and what the canary measures: a flow run with the health hooks next to the same flow
without them (median of 15 each, interleaved, heartbeat off; and the hook alone), and the canary's send-to-found latency against the sandbox
(median of 5), on a real `prefect server`."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1", PREFECT_LOGGING_LEVEL="ERROR")

from prefect import flow  # noqa: E402

from tasks.flow_health import WATCHED  # noqa: E402
from triageflow.prefect_server import prefect_server  # noqa: E402
from triageflow.sandbox import SandboxServer  # noqa: E402


@flow(name="bench-unwatched")
def unwatched() -> dict:
    return {"items": [1, 2, 3]}


@flow(name="bench-watched", **WATCHED)
def watched() -> dict:
    return {"items": [1, 2, 3]}


def interleaved_medians_ms(a, b, n: int) -> tuple[float, float]:
    """Alternate the two so that load from other processes on the machine falls on both alike."""
    times: dict = {a: [], b: []}
    for _ in range(n):
        for fn in (a, b):
            started = time.perf_counter()
            fn()
            times[fn].append((time.perf_counter() - started) * 1000)
    return statistics.median(times[a]), statistics.median(times[b])


def hook_ms(n: int) -> float:
    """The hook alone, on a finished run's state (what it adds after the flow's own work)."""
    from types import SimpleNamespace
    from uuid import uuid4

    from prefect.states import Completed

    from tasks.flow_health import record_run

    times = []
    for _ in range(n):
        run = SimpleNamespace(id=uuid4(), name="bench", start_time=None, deployment_id=None)
        started = time.perf_counter()
        record_run(SimpleNamespace(name="bench-hook"), run, Completed(data={"items": [1]}))
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="triage-bench-watcher-"))
    with SandboxServer(codebase_dir=workdir / "booking") as sb:
        from triageflow.cli import sandbox_env

        host = sb.url.removeprefix("http://")
        os.environ.update(sandbox_env(sb), TRIAGE_DATABASE_URL=f"sqlite:///{workdir / 'bench.db'}",
                          GLITCHTIP_RATE_LIMIT="0", GLITCHTIP_DSN=f"http://{1:032x}@{host}/1",
                          PREFECT_HOME=str(workdir / "prefect"))
        from models.db import upgrade

        upgrade(os.environ["TRIAGE_DATABASE_URL"])
        from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

        from flows.canary import glitchtip_canary

        database = "postgresql" if os.environ.get("BENCH_PREFECT_DB", "sqlite") == "postgresql" else "sqlite"
        with prefect_server(workdir, database), temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            unwatched(), watched()  # warm up
            bare, hooked = interleaved_medians_ms(unwatched, watched, 15)
            hook_alone = hook_ms(50)
            latencies = [glitchtip_canary(timeout_seconds=30, poll_seconds=0.1)["latency_s"] for _ in range(5)]
    print(f"prefect server on {database}")
    print(f"flow run without hooks: {bare:.0f} ms (median of 15)")
    print(f"flow run with the health hooks: {hooked:.0f} ms (median of 15, interleaved): {hooked - bare:+.0f} ms per run")
    print(f"the hook alone (history row on SQLite, no alert): {hook_alone:.1f} ms (median of 50)")
    print(f"canary send → found through the API: {statistics.median(latencies) * 1000:.0f} ms "
          f"(median of 5; sandbox, 0.1 s polling)")


if __name__ == "__main__":
    main()
