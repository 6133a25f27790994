"""Webhook to alert and webhook to investigation comment, median of 20, next to the bare investigation time
of the same issues in the same run. The service runs the investigation in-process (no deployment)."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1", PREFECT_LOGGING_LEVEL="ERROR")

import httpx  # noqa: E402

from triageflow.prefect_server import prefect_server  # noqa: E402
from triageflow.sandbox import SandboxServer, seed  # noqa: E402
from triageflow.sandbox.server import LoopbackServer  # noqa: E402

SECRET = "bench-webhook-secret-0123"


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="triage-bench-hook-"))
    ids = [str(s.id) for s in seed.ISSUES if s.frames][:20]
    with SandboxServer(codebase_dir=workdir / "booking") as sb:
        from triageflow.cli import sandbox_env

        os.environ.update(sandbox_env(sb), TRIAGE_DATABASE_URL=f"sqlite:///{workdir / 'bench.db'}",
                          WEBHOOK_SECRET=SECRET, GLITCHTIP_RATE_LIMIT="0", PREFECT_HOME=str(workdir / "prefect"))
        from models.db import upgrade

        upgrade(os.environ["TRIAGE_DATABASE_URL"])
        from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

        from flows.investigate import investigate_issue
        from triageflow.service.app import create_service

        database = "postgresql" if len(sys.argv) < 2 else sys.argv[1]
        with prefect_server(workdir, database), temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}), \
                LoopbackServer(create_service()) as service:
            investigate_issue("10", post_comment=False)  # warm-up
            to_alert, to_comment = [], []
            for issue_id in ids:
                payload = httpx.post(f"{sb.url}/_sandbox/webhooks/glitchtip", json={
                    "issue_ids": [issue_id]}, timeout=30).json()["payload"]
                alerts_before = len([m for m in httpx.get(f"{sb.url}/_sandbox/outbox").json() if m["method"] == "sendMessage"])
                started = time.perf_counter()
                response = httpx.post(f"{service.url}/webhooks/glitchtip", params={"token": SECRET}, json=payload)
                assert response.status_code == 202, response.text
                alerted = commented = None
                while commented is None and time.perf_counter() - started < 60:
                    now = time.perf_counter() - started
                    if alerted is None and len([m for m in httpx.get(f"{sb.url}/_sandbox/outbox").json()
                                                if m["method"] == "sendMessage"]) > alerts_before:
                        alerted = now
                    comments = httpx.get(f"{sb.url}/api/0/issues/{issue_id}/comments/",
                                         headers={"Authorization": f"Bearer {sb.token}"}).json()
                    if any(f"triageflow:investigation:{issue_id}" in c["data"]["text"] for c in comments):
                        commented = now
                    time.sleep(0.01)
                to_alert.append(alerted)
                to_comment.append(commented)
            bare = []
            for issue_id in ids:  # afterwards, so the webhooks met no cache: the same work without the webhook
                started = time.perf_counter()
                investigate_issue(issue_id, post_comment=False, force=True)
                bare.append(time.perf_counter() - started)
    a, c, b = statistics.median(to_alert), statistics.median(to_comment), statistics.median(bare)
    print(f"webhook latency, median of {len(ids)} issues (Prefect server on {database}):")
    print(f"  webhook → Telegram alert in the outbox      {a:6.3f} s")
    print(f"  webhook → investigation comment on issue    {c:6.3f} s")
    print(f"  bare investigation (same issues, no webhook) {b:6.3f} s   (comment latency minus it: {c - b:.3f} s)")


if __name__ == "__main__":
    main()
