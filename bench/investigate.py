"""investigate_issue on a generated repository (>= 5,000 files, >= 2,000 commits), uncached and cached,
next to the floor measured in the same run: the bare API calls and the bare rg/git commands the flow needs.

Targets: uncached <= 1.5x the floor and <= 3 s; cached <= 0.3 s (medians over several issues).
Prefect runs on a real local `prefect server` (on PostgreSQL when it answers, as production should; pass
`sqlite` to compare) with the flow heartbeat off, as `triage investigate` does.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1", PREFECT_LOGGING_LEVEL="ERROR")

import socket  # noqa: E402

import httpx  # noqa: E402

from bench.generated_repo import build  # noqa: E402
from triageflow.prefect_server import prefect_server  # noqa: E402
from tasks.codebase import open_codebase, search_terms  # noqa: E402
from tasks.stacktrace import frames_from_event, in_app_frames  # noqa: E402
from triageflow.sandbox import Sandbox, SandboxServer  # noqa: E402

ISSUES = ["1", "4", "9", "12", "14", "17", "18", "113"]


def floor_seconds(url: str, token: str, codebase_root: Path, issue_id: str) -> float:
    """The same outside work the flow does, with nothing around it: httpx calls, then rg and git commands."""
    h = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=h) as http:
        started = time.perf_counter()
        issue = http.get(f"/api/0/issues/{issue_id}/").json()
        event = http.get(f"/api/0/issues/{issue_id}/events/latest/").json()
        resolved = http.get("/api/0/organizations/acme/issues/", params={"query": "is:resolved"}).json()
        http.get("/api/0/organizations/acme/issues/", params={"query": "is:ignored"}).json()
        similar_ids = [i["id"] for i in resolved if i["metadata"].get("type") == issue["metadata"].get("type")][:5]
        for other in similar_ids:
            http.get(f"/api/0/issues/{other}/comments/").json()
        api = time.perf_counter() - started
    # what to run is derived outside the timing, as the flow's pure functions do
    codebase = open_codebase(codebase_root)
    frames = in_app_frames(frames_from_event(event))
    files = [(codebase.locate(f), f.line) for f in frames if codebase.locate(f)]
    terms = search_terms(frames, issue["culprit"], issue["metadata"].get("value", ""))
    commands = [["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], ["git", "rev-parse", "HEAD"]]
    if terms:
        rg = ["rg", "--fixed-strings", "--line-number", "--no-heading", "--max-count", "20", "--max-filesize", "1M", "--null"]
        for t in terms:
            rg += ["-e", t]
        commands.append(rg + ["."])
    paths = list(dict.fromkeys(p for p, _ in files))
    commands += [["git", "log", "-n3", "--follow", "--format=%H", "--", p] for p in paths]
    commands += [["git", "blame", "--porcelain", "-L", f"{line},{line}", "--", p] for p, line in files if line]
    if paths:
        commands.append(["git", "log", "-n30", "--since=60.days.ago", "--format=%H", "--name-only", "--", *paths])
    started = time.perf_counter()
    for command in commands:
        subprocess.run(command, cwd=codebase_root, capture_output=True)
    return api + time.perf_counter() - started


def prefect_fixed_cost(runs: int = 8) -> float:
    """Prefect's own cost for a flow of the same shape (two task runs and an artifact) doing nothing."""
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    from tasks.artifacts import publish_markdown

    @task(cache_policy=NO_CACHE)
    def step(x):
        return x

    @flow(name="empty-investigation-shape")
    def empty():
        step(1)
        step(2)
        publish_markdown("bench-empty", "nothing")

    empty()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        empty()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _postgres_answers() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), 2).close()
        return True
    except OSError:
        return False


def main() -> None:
    if shutil.which("rg") is None:
        print("ripgrep (rg) is not installed: the investigation falls back to a Python scan; install ripgrep first")
    workdir = Path(tempfile.mkdtemp(prefix="triage-bench-"))
    started = time.perf_counter()
    sandbox = Sandbox()
    repo = build(workdir / "repo", files=5000, commits=2000, now=sandbox.glitchtip.now)
    count_files = len(subprocess.run(["git", "ls-files"], cwd=repo, capture_output=True, text=True).stdout.splitlines())
    count_commits = int(subprocess.run(["git", "rev-list", "--count", "HEAD"], cwd=repo, capture_output=True,
                                       text=True).stdout)
    print(f"generated repository: {count_files} files, {count_commits} commits in {time.perf_counter() - started:.1f} s")
    sandbox.codebase = repo
    with SandboxServer(sandbox, build_codebase=False) as sb:
        os.environ.update(GLITCHTIP_URL=sb.url, GLITCHTIP_TOKEN=sb.token, GLITCHTIP_ORG="acme", CODEBASE_PATH=str(repo),
                          TRIAGE_DATABASE_URL=f"sqlite:///{workdir / 'bench.db'}", GLITCHTIP_RATE_LIMIT="0",
                          PREFECT_HOME=str(workdir / "prefect"))
        from models.db import upgrade

        upgrade(os.environ["TRIAGE_DATABASE_URL"])
        from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

        from flows.investigate import investigate_issue

        database = sys.argv[1] if len(sys.argv) > 1 else ("postgresql" if _postgres_answers() else "sqlite")
        print(f"prefect server database: {database}")
        with prefect_server(workdir, database), temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            investigate_issue("10", post_comment=False)  # warm-up: imports, first flow run
            fixed = prefect_fixed_cost()
            uncached, cached, floors = [], [], []
            for issue_id in ISSUES:
                floors.append(floor_seconds(sb.url, sb.token, repo, issue_id))
                t = time.perf_counter()
                first = investigate_issue(issue_id, post_comment=False, force=True)
                uncached.append(time.perf_counter() - t)
                t = time.perf_counter()
                second = investigate_issue(issue_id, post_comment=False)
                cached.append(time.perf_counter() - t)
                assert not first["cached"] and second["cached"], (issue_id, first["cached"], second["cached"])
    u, c, f = statistics.median(uncached), statistics.median(cached), statistics.median(floors)
    print(f"investigate_issue, median of {len(ISSUES)} issues (post_comment=False):")
    print(f"  floor (bare API calls + rg/git commands) {f:6.3f} s")
    print(f"  uncached                                 {u:6.3f} s   ratio {u / f:.2f}  (targets: <= 1.5x, <= 3 s)")
    print(f"  cached                                   {c:6.3f} s   (target <= 0.3 s)")
    print(f"  Prefect's fixed cost (same flow shape, no work) {fixed:6.3f} s: without it, uncached "
          f"{u - fixed:.3f} s = {(u - fixed) / f:.2f}x the floor, cached {c - fixed:.3f} s")
    print("  per issue (uncached / cached / floor): " + ", ".join(
        f"{i}: {a:.2f}/{b:.2f}/{fl:.2f}" for i, a, b, fl in zip(ISSUES, uncached, cached, floors)))
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
