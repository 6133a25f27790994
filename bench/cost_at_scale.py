"""What the daily report, an investigation and a second sweep cost as the server's history grows.

Against the scaled sandbox (a separate process, 20 ms added to every API answer) at 200 and at 20,000
issues (5,000 active in the day, 1,000,000 events in it, 500 new, 10,000 resolved): API calls (from the
sandbox's request log) and wall time of each flow, run on a real local `prefect server`, with the
client's rate limit raised to 100 requests/s.

The sandbox is seeded to end at today's midnight (UTC); its clock first shows the server as it was a day
earlier, for the pass that learns the server once ("first pass"), then as seeded, for the day's report.
Targets: the report <= 200 calls + 1 per new issue and <= 10 s; an investigation <= 15 calls; a second
sweep with nothing new <= 3 calls.

    .venv/bin/python bench/cost_at_scale.py [sizes...]     # default: 200 20000
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1", PREFECT_LOGGING_LEVEL="ERROR")

import httpx  # noqa: E402

LATENCY_MS = 20
RATE_LIMIT = 100
MIDNIGHT = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)


def serve(issues: int, codebase: str) -> None:
    """The child process: a scaled sandbox on a free port; prints its URL, then serves until killed."""
    from triageflow.sandbox import SandboxServer
    from triageflow.sandbox.scale import Scale, scaled_sandbox

    scale = Scale() if issues == 20_000 else Scale.proportional(issues)
    server = SandboxServer(scaled_sandbox(scale, latency_ms=LATENCY_MS, now=MIDNIGHT), codebase_dir=Path(codebase))
    print(json.dumps({"url": server.url, "token": server.token, "codebase": str(server.sandbox.codebase),
                      "scale": scale.__dict__}), flush=True)
    server.serve_forever()


class Remote:
    """The sandbox process's control API."""

    def __init__(self, url: str) -> None:
        self.url = url

    def clock(self, moment: datetime | None) -> None:
        httpx.post(f"{self.url}/_sandbox/clock", json={"visible_until": moment.isoformat() if moment else None},
                   timeout=60).raise_for_status()

    def clear(self) -> None:
        httpx.delete(f"{self.url}/_sandbox/requests").raise_for_status()

    def calls(self) -> list[dict]:
        return [r for r in httpx.get(f"{self.url}/_sandbox/requests", timeout=60).json()
                if r["path"].startswith("/api/0/")]


def measured(remote: Remote, run) -> tuple[float, list[dict], object]:
    remote.clear()
    started = time.perf_counter()
    result = run()
    return time.perf_counter() - started, remote.calls(), result


def kinds(calls: list[dict]) -> str:
    def kind(path: str) -> str:
        parts = path.strip("/").split("/")
        return parts[-1] if parts[-1] not in ("", "0") and not parts[-1].isdigit() else parts[-2]

    return ", ".join(f"{k} {n}" for k, n in Counter(kind(c["path"]) for c in calls).most_common())


class Rows(list):
    """Rows printed as they come, so a long run shows its figures before it ends."""

    def append(self, row: tuple) -> None:
        super().append(row)
        show([row])


def show(rows: list[tuple]) -> None:
    for issues, what, calls, seconds, target, detail in rows:
        print(f"{issues:>7,}  {calls:>6}  {seconds:>8.2f}  {target:<22} {what}")
        print(f"{'':>7}  {'':>6}  {'':>8}  {'':<22}   calls: {detail}", flush=True)


def load() -> str:
    return "load average " + " ".join(f"{n:.2f}" for n in os.getloadavg()) + f" on {os.cpu_count()} cores"


def bench(issues: int, workdir: Path) -> list[tuple]:
    child = subprocess.Popen([sys.executable, __file__, "--serve", str(issues), str(workdir / f"code-{issues}")],
                             stdout=subprocess.PIPE, stderr=open(Path(tempfile.gettempdir()) / f"triage-cost-sandbox-{issues}.log", "w"), text=True)
    try:
        info = json.loads(child.stdout.readline())
        remote = Remote(info["url"])
        os.environ.update(
            GLITCHTIP_URL=info["url"], GLITCHTIP_TOKEN=info["token"], GLITCHTIP_ORG="acme",
            CODEBASE_PATH=info["codebase"], TRIAGE_DATABASE_URL=f"sqlite:///{workdir / f'cost-{issues}.db'}",
            GLITCHTIP_RATE_LIMIT=str(RATE_LIMIT), TRIAGE_BACKUP_DIR=str(workdir / "backups"))
        from flows.daily_metrics import daily_metrics
        from flows.investigate import investigate_issue
        from flows.runbook_sweep import runbook_sweep
        from models.db import dispose_all, upgrade
        from triageflow.settings import reset_settings

        dispose_all()
        reset_settings()
        upgrade(os.environ["TRIAGE_DATABASE_URL"])
        scale = info["scale"]
        rows = Rows()

        remote.clock(MIDNIGHT - timedelta(days=1))
        seconds, calls, _ = measured(remote, lambda: daily_metrics(day=(MIDNIGHT - timedelta(days=2)).date(), send=False))
        rows.append((issues, "first pass (yesterday's report, learns the server once)", len(calls), seconds, "",
                     kinds(calls)))
        remote.clock(None)
        seconds, calls, result = measured(remote, lambda: daily_metrics(day=(MIDNIGHT - timedelta(days=1)).date(),
                                                                        send=False))
        new = len(result["new_issues"])
        rows.append((issues, f"daily report ({result['total_events']:,} events, {result['total_issues']:,} issues, "
                     f"{new} new; sources {result['sources']}; tags read for {result['mix_read']}, "
                     f"{result['mix_estimated']} counted under their project)", len(calls), seconds,
                     f"<= {200 + new} calls, <= 10 s", kinds(calls)))
        seconds, calls, _ = measured(remote, lambda: investigate_issue("9", dry_run=True, force=True))
        rows.append((issues, f"first investigation (builds the similar-issues index: {scale['resolved']:,} resolved)",
                     len(calls), seconds, "", kinds(calls)))
        seconds, calls, result = measured(remote, lambda: investigate_issue("4", dry_run=True, force=True))
        similar = result["investigation"]["similar"]
        rows.append((issues, f"investigation ({len(similar)} similar found)", len(calls), seconds, "<= 15 calls",
                     kinds(calls)))
        seconds, calls, result = measured(remote, lambda: runbook_sweep())
        rows.append((issues, f"first sweep ({result['counts']['scanned']:,} issues considered)", len(calls), seconds,
                     "", kinds(calls)))
        seconds, calls, result = measured(remote, lambda: runbook_sweep())
        rows.append((issues, f"second sweep, nothing new ({result['counts']['scanned']} considered)", len(calls),
                     seconds, "<= 3 calls", kinds(calls)))
        return rows
    finally:
        child.terminate()
        child.wait(timeout=30)


def main(sizes: list[int]) -> None:
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from triageflow.prefect_server import prefect_server

    os.chdir(ROOT)  # runbooks/ is read from here
    with tempfile.TemporaryDirectory(prefix="triage-cost-") as tmp:
        workdir = Path(tmp)
        rows = []
        with prefect_server(workdir), temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            print(f"machine at the start: {load()}", flush=True)
            print(f"{'issues':>7}  {'calls':>6}  {'seconds':>8}  {'target':<22} what", flush=True)
            for issues in sizes:
                rows += bench(issues, workdir)
    print(f"\nsummary: scaled sandbox, {LATENCY_MS} ms per request, client rate limit {RATE_LIMIT}/s, "
          f"{os.environ.get('GLITCHTIP_MAX_IN_FLIGHT', '2')} requests in flight; machine at the end: {load()}\n")
    print(f"{'issues':>7}  {'calls':>6}  {'seconds':>8}  {'target':<22} what")
    show(rows)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), sys.argv[3])
    else:
        main([int(a) for a in sys.argv[1:]] or [200, 20_000])
