"""1,000 GlitchTip webhooks (20 issues × 50) from 20 concurrent clients against `triage serve` (uvicorn, in a
subprocess) on PostgreSQL: answer latency p50/p99 and requests per second, then whether every webhook was
stored and handled exactly once (one alert per issue, one attempt per delivery). Targets: p99 ≤ 100 ms,
≥ 300 req/s. In-process investigations run against one Prefect server started by the bench.

    .venv/bin/python bench/webhook_load.py [webhooks] [clients] [thread|external|both] [lean|httpx]

`thread`: the service's own worker threads do the background work (the default set-up); `external`:
WEBHOOK_BACKGROUND=external and one `triage webhook-worker` process beside it, so the request path shares
no interpreter lock with the background work.

`lean` (the default): 20 keep-alive connections from one asyncio loop writing prepared HTTP/1.1
requests, so the figure is the service's (GlitchTip's senders run on GlitchTip's machine, not the
service's). `httpx`: each client is a thread with an httpx.Client; on this 2-core machine those 20
threads take about half a core from the service they measure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1", PREFECT_LOGGING_LEVEL="ERROR")

import httpx  # noqa: E402

from triageflow.prefect_server import prefect_server  # noqa: E402
from triageflow.sandbox import SandboxServer, seed  # noqa: E402

SECRET = "bench-webhook-secret-0123"
ADMIN = os.environ.get("TRIAGE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    clients = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    modes = {"both": ["thread", "external"]}.get(sys.argv[3] if len(sys.argv) > 3 else "both", sys.argv[3:4])
    sender = sys.argv[4] if len(sys.argv) > 4 else "lean"
    for mode in modes:
        run(total, clients, mode, sender)


def send_with_httpx(base: str, work: list[dict], clients: int) -> tuple[list[float], list[int]]:
    latencies: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()
    cursor = iter(range(len(work)))

    def client() -> None:
        with httpx.Client(base_url=base, params={"token": SECRET}, timeout=30) as http:
            while True:
                with lock:
                    n = next(cursor, None)
                if n is None:
                    return
                started = time.perf_counter()
                status = http.post("/webhooks/glitchtip", json=work[n]).status_code
                took = time.perf_counter() - started
                with lock:
                    latencies.append(took)
                    statuses.append(status)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, statuses


def send_lean(base: str, work: list[dict], clients: int) -> tuple[list[float], list[int]]:
    """Keep-alive HTTP/1.1 from one event loop: prepared bytes out, status line and Content-Length in."""
    import asyncio
    import json

    host, port = base.removeprefix("http://").split(":")
    requests = []
    for payload in work:
        body = json.dumps(payload).encode()
        requests.append(f"POST /webhooks/glitchtip?token={SECRET} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    latencies: list[float] = []
    statuses: list[int] = []
    cursor = iter(range(len(work)))

    async def client() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for n in cursor:
                started = time.perf_counter()
                writer.write(requests[n])
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                statuses.append(int(head.split(b" ", 2)[1]))
        finally:
            writer.close()

    async def all_clients() -> None:
        await asyncio.gather(*(client() for _ in range(clients)))

    asyncio.run(all_clients())
    return latencies, statuses


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=20)


def run(total: int, clients: int, mode: str, sender: str) -> None:
    import psycopg
    from sqlalchemy import func
    from sqlmodel import select

    from models.claims import Claim
    from models.db import session_scope, upgrade
    from models.webhooks import WebhookDelivery
    from triageflow.cli import sandbox_env

    workdir = Path(tempfile.mkdtemp(prefix="triage-bench-load-"))
    dbname = f"triage_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    url = ADMIN.rsplit("/", 1)[0] + f"/{dbname}"
    upgrade(url)
    issues = [str(s.id) for s in seed.ISSUES if s.frames][:20]
    server = worker = None
    try:
        with SandboxServer(codebase_dir=workdir / "booking") as sb, prefect_server(workdir) as prefect:
            env = dict(os.environ, **sandbox_env(sb), TRIAGE_DATABASE_URL=url, WEBHOOK_SECRET=SECRET,
                       GLITCHTIP_RATE_LIMIT="0", PREFECT_API_URL=prefect.api_url, WEBHOOK_SPOOL_DIR=str(workdir / "spool"),
                       TRIAGE_ENV="development")
            env.pop("TRIAGE_DRY_RUN", None)
            triage = str(Path(sys.executable).with_name("triage"))
            port = free_port()
            if mode == "external":
                env.update(WEBHOOK_BACKGROUND="external", WEBHOOK_SWEEP_SECONDS="0.5")
                worker = subprocess.Popen([triage, "webhook-worker"], env=env, cwd=workdir,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            server = subprocess.Popen([triage, "serve", "--port", str(port)],
                                      env=env, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.3)
            payloads = {i: httpx.post(f"{sb.url}/_sandbox/webhooks/glitchtip", json={"issue_ids": [i]}).json()["payload"]
                        for i in issues}
            work = [payloads[issues[n % len(issues)]] for n in range(total)]
            send = send_lean if sender == "lean" else send_with_httpx
            started = time.perf_counter()
            latencies, statuses = send(base, work, clients)
            wall = time.perf_counter() - started
            print(f"[{mode}, {sender} senders] {total} webhooks from {clients} clients on PostgreSQL in {wall:.2f} s: {total / wall:.0f} req/s, "
                  f"p50 {percentile(latencies, 50) * 1000:.1f} ms, p99 {percentile(latencies, 99) * 1000:.1f} ms, "
                  f"max {max(latencies) * 1000:.1f} ms (targets: p99 ≤ 100 ms, ≥ 300 req/s)")
            print(f"answers: {dict((s, statuses.count(s)) for s in sorted(set(statuses)))}")

            handled_at = time.perf_counter()
            while time.perf_counter() - handled_at < 300:
                with session_scope(url) as s:
                    pending = s.exec(select(func.count()).select_from(WebhookDelivery)
                                     .where(WebhookDelivery.status != "done")).one()
                if pending == 0:
                    break
                time.sleep(0.5)
            print(f"all handled {time.perf_counter() - started:.1f} s after the first webhook")
            with session_scope(url) as s:
                rows = list(s.exec(select(WebhookDelivery)))
                alert_claims = s.exec(select(func.count()).select_from(Claim).where(Claim.key.startswith("alert:"))).one()
            sent = [m for m in httpx.get(f"{sb.url}/_sandbox/outbox", params={"service": "telegram"}).json()
                    if m["method"] == "sendMessage"]
            per_issue = {i: sum(1 for m in sent if m["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
                                == f"investigate:{i}") for i in issues}
            print(f"stored {len(rows)} of {total}; done {sum(r.status == 'done' for r in rows)}; "
                  f"worked more than once {sum(r.attempts > 1 for r in rows)}; alerts sent {len(sent)} for "
                  f"{len(issues)} issues (alert claims {alert_claims}); issues alerted other than once "
                  f"{[i for i, n in per_issue.items() if n != 1]}")
            ok = (len(rows) == total and all(r.status == "done" and r.attempts == 1 for r in rows)
                  and len(sent) == len(issues) and all(n == 1 for n in per_issue.values()))
            print("every webhook stored and handled once" if ok else "NOT every webhook stored and handled once")
    finally:
        stop(server)
        stop(worker)
        from models.db import dispose_all

        dispose_all()
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
