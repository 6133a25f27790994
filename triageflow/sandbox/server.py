"""Runs the sandbox on a loopback port, in a background thread (tests, demo) or in the foreground (CLI)."""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from .app import Sandbox, create_app
from .sample_repo import build_sample_repo


class LoopbackServer:
    """An ASGI app served by uvicorn from a background thread, on a loopback port (0: any free one)."""

    health_path = "/health"

    def __init__(self, app, *, host: str = "127.0.0.1", port: int = 0, keep_alive: float = 5.0,
                 lifespan: str = "off") -> None:
        self.host = host
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # inherited by accepted sockets on Linux: without it, header and body writes meet delayed ACKs (~40 ms a call)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.bind((host, port))
        self.port = self._sock.getsockname()[1]
        self.app = app
        config = uvicorn.Config(app, log_level="warning", timeout_keep_alive=keep_alive, lifespan=lifespan,
                                access_log=False)
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self):
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]},
                                        name=f"loopback-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.url}{self.health_path}", timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError(f"server did not start on {self.url}")

    def serve_forever(self) -> None:
        self._server.run(sockets=[self._sock])

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread:
            self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SandboxServer(LoopbackServer):
    """`with SandboxServer() as sb: sb.url` — a live sandbox on 127.0.0.1 until the block ends."""

    health_path = "/_sandbox/info"

    def __init__(self, sandbox: Sandbox | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 keep_alive: float = 5.0, codebase_dir: Path | None = None, build_codebase: bool = True,
                 glitchtip_release: str | None = None) -> None:
        self.sandbox = sandbox or Sandbox(glitchtip_release=glitchtip_release)
        if build_codebase and self.sandbox.codebase is None:
            target = codebase_dir or Path(tempfile.mkdtemp(prefix="triage-sample-")) / "booking"
            self.sandbox.codebase = build_sample_repo(target, now=self.sandbox.glitchtip.now)
        super().__init__(create_app(self.sandbox), host=host, port=port, keep_alive=keep_alive)

    @property
    def token(self) -> str:
        return self.sandbox.token

