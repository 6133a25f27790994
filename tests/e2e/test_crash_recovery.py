"""Crashes and outages: `kill -9` of a real `triage serve` after its alert went out, and a database that is
unreachable when a webhook arrives. Afterwards each side effect has happened once and nothing is lost."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from models.db import session_scope
from models.webhooks import WebhookDelivery
from triageflow.sandbox.server import LoopbackServer
from triageflow.service.app import create_service
from triageflow.prefect_server import free_port
from triageflow.settings import reset_settings

from ..waiting import wait_for

SECRET = "s3cret-webhook-token-0123"
TRIAGE = str(Path(sys.executable).with_name("triage"))




def alerts(control) -> list[dict]:
    return [m for m in control.outbox("telegram") if m["method"] == "sendMessage"]


def investigation_comments(glitchtip, issue_id) -> list:
    return [c for c in glitchtip.comments(issue_id) if f"triageflow:investigation:{issue_id}" in c.text]


def deliveries(url) -> list[WebhookDelivery]:
    with session_scope(url) as s:
        return list(s.exec(select(WebhookDelivery)))


class Serve:
    """`triage serve` as a subprocess on a free port."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log.open("ab")
        self.proc = subprocess.Popen([TRIAGE, "serve", "--port", str(self.port)], env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        wait_for(self._up, 60)

    def _up(self) -> bool:
        assert self.proc.poll() is None, "triage serve exited"
        try:
            return httpx.get(f"{self.url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


def test_kill_9_after_the_alert_then_restart_alerts_once_and_comments_once(prefect_harness, triage_env, control,
                                                                          glitchtip, tmp_path):
    from prefect.settings import PREFECT_API_URL

    env = dict(os.environ, **triage_env, WEBHOOK_SECRET=SECRET, PREFECT_API_URL=PREFECT_API_URL.value(),
               WEBHOOK_DELIVERY_LEASE_SECONDS="2", INVESTIGATION_LEASE_SECONDS="3", WEBHOOK_SWEEP_SECONDS="1",
               WEBHOOK_SPOOL_DIR=str(tmp_path / "spool"),
               PREFECT_LOCAL_STORAGE_PATH=str(tmp_path / "results"))  # no evidence cached by earlier tests' runs
    # the investigation's search for similar issues stalls: the process dies with the alert out, the comment not
    control.fault("/api/0/organizations/acme/issues/", "latency", method="GET", seconds=30, times=1)
    first = Serve(env, tmp_path / "serve.log")
    try:
        answer = httpx.post(f"{control.url}/_sandbox/webhooks/glitchtip", timeout=60,
                            json={"url": f"{first.url}/webhooks/glitchtip?token={SECRET}", "issue_ids": ["9"]}).json()
        assert answer["status"] == 202
        wait_for(lambda: alerts(control))
        wait_for(lambda: control.requests("/api/0/organizations/acme/issues/", "GET"))  # the investigation is stalled
        first.kill()
    finally:
        first.stop()
    assert investigation_comments(glitchtip, 9) == []
    httpx.delete(f"{control.url}/_sandbox/faults")

    second = Serve(env, tmp_path / "serve.log")  # no new webhook: the restart finishes what was accepted
    try:
        wait_for(lambda: investigation_comments(glitchtip, 9), 180)
        time.sleep(2)
    finally:
        second.stop()
    assert len(alerts(control)) == 1
    assert len(investigation_comments(glitchtip, 9)) == 1
    assert [d.status for d in deliveries(triage_env["TRIAGE_DATABASE_URL"])] == ["done"]


class Forwarder:
    """A loopback TCP forwarder to PostgreSQL that can be taken down and brought back (the database "outage")."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._conns: list[socket.socket] = []
        self._listener: socket.socket | None = None

    def up(self) -> None:
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", self.port))
        self._listener.listen(64)
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def down(self) -> None:
        """No new connection and none of the old ones. Closing the listener alone is not enough: a thread
        blocked in accept() on it keeps accepting (the outage let a connection through)."""
        listener, self._listener = self._listener, None
        try:
            listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        except OSError:
            pass
        listener.close()
        for conn in self._conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        self._conns.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if listener is not self._listener:  # taken down meanwhile: refuse
                client.close()
                return
            server = socket.create_connection(self.target)
            self._conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def test_a_webhook_accepted_while_the_database_is_down_is_spooled_then_handled(prefect_harness, triage_env,
                                                                               database_url, control, tmp_path,
                                                                               monkeypatch):
    if not database_url.startswith("postgresql"):
        pytest.skip("the outage is a PostgreSQL server going away")
    from sqlalchemy.engine import make_url

    direct = make_url(database_url)
    forwarder = Forwarder((direct.host, direct.port or 5432))
    forwarder.up()
    proxied = direct.set(port=forwarder.port).render_as_string(hide_password=False)
    for key, value in dict(TRIAGE_DATABASE_URL=proxied, WEBHOOK_SECRET=SECRET, WEBHOOK_SWEEP_SECONDS="0.5",
                           WEBHOOK_SPOOL_DIR=str(tmp_path / "spool"), TRIAGE_DRY_RUN="false").items():
        monkeypatch.setenv(key, value)
    reset_settings()
    app = create_service()
    with LoopbackServer(app) as service:
        try:
            forwarder.down()
            answer = httpx.post(f"{control.url}/_sandbox/webhooks/glitchtip", timeout=60,
                                json={"url": f"{service.url}/webhooks/glitchtip?token={SECRET}", "issue_ids": ["9"]})
            reply = answer.json()
            assert reply["status"] == 202, reply
            assert "database unreachable: kept in the local spool" in reply["body"]
            assert (tmp_path / "spool" / "spool.jsonl").stat().st_size > 0
            time.sleep(2)  # sweeps run against the missing database and keep it
            assert alerts(control) == []
            forwarder.up()
            wait_for(lambda: [d.status for d in deliveries(database_url)] == ["done"], 120)
            wait_for(lambda: alerts(control))
        finally:
            app.state.stop_worker()
            forwarder.down()
    assert len(alerts(control)) == 1
    assert not (tmp_path / "spool" / "spool.jsonl").exists() and not (tmp_path / "spool" / "spool.draining.jsonl").exists()
