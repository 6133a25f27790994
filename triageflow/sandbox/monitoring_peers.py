"""Debian's `prometheus` and `prometheus-alertmanager` as plain loopback processes with temporary configuration,
plus the sample service they watch: the real peers of the alert end-to-end tests.

Intervals are small (scrape and evaluation 1 s, group_wait/group_interval 1 s) so an alert fires, reaches the
webhook and resolves within seconds.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from .sample_service import start as start_sample
from .sample_service import stop as stop_sample

PROMETHEUS = "prometheus"
ALERTMANAGER = "prometheus-alertmanager"

RULES = {"groups": [{"name": "sample", "interval": "1s", "rules": [
    {"alert": "SampleServiceDown", "expr": "sample_broken == 1",
     "labels": {"severity": "critical"},
     "annotations": {"summary": "sample-app reports itself broken",
                     "description": "sample_broken is 1 on {{ $labels.instance }}"}},
    {"alert": "WorkerInstanceDown", "expr": "sample_stuck == 1",
     "labels": {"severity": "critical"},
     "annotations": {"summary": "sample-worker stopped processing",
                     "description": "sample_stuck is 1 on {{ $labels.instance }}"}},
    {"alert": "SampleLatencyHigh", "expr": "sample_latency_seconds > 1",
     "labels": {"severity": "high"},
     "annotations": {"summary": "sample-api responds slowly", "description": "latency {{ $value }}s",
                     "latency_ms": "{{ $value | printf \"%.0f\" }}000", "baseline_latency_ms": "50"}},
]}]}


def missing_binaries() -> list[str]:
    return [name for name in (PROMETHEUS, ALERTMANAGER) if shutil.which(name) is None]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(url: str, process: subprocess.Popen, log: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited ({process.returncode}): {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{process.args[0]} not ready at {url}: {log.read_text()[-2000:]}")


@dataclass
class MonitoringPeers:
    """`with MonitoringPeers(tmp, webhook_url) as peers:` — sample service → Prometheus → Alertmanager → webhook."""

    workdir: Path
    webhook_url: str
    repeat_interval: str = "2s"
    sample_port: int = field(default_factory=free_port)
    prometheus_port: int = field(default_factory=free_port)
    alertmanager_port: int = field(default_factory=free_port)
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def sample_url(self) -> str:
        return f"http://127.0.0.1:{self.sample_port}"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://127.0.0.1:{self.alertmanager_port}"

    @property
    def pidfile(self) -> Path:
        return self.workdir / "sample.pid"

    def restart_command(self) -> list[str]:
        import sys

        return [sys.executable, "-m", "triageflow.sandbox.sample_service", "restart", "--port", str(self.sample_port),
                "--pidfile", str(self.pidfile)]

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = self.workdir / f"{name}.log"
        process = subprocess.Popen(argv, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=self.workdir)
        self.processes.append(process)
        return process

    def start(self) -> "MonitoringPeers":
        self.workdir.mkdir(parents=True, exist_ok=True)
        start_sample(self.sample_port, self.pidfile)
        am_config = {"global": {"resolve_timeout": "5s"},
                     "route": {"receiver": "triage", "group_by": ["alertname", "service"], "group_wait": "1s",
                               "group_interval": "1s", "repeat_interval": self.repeat_interval},
                     "receivers": [{"name": "triage", "webhook_configs": [
                         {"url": self.webhook_url, "send_resolved": True, "max_alerts": 0}]}]}
        (self.workdir / "am.yml").write_text(yaml.safe_dump(am_config))
        am = self._spawn("alertmanager", [
            ALERTMANAGER, f"--config.file={self.workdir / 'am.yml'}", f"--storage.path={self.workdir / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{self.alertmanager_port}", "--cluster.listen-address=",
            f"--web.external-url={self.alertmanager_url}"])
        _wait_ready(f"{self.alertmanager_url}/-/ready", am, self.workdir / "alertmanager.log")
        (self.workdir / "rules.yml").write_text(yaml.safe_dump(RULES))
        prom_config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                       "rule_files": [str(self.workdir / "rules.yml")],
                       "alerting": {"alertmanagers": [{"static_configs": [
                           {"targets": [f"127.0.0.1:{self.alertmanager_port}"]}]}]},
                       "scrape_configs": [{"job_name": "sample", "static_configs": [
                           {"targets": [f"127.0.0.1:{self.sample_port}"]}]}]}
        (self.workdir / "prometheus.yml").write_text(yaml.safe_dump(prom_config))
        prom = self._spawn("prometheus", [
            PROMETHEUS, f"--config.file={self.workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.workdir / 'prom-data'}", f"--web.listen-address=127.0.0.1:{self.prometheus_port}",
            "--rules.alert.resend-delay=1s", f"--web.external-url={self.prometheus_url}"])
        _wait_ready(f"{self.prometheus_url}/-/ready", prom, self.workdir / "prometheus.log")
        return self

    def poke(self, what: str) -> None:
        """`break`, `stick`, `unstick`, `slow` or `fast` on the sample service."""
        httpx.post(f"{self.sample_url}/{what}", timeout=5).raise_for_status()

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes.clear()
        stop_sample(self.pidfile, self.sample_port)

    def __enter__(self) -> "MonitoringPeers":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
