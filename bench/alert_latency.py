"""Alert → Slack message and alert → GitHub issue, median of 20 distinct alerts posted to `POST /alerts/alertmanager`
(triage in-process, remediation off so its wait is zero), next to the bare calls the flow makes in the same run
(one chat.postMessage, one issue create) and a bare flow run of the same triage."""

from __future__ import annotations

import copy
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1", PREFECT_LOGGING_LEVEL="ERROR")

import httpx  # noqa: E402

from triageflow.prefect_server import prefect_server  # noqa: E402
from triageflow.sandbox import SandboxServer  # noqa: E402
from triageflow.sandbox.github_api import github_env  # noqa: E402

SECRET = "bench-alert-secret-0123456"
N = 20


class TriageServe:
    """`triage serve` on a free loopback port, in its own process."""

    def __init__(self, env: dict, workdir: Path) -> None:
        import socket
        import subprocess

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen([str(Path(sys.executable).parent / "triage"), "serve", "--port", str(port)],
                                        env=env, cwd=workdir, stdout=(workdir / "serve.log").open("wb"),
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.url}/health", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("triage serve did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def alert_body(n: int) -> dict:
    recorded = json.loads((ROOT / "tests/fixtures/peers/alerting/alertmanager-firing-two-alerts.json").read_text())
    body = copy.deepcopy(recorded["body"])
    alert = body["alerts"][0]
    alert["fingerprint"] = f"bench{n:011d}"
    alert["labels"] = dict(alert["labels"], instance=f"api-{n}:3000")
    alert["startsAt"] = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    body["alerts"] = [alert]
    return body


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="triage-bench-alert-"))
    with SandboxServer(build_codebase=False) as sb:
        from triageflow.cli import sandbox_env

        os.environ.update({**sandbox_env(sb), **github_env(sb)}, TRIAGE_DATABASE_URL=f"sqlite:///{workdir / 'bench.db'}",
                          WEBHOOK_SECRET=SECRET, LOKI_URL=sb.url, GITHUB_SECONDS_BETWEEN_WRITES="0",
                          ALERT_MAX_ISSUES_PER_HOUR="1000", REMEDIATION_ENABLED="false",
                          PREFECT_HOME=str(workdir / "prefect"))
        from models.db import upgrade

        upgrade(os.environ["TRIAGE_DATABASE_URL"])
        from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

        from flows.alert_triage import alert_triage
        from tasks.alert_payloads import parse_alert_group
        from tasks.alert_store import store_alert
        from triageflow.clients.github import GitHub
        from triageflow.clients.slack import Slack
        from triageflow.sandbox.github_api import GITHUB_TOKEN

        database = "postgresql" if len(sys.argv) < 2 else sys.argv[1]
        with prefect_server(workdir, database) as prefect, \
                temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            service = TriageServe(dict(os.environ, PREFECT_API_URL=prefect.api_url), workdir)  # as deployed: its own process
            warm = store_alert(os.environ["TRIAGE_DATABASE_URL"], parse_alert_group(alert_body(999), "alertmanager")[0])
            alert_triage(warm.event_id)  # warm-up: the first flow run in a process costs more
            to_slack, to_issue = [], []
            for n in range(N):
                slack_before = len(httpx.get(f"{sb.url}/_sandbox/outbox", params={"service": "slack"}).json())
                issues_before = len(httpx.get(f"{sb.url}/_sandbox/github/issues").json())
                started = time.perf_counter()
                response = httpx.post(f"{service.url}/alerts/alertmanager", params={"token": SECRET},
                                      json=alert_body(n), timeout=30)
                assert response.status_code == 202, response.text
                slacked = filed = None
                while filed is None and time.perf_counter() - started < 60:
                    now = time.perf_counter() - started
                    if slacked is None and len(httpx.get(f"{sb.url}/_sandbox/outbox",
                                                         params={"service": "slack"}).json()) > slack_before:
                        slacked = now
                    if len(httpx.get(f"{sb.url}/_sandbox/github/issues").json()) > issues_before:
                        filed = now
                    time.sleep(0.01)
                to_slack.append(slacked)
                to_issue.append(filed)
            bare_flow = []
            for n in range(N):  # the same triage called directly: no webhook, no background task
                stored = store_alert(os.environ["TRIAGE_DATABASE_URL"],
                                     parse_alert_group(alert_body(100 + n), "alertmanager")[0])
                started = time.perf_counter()
                alert_triage(stored.event_id)
                bare_flow.append(time.perf_counter() - started)
            slack = Slack(os.environ["SLACK_BOT_TOKEN"], os.environ["SLACK_CHANNEL"], api_url=f"{sb.url}/api/")
            gh = GitHub(GITHUB_TOKEN, "acme/booking", api_url=sb.url, seconds_between_writes=0)
            bare_slack, bare_issue = [], []
            for n in range(N):
                started = time.perf_counter()
                slack.post_message(f"bare {n}")
                bare_slack.append(time.perf_counter() - started)
                started = time.perf_counter()
                gh.create_issue(f"bare {n}", "body")
                bare_issue.append(time.perf_counter() - started)
            service.stop()
    med = statistics.median
    print(f"alert latency, median of {N} alerts (Prefect server on {database}, remediation wait zero):")
    print(f"  alert → Slack message in the outbox         {med(to_slack):6.3f} s")
    print(f"  alert → GitHub issue in the sandbox         {med(to_issue):6.3f} s")
    print(f"  bare alert_triage flow run (same alerts)     {med(bare_flow):6.3f} s")
    print(f"  bare chat.postMessage                        {med(bare_slack) * 1000:6.1f} ms")
    print(f"  bare GitHub issue create (PyGithub)          {med(bare_issue) * 1000:6.1f} ms")


if __name__ == "__main__":
    main()
