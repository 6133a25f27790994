"""In-process investigations wait for a burst of webhooks to be answered, but not for ever."""

from __future__ import annotations

import threading
import time

from triageflow.service import worker as worker_module
from triageflow.service.worker import WebhookWorker
from triageflow.settings import load_settings


def make_worker(tmp_path, monkeypatch) -> WebhookWorker:
    monkeypatch.setenv("WEBHOOK_SPOOL_DIR", str(tmp_path / "spool"))
    return WebhookWorker(load_settings())


def test_no_webhook_lately_means_no_wait(tmp_path, monkeypatch):
    w = make_worker(tmp_path, monkeypatch)
    started = time.monotonic()
    w._wait_for_quiet()
    assert time.monotonic() - started < worker_module.WEBHOOKS_QUIET_SECONDS


def test_waits_while_webhooks_arrive_then_runs_once_they_stop(tmp_path, monkeypatch):
    w = make_worker(tmp_path, monkeypatch)
    stop_sending = threading.Event()

    def sender() -> None:  # a burst: a webhook every 20 ms for 0.6 s
        deadline = time.monotonic() + 0.6
        while time.monotonic() < deadline:
            w._last_webhook = time.monotonic()
            time.sleep(0.02)
        stop_sending.set()

    threading.Thread(target=sender).start()
    time.sleep(0.05)
    w._wait_for_quiet()
    assert stop_sending.is_set(), "an investigation started while webhooks were still arriving"


def test_never_defers_longer_than_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(worker_module, "INVESTIGATION_MAX_DEFER_SECONDS", 0.3)
    w = make_worker(tmp_path, monkeypatch)
    keep_sending = threading.Event()
    keep_sending.set()

    def sender() -> None:
        while keep_sending.is_set():
            w._last_webhook = time.monotonic()
            time.sleep(0.02)

    threading.Thread(target=sender, daemon=True).start()
    try:
        started = time.monotonic()
        w._wait_for_quiet()
        waited = time.monotonic() - started
    finally:
        keep_sending.clear()
    assert 0.25 <= waited < 5, f"waited {waited:.2f} s under a steady stream"
