"""Telemetry ingest throughput and latency: ≥ 20,000 gzip envelopes over 200 fingerprints from concurrent
clients on loopback, on SQLite and PostgreSQL, then a check that what is stored equals what was accepted.

The service runs as its own uvicorn process (so clients and server do not share one GIL); the clients are
asyncio keep-alive connections (on uvloop when installed) in this one process, sending pre-built envelopes
as SDKs in many apps would; each event says its own numbers and ids in its message, as real errors do.
Prints events/s and p50/p99 per database, the CPU per event of the service, of the load generator and of
PostgreSQL's backends, and the load average (the cores are shared); asserts only the counts, never timings.

First, the floor in the same run: the same clients and envelopes against the same uvicorn serving a bare app
that reads each body and answers 200 (`bench/bare_ingest_app.py`). Each database's line then says what share
of the bare figure the real ingest reaches, and how much of the run's CPU time the hypervisor took for other
guests ("steal"): figures from different days and machines compare by that share, not by events/s alone.

    .venv/bin/python bench/telemetry_ingest.py [--envelopes 20000] [--clients 32] [--workers 1] [--db sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TEMPLATE = ROOT / "tests" / "fixtures" / "peers" / "clients" / "sentry-sdk" / "envelope-1.envelope"
KEY = "publickey123"
POSTGRES_ADMIN = os.environ.get("TRIAGE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def build_envelopes(n: int, fingerprints: int) -> list[bytes]:
    """The recorded SDK envelope with a fresh event id each, its exception type cycling over `fingerprints`."""
    header, item_header, payload = TEMPLATE.read_bytes().split(b"\n")[:3]
    event = json.loads(payload)
    out = []
    for i in range(n):
        eid = uuid.uuid4().hex
        event["event_id"] = eid
        kind = i % fingerprints
        event["exception"]["values"][0]["type"] = f"BenchError{kind}"
        # each occurrence says its own numbers and ids, as real errors do (the fingerprint normalises them away)
        event["exception"]["values"][0]["value"] = (f"Connection timeout to PostgreSQL at db.internal:5432 "
                                                    f"(attempt {i % 7 + 1}, pool=main, order {i * 7919 % 1_000_003}, user u{i % 5000}, {i % 997} ms)")
        body = json.dumps(event).encode()
        head = json.loads(header)
        head["event_id"] = eid
        envelope = b"\n".join([json.dumps(head).encode(), json.dumps({"type": "event", "length": len(body)}).encode(),
                               body, b""])
        out.append(gzip.compress(envelope, compresslevel=6))
    return out


class Connection:
    """One keep-alive HTTP/1.1 connection that posts envelopes and reads the status of each answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int) -> None:
        self.reader, self.writer, self.port = reader, writer, port

    @classmethod
    async def open(cls, port: int) -> "Connection":
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer, port)

    async def post(self, body: bytes) -> int:
        head = (f"POST /api/7/envelope/ HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                f"Content-Type: application/x-sentry-envelope\r\nContent-Encoding: gzip\r\n"
                f"X-Sentry-Auth: Sentry sentry_key={KEY}, sentry_version=7, sentry_client=sentry.python/2.75.0\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length:
            await self.reader.readexactly(length)
        return int(status_line.split()[1])

    def close(self) -> None:
        self.writer.close()


async def drive(port: int, envelopes: list[bytes], clients: int) -> tuple[float, list[float], dict[int, int]]:
    queue = list(reversed(envelopes))
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def client() -> None:
        conn = await Connection.open(port)
        try:
            while queue:
                body = queue.pop()
                t0 = time.perf_counter()
                status = await conn.post(body)
                latencies.append(time.perf_counter() - t0)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return time.perf_counter() - started, latencies, statuses


def run_loop(coro):
    """The clients' event loop: uvloop when installed (what the service runs on too), else asyncio's own."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    return sock


SERVICE_APP = ["--factory", "triageflow.service.app:create_service"]
BARE_APP = ["--app-dir", str(ROOT / "bench"), "bare_ingest_app:app"]


def start_service(database_url: str, workers: int, app: list[str] = SERVICE_APP,
                  ready_path: str = "/telemetry.js") -> tuple[subprocess.Popen, int, socket.socket]:
    sock = free_socket()
    port = sock.getsockname()[1]
    env = {**os.environ, "TRIAGE_DATABASE_URL": database_url, "TELEMETRY_PROJECT_KEYS": f"7:{KEY}",
           "TELEMETRY_RATE_PER_IP": "0", "TELEMETRY_RATE_PER_SESSION": "0", "TELEMETRY_RATE_PER_KEY": "0",
           "PREFECT_API_URL": ""}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", *app,
                             "--fd", str(sock.fileno()), "--workers", str(workers), "--log-level", "warning",
                             "--no-access-log", "--lifespan", "off"],
                            env=env, cwd=tempfile.mkdtemp(prefix="bench-telemetry-"), pass_fds=[sock.fileno()])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}{ready_path}", timeout=1).raise_for_status()
            return proc, port, sock
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the service did not start")


def cpu_ticks() -> tuple[int, int]:
    """All CPU time of the machine and the part of it stolen by the hypervisor, in ticks (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields[:8]), fields[7] if len(fields) > 7 else 0


def steal_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    total = after[0] - before[0]
    return (after[1] - before[1]) / total if total else 0.0


def bare_floor(envelopes: list[bytes], clients: int, workers: int) -> float:
    """events/s of the same clients against the bare app (the HTTP layer alone), printed like a database's line."""
    proc, port, sock = start_service("sqlite://", workers, BARE_APP, ready_path="/")
    try:
        run_loop(drive(port, envelopes[:200], clients))
        cpu_before, ticks_before = cpu_seconds(proc.pid), cpu_ticks()
        elapsed, latencies, statuses = run_loop(drive(port, envelopes[200:], clients))
        cpu, steal = cpu_seconds(proc.pid) - cpu_before, steal_share(ticks_before, cpu_ticks())
    finally:
        proc.terminate()
        proc.wait(30)
        sock.close()
    rate = len(latencies) / elapsed
    p50, p99 = percentiles_ms(latencies)
    print(f"{'bare HTTP':<11} {len(latencies):>6} envelopes  {clients} clients  {workers} worker(s)  {rate:>7.0f} events/s  "
          f"p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  statuses {statuses}")
    print(f"{'':<11} the floor: the same uvicorn answering 200 after reading each body, no work; its CPU "
          f"{cpu * 1000 / len(latencies):.2f} ms per request; {steal:.0%} of the machine's CPU time stolen")
    return rate


def percentiles_ms(latencies: list[float]) -> tuple[float, float]:
    lat = sorted(latencies)
    return statistics.median(lat) * 1000, lat[int(len(lat) * 0.99) - 1] * 1000


def cpu_seconds(pid: int) -> float:
    """User + system CPU of `pid` and its live children (uvicorn's workers), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def process_cpu_seconds(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def database_cpu_seconds(url: str) -> float:
    """CPU of the PostgreSQL backends serving `url` (0 for SQLite, which runs inside the service)."""
    if not url.startswith("postgresql"):
        return 0.0
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
        pids = [row[0] for row in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,))]
    return process_cpu_seconds(pids)


def make_database(kind: str, tmp: Path) -> tuple[str, callable]:
    from models.db import upgrade

    if kind == "sqlite":
        url = f"sqlite:///{tmp / 'bench.db'}"
        upgrade(url)
        return url, lambda: None
    import psycopg

    name = f"bench_telemetry_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)

    def drop() -> None:
        from models.db import dispose_all

        dispose_all()
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return url, drop


def stored_counts(url: str) -> tuple[int, int, int]:
    from sqlalchemy import text

    from models.db import engine_for

    with engine_for(url).connect() as conn:
        events = conn.execute(text("SELECT count(*) FROM telemetry_event")).scalar_one()
        counted = conn.execute(text("SELECT coalesce(sum(count), 0) FROM telemetry_group")).scalar_one()
        groups = conn.execute(text("SELECT count(*) FROM telemetry_group")).scalar_one()
    return events, counted, groups


def run(kind: str, envelopes: list[bytes], clients: int, workers: int, fingerprints: int, floor: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url, drop = make_database(kind, Path(tmp))
        proc, port, sock = start_service(url, workers)
        try:
            run_loop(drive(port, envelopes[:200], clients))  # warm-up, not measured (counted in the check)
            cpu_before, own_before, load_before = cpu_seconds(proc.pid), own_cpu_seconds(), os.getloadavg()[0]
            db_before, ticks_before = database_cpu_seconds(url), cpu_ticks()
            elapsed, latencies, statuses = run_loop(drive(port, envelopes[200:], clients))
            cpu, own = cpu_seconds(proc.pid) - cpu_before, own_cpu_seconds() - own_before
            db_cpu, steal = database_cpu_seconds(url) - db_before, steal_share(ticks_before, cpu_ticks())
        finally:
            proc.terminate()
            proc.wait(30)
            sock.close()
        accepted = len(latencies) if set(statuses) == {200} else statuses.get(200, 0)
        events, counted, groups = stored_counts(url)
        drop()
    p50, p99 = percentiles_ms(latencies)
    rate = len(latencies) / elapsed
    print(f"{kind:<11} {len(latencies):>6} envelopes  {clients} clients  {workers} worker(s)  "
          f"{rate:>7.0f} events/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  statuses {statuses}")
    print(f"{'':<11} {rate / floor:.0%} of the bare HTTP floor; {steal:.0%} of the machine's CPU time stolen")
    accepted_total = accepted + 200
    load = os.getloadavg()[0]
    print(f"{'':<11} service CPU {cpu * 1000 / len(latencies):.2f} ms per event (≈ {len(latencies) / cpu:.0f} events/s "
          f"per busy core); load generator CPU {own * 1000 / len(latencies):.2f} ms per event "
          f"({own / elapsed * 100:.0f}% of a core); load average {load_before:.1f} before, {load:.1f} after the run "
          f"on {os.cpu_count()} cores")
    if db_cpu:
        print(f"{'':<11} PostgreSQL backends' CPU {db_cpu * 1000 / len(latencies):.2f} ms per event")
    print(f"{'':<11} accepted {accepted_total}, events stored {events}, counted in groups {counted}, groups {groups}")
    if not (events == counted == accepted_total and groups == fingerprints):
        raise SystemExit(f"{kind}: stored counts differ from accepted ({accepted_total})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--envelopes", type=int, default=20_000)
    parser.add_argument("--fingerprints", type=int, default=200)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--db", default="sqlite,postgresql")
    args = parser.parse_args()
    envelopes = build_envelopes(args.envelopes + 200, args.fingerprints)
    print(f"telemetry ingest: {args.envelopes} gzip envelopes ({len(envelopes[0])} bytes each) over "
          f"{args.fingerprints} fingerprints, loopback, {os.cpu_count()} cores")
    floor = bare_floor(envelopes, args.clients, args.workers)
    for kind in args.db.split(","):
        run(kind, envelopes, args.clients, args.workers, args.fingerprints, floor)


if __name__ == "__main__":
    main()
