"""A tiny service that Prometheus scrapes, for end-to-end alert tests and the demo.

    python -m triageflow.sandbox.sample_service serve --port P --pidfile F      # foreground
    python -m triageflow.sandbox.sample_service restart --port P --pidfile F    # what a remediation runs

`GET /metrics` exposes `sample_broken`, `sample_stuck` and `sample_latency_seconds`; `POST /break`, `/stick`,
`/slow` and `/fast` change them. `/break` lives in memory, so a restart really clears it; `/stick` is kept in
a file next to the pid file, so a restart does not. `GET /health` answers 503 while broken.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _State:
    broken = False
    latency = 0.05
    stuck_file: Path | None = None

    @classmethod
    def stuck(cls) -> bool:
        return bool(cls.stuck_file and cls.stuck_file.exists())


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # quiet
        pass

    def _answer(self, status: int, text: str, content_type: str = "text/plain; version=0.0.4") -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/metrics":
            self._answer(200, "\n".join([
                "# TYPE sample_broken gauge", f'sample_broken{{service="sample-app"}} {int(_State.broken)}',
                "# TYPE sample_stuck gauge", f'sample_stuck{{service="sample-worker"}} {int(_State.stuck())}',
                "# TYPE sample_latency_seconds gauge", f'sample_latency_seconds{{service="sample-api"}} {_State.latency}',
                f"sample_pid {os.getpid()}", ""]))
        elif self.path == "/health":
            self._answer(503 if _State.broken else 200, "broken" if _State.broken else "ok")
        else:
            self._answer(404, "not found")

    def do_POST(self) -> None:  # noqa: N802
        if self.path == "/break":
            _State.broken = True
        elif self.path == "/stick" and _State.stuck_file:
            _State.stuck_file.write_text("stuck")
        elif self.path == "/unstick" and _State.stuck_file:
            _State.stuck_file.unlink(missing_ok=True)
        elif self.path == "/slow":
            _State.latency = 3.0
        elif self.path == "/fast":
            _State.latency = 0.05
        else:
            return self._answer(404, "not found")
        self._answer(200, "ok")


def serve(port: int, pidfile: Path) -> None:
    _State.stuck_file = pidfile.with_suffix(".stuck")
    server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    pidfile.write_text(str(os.getpid()))
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()


def _wait_port(port: int, *, free: bool, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            taken = sock.connect_ex(("127.0.0.1", port)) == 0
        if taken != free:
            return True
        time.sleep(0.05)
    return False


def start(port: int, pidfile: Path) -> int:
    """Start the service detached; returns its pid once it answers."""
    process = subprocess.Popen([sys.executable, "-m", "triageflow.sandbox.sample_service", "serve", "--port", str(port),
                                "--pidfile", str(pidfile)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    if not _wait_port(port, free=False):
        raise RuntimeError(f"sample service did not start on port {port}")
    return process.pid


def stop(pidfile: Path, port: int) -> None:
    if pidfile.exists():
        try:
            os.kill(int(pidfile.read_text()), signal.SIGTERM)
        except (ProcessLookupError, ValueError):
            pass
    _wait_port(port, free=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sample_service")
    parser.add_argument("command", choices=["serve", "start", "stop", "restart"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pidfile", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args.port, args.pidfile)
        return 0
    if args.command in ("stop", "restart"):
        stop(args.pidfile, args.port)
    if args.command in ("start", "restart"):
        pid = start(args.port, args.pidfile)
        print(f"sample service restarted (pid {pid}) on 127.0.0.1:{args.port}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
