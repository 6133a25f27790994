"""Processes that start a Prefect server stop it again on SIGTERM and SIGINT: nothing is left running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from triageflow.prefect_server import free_port

TRIAGE = str(Path(sys.executable).parent / "triage")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _descendants(pid: int) -> list[int]:
    tree, found, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait(probe, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.3)
    return None


def _prefect_servers_below(pid: int) -> list[int]:
    return [p for p in _descendants(pid) if "prefect" in _cmdline(p) and ("server" in _cmdline(p) or "uvicorn" in _cmdline(p))]


def _no_prefect_env(triage_env: dict, tmp_path: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update(triage_env, PREFECT_HOME=str(tmp_path / "prefect-home"), **extra)
    return env


def test_sigterm_on_triage_serve_stops_the_local_prefect_server_it_started(tmp_path, triage_env, sandbox, glitchtip):
    port = free_port()
    env = _no_prefect_env(triage_env, tmp_path, WEBHOOK_SECRET="cleanup-test-secret-0001", SERVICE_PORT=str(port))
    with open(tmp_path / "serve.log", "wb") as log:
        serve = subprocess.Popen([TRIAGE, "serve"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        assert _wait(lambda: _answers(f"http://127.0.0.1:{port}/health"), 60), (tmp_path / "serve.log").read_text()
        sent = httpx.post(f"{sandbox.url}/_sandbox/webhooks/glitchtip", timeout=60, json={
            "url": f"http://127.0.0.1:{port}/webhooks/glitchtip?token=cleanup-test-secret-0001", "issue_ids": ["9"]})
        assert sent.json()["status"] == 202
        servers = _wait(lambda: _prefect_servers_below(serve.pid), 60)
        assert servers, "the in-process investigation started a local Prefect server"
        started = _descendants(serve.pid)
        assert _wait(lambda: [c for c in glitchtip.comments(9) if "triageflow:investigation:9" in c.text], 180), \
            (tmp_path / "serve.log").read_text()[-3000:]
        serve.send_signal(signal.SIGTERM)
        asked = time.monotonic()
        try:
            serve.wait(timeout=90)
            print(f"triage serve stopped {time.monotonic() - asked:.1f} s after SIGTERM")
        except subprocess.TimeoutExpired:
            raise AssertionError("triage serve did not stop on SIGTERM:\n" + (tmp_path / "serve.log").read_text()[-4000:]
                                 + "\nthreads: " + _threads(serve.pid)) from None
    finally:
        if serve.poll() is None:
            serve.kill()
    left = [p for p in started if _alive(p)]
    assert not left, [(p, _cmdline(p)) for p in left]


def test_sigint_on_an_in_process_flow_run_stops_prefects_temporary_server(tmp_path, triage_env):
    env = _no_prefect_env(triage_env, tmp_path)
    run = subprocess.Popen([TRIAGE, "investigate", "9", "--dry-run"], cwd=tmp_path, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        servers = _wait(lambda: _prefect_servers_below(run.pid), 60)
        assert servers, "an in-process flow run starts Prefect's temporary server"
        time.sleep(2)
        started = _descendants(run.pid)
        run.send_signal(signal.SIGINT)
        run.wait(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    assert _wait(lambda: not [p for p in started if _alive(p)], 30), \
        [(p, _cmdline(p)) for p in started if _alive(p)]


def _threads(pid: int) -> str:
    names = []
    for task in (Path("/proc") / str(pid) / "task").iterdir():
        names.append((task / "comm").read_text().strip() + ":" + (task / "wchan").read_text().strip())
    return ", ".join(names)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code in (200, 503)
    except httpx.HTTPError:
        return False
