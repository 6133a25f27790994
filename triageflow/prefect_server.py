"""A real `prefect server` on a loopback port: the one way the tests, the demo, the benches and the web service
start one, and the one place that stops it again (on exit, SIGTERM and SIGINT alike)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
LOCAL_PREFECT_HOME = Path(".triageflow/prefect")
"""Where a process with no PREFECT_API_URL keeps the local server it starts (kept between starts: faster)."""
STARTUP_TIMEOUT = 300.0
"""A first start on an empty Prefect home migrates its database: 20–25 s on 2 cores, more under load."""


class PrefectServerError(RuntimeError):
    """The server did not come up; the message carries the end of its log."""


@dataclass(frozen=True)
class PrefectServer:
    """A running server: where its API and UI answer, and the log it writes."""

    api_url: str
    ui_url: str | None
    home: Path
    log_path: Path

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def run_url(self, flow_run_id) -> str:
        return f"{self.ui_url or self.api_url}/runs/flow-run/{flow_run_id}"

    def artifact_url(self, artifact_id) -> str:
        return f"{self.ui_url or self.api_url}/artifacts/artifact/{artifact_id}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def offline_prefect_env() -> dict[str, str]:
    """What keeps Prefect quiet and offline, for servers, workers and clients alike."""
    return {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the server gets SIGTERM if the process that started it dies, even by `kill -9`."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@contextlib.contextmanager
def prefect_server(home: Path, database: str = "sqlite", *, ui: bool = False,
                   startup_timeout: float = STARTUP_TIMEOUT, announce: Callable[[str], None] | None = None,
                   admin_url: str = POSTGRES_ADMIN_URL, point_settings: bool = True) -> Iterator[PrefectServer]:
    """Start `prefect server start` with its home in `home`, wait until it answers, stop it on the way out.

    On PostgreSQL (production's set-up) it gets a database of its own, dropped afterwards. Inside the block the
    current Prefect settings point at it (unless `point_settings` is false)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    api_url, ui_url = f"http://127.0.0.1:{port}/api", (f"http://127.0.0.1:{port}" if ui else None)
    env = dict(os.environ, **offline_prefect_env(), PREFECT_HOME=str(home), PREFECT_UI_ENABLED=str(ui).lower(),
               PREFECT_SERVER_API_HOST="127.0.0.1", PREFECT_SERVER_API_PORT=str(port), PREFECT_UI_API_URL=api_url)
    env.pop("PREFECT_API_URL", None)
    dbname = None
    if database == "postgresql":
        import psycopg

        dbname = f"prefect_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{dbname}"
    log_path = home / "server.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=_die_with_parent if threading.current_thread() is threading.main_thread() else None)
    server = PrefectServer(api_url, ui_url, home, log_path)
    try:
        _wait_until_healthy(server, process, startup_timeout, announce)
        with temporary_settings(updates={PREFECT_API_URL: api_url}) if point_settings else contextlib.nullcontext():
            yield server
    finally:
        stop_process_group(process)
        if dbname:
            import psycopg

            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def _wait_until_healthy(server: PrefectServer, process: subprocess.Popen, timeout: float,
                        announce: Callable[[str], None] | None) -> None:
    started = time.monotonic()
    said = -1
    while True:
        waited = time.monotonic() - started
        if process.poll() is not None:
            raise PrefectServerError(f"prefect server exited with status {process.returncode}:\n"
                                     + server.log_text()[-3000:])
        try:
            if httpx.get(server.api_url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if waited > timeout:
            raise PrefectServerError(f"prefect server did not answer at {server.api_url} within {timeout:.0f} s:\n"
                                     + server.log_text()[-3000:])
        if announce and int(waited) // 10 > said:
            said = int(waited) // 10
            announce(f"waiting for the Prefect server at {server.api_url} ({waited:.0f} s; a first start "
                     "migrates its database)")
        time.sleep(0.3)


def stop_process_group(process: subprocess.Popen) -> None:
    """SIGTERM to a process's whole group (uvicorn runs below `prefect server start`, flow runs below a worker),
    then SIGKILL."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _sigterm_to_system_exit(signum, _frame) -> None:
    raise SystemExit(128 + signum)


def exit_on_sigterm() -> None:
    """From now on SIGTERM ends this process like Ctrl-C: `finally` blocks and exit hooks (servers we or Prefect
    started) run. uvicorn restores the handler it found and re-raises the signal after its graceful shutdown, so
    that re-raise ends in our cleanup instead of killing the process on the spot."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _sigterm_to_system_exit)


@contextlib.contextmanager
def exit_cleanly_on_sigterm() -> Iterator[None]:
    """`exit_on_sigterm` for the length of a block, the previous handler restored after it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _sigterm_to_system_exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


_shared_lock = threading.Lock()
_shared: dict[str, object] = {}


def ensure_prefect_api(home: Path, announce: Callable[[str], None] | None = None) -> str:
    """The Prefect API this process talks to: `PREFECT_API_URL` when set, else ONE local server for the whole
    process (started on first need, stopped at exit), instead of Prefect starting a temporary one per run."""
    from prefect.context import refresh_global_settings_context
    from prefect.settings import PREFECT_API_URL

    current = PREFECT_API_URL.value()
    if current:
        return current
    with _shared_lock:
        if "server" not in _shared:
            import atexit

            stack = contextlib.ExitStack()
            server = stack.enter_context(prefect_server(home.resolve(), announce=announce, point_settings=False))
            atexit.register(stack.close)
            _shared.update(server=server, stack=stack)
            os.environ["PREFECT_API_URL"] = server.api_url
            refresh_global_settings_context()
        return _shared["server"].api_url  # type: ignore[union-attr]


def stop_shared_prefect() -> None:
    """Stop the process's shared local server, if one was started (on shutdown)."""
    from prefect.context import refresh_global_settings_context

    with _shared_lock:
        stack = _shared.pop("stack", None)
        server = _shared.pop("server", None)
        if stack is not None:
            _drain_prefect_workers()
            stack.close()  # type: ignore[union-attr]
            if os.environ.get("PREFECT_API_URL") == server.api_url:  # type: ignore[union-attr]
                del os.environ["PREFECT_API_URL"]
                refresh_global_settings_context()


def _drain_prefect_workers() -> None:
    """Send what Prefect's background log and event workers still hold while the server is up, so their exit
    hooks do not wait on a server that is gone."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        with contextlib.suppress(Exception):
            worker.drain_all(timeout=5)
