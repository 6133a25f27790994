"""The service's background work: deliveries from a bounded queue, in-process investigations through another,
and a sweep that finishes what a crash or a failure left undone (the claims say what that is).

With the investigation deployment on the Prefect server, an investigation is only an event. Without it,
flows run here, one at a time, against ONE Prefect server for the whole service: the configured
`PREFECT_API_URL`, or a server started once through `triageflow.prefect_server`.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from pathlib import Path

from ..once import Hold, retakeable, take
from ..settings import Settings
from .alerting import _post_event, deployment_exists, pending_deliveries
from .delivery_work import BATCH_MAX, process_deliveries
from .spool import Spool

log = logging.getLogger("triageflow.service")


WEBHOOKS_QUIET_SECONDS = 0.25  # no webhook for this long: a burst is over
INVESTIGATION_MAX_DEFER_SECONDS = 10.0
BATCH_LINGER_SECONDS = 0.05  # a delivery waits this long for others of its burst to be worked with it


class WebhookWorker:
    """Threads that work stored deliveries; `enqueue` is all the request path does."""

    def __init__(self, s: Settings, *, prefect_api_url: str | None = None) -> None:
        self.s = s
        self.prefect_api_url = prefect_api_url
        self.deliveries: queue.Queue[int] = queue.Queue(maxsize=s.webhook_queue_size)
        self.investigations: queue.Queue[tuple[str, Hold]] = queue.Queue(maxsize=s.investigation_queue_size)
        self.spool = Spool(Path(s.webhook_spool_dir), s.webhook_spool_max_bytes)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started = False
        self._lock = threading.Lock()
        self._queued: set[int] = set()  # in the queue or being worked: the sweep does not add them twice
        self._last_webhook = 0.0  # when the request path last handed over a delivery

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "WebhookWorker":
        with self._lock:
            if self._started:
                return self
            self._started = True
            for n in range(self.s.webhook_workers):
                self._spawn(self._work_deliveries, f"webhook-worker-{n}")
            self._spawn(self._work_investigations, "investigations")
            self._spawn(self._sweep_forever, "webhook-sweep")
        return self

    def _spawn(self, target, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def run_forever(self) -> None:
        """Work until interrupted: a worker process of its own beside the web service (`triage webhook-worker`)."""
        self.start()
        try:
            while not self._stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=timeout)

    # ------------------------------------------------------------------ the request path's side

    def enqueue(self, delivery_id: int) -> None:
        """Hand a stored delivery to the workers; when the queue is full the sweep picks it up later."""
        self._last_webhook = time.monotonic()
        with self._lock:
            if delivery_id in self._queued:
                return
            self._queued.add(delivery_id)
        try:
            self.deliveries.put_nowait(delivery_id)
        except queue.Full:
            with self._lock:
                self._queued.discard(delivery_id)
            log.warning("webhook queue full: delivery %s waits for the sweep", delivery_id)

    # ------------------------------------------------------------------ deliveries

    def _work_deliveries(self) -> None:
        """What is queued, up to BATCH_MAX at a time: a burst is worked in batches (delivery_work.py), for
        which the first delivery waits BATCH_LINGER_SECONDS; a batch of one costs as much as one of fifty."""
        while not self._stop.is_set():
            try:
                batch = [self.deliveries.get(timeout=0.2)]
            except queue.Empty:
                continue
            gather_until = time.monotonic() + BATCH_LINGER_SECONDS
            while len(batch) < BATCH_MAX:
                try:
                    batch.append(self.deliveries.get(timeout=max(0.0, gather_until - time.monotonic())))
                except queue.Empty:
                    break
            try:
                process_deliveries(batch, self.s, investigate=self.investigate)
            except Exception:  # noqa: BLE001 - the deliveries stay pending; the sweep tries again
                log.exception("webhook deliveries %s failed", batch)
            finally:
                with self._lock:
                    self._queued.difference_update(batch)

    def investigate(self, issue_id: str, hold: Hold, s: Settings) -> str:
        """With a deployment: emit its event. Without: queue an in-process run (the claim is already held)."""
        if self._deployed():
            try:
                _post_event(self.prefect_api_url, issue_id)
            except Exception as exc:
                hold.failed(f"{exc.__class__.__name__}: {exc}")
                raise
            hold.done({"how": "event"})
            return "event"
        try:
            self.investigations.put_nowait((issue_id, hold))
        except queue.Full:
            hold.failed("investigation queue full")  # retaken by the sweep
            return "postponed (queue full)"
        return "queued"

    def _deployed(self) -> bool:
        if not self.prefect_api_url:
            return False
        return deployment_exists(api_url=self.prefect_api_url)

    # ------------------------------------------------------------------ in-process investigations

    def _work_investigations(self) -> None:
        with contextlib.ExitStack() as stack:
            ready = False
            while not self._stop.is_set():
                try:
                    issue_id, hold = self.investigations.get(timeout=0.2)
                except queue.Empty:
                    continue
                if not ready:
                    stack.enter_context(self._prefect())
                    ready = True
                self._wait_for_quiet()
                self._run_investigation(issue_id, hold)

    def _wait_for_quiet(self) -> None:
        """Let a burst of webhooks be answered first: an in-process flow run holds the interpreter for about a
        second of CPU, and requests waiting for it are what a sender times out on. Deferred while webhooks
        keep arriving, never for longer than INVESTIGATION_MAX_DEFER_SECONDS."""
        deferred_until = time.monotonic() + INVESTIGATION_MAX_DEFER_SECONDS
        while (not self._stop.is_set() and time.monotonic() < deferred_until
               and time.monotonic() - self._last_webhook < WEBHOOKS_QUIET_SECONDS):
            self._stop.wait(WEBHOOKS_QUIET_SECONDS / 4)

    @contextlib.contextmanager
    def _prefect(self):
        """The one Prefect server this service's flow runs use, entered once, on the first run."""
        from prefect.settings import PREFECT_API_URL, temporary_settings

        if not self.prefect_api_url:  # none configured: the process's one shared local server (prefect_server.py)
            from ..prefect_server import LOCAL_PREFECT_HOME, ensure_prefect_api

            self.prefect_api_url = ensure_prefect_api(LOCAL_PREFECT_HOME)
        with temporary_settings(updates={PREFECT_API_URL: self.prefect_api_url}):
            yield

    def _run_investigation(self, issue_id: str, hold: Hold) -> None:
        from flows.investigate import investigate_issue

        try:
            if not hold.renew(self.s.investigation_lease_seconds):
                return  # its lease ran out while it waited and someone else took it
            state = investigate_issue(issue_id, return_state=True)
        except Exception as exc:  # noqa: BLE001 - recorded on the claim; the sweep retries it
            hold.failed(f"{exc.__class__.__name__}: {exc}")
            log.exception("investigation of issue %s failed", issue_id)
            return
        try:
            if state.is_completed():
                hold.done({"how": "in-process"})
            else:
                hold.failed(f"in-process: {state.name}")
        except Exception:  # noqa: BLE001 - its lease runs out and the sweep decides again
            log.exception("investigation of issue %s: its claim could not be updated", issue_id)

    # ------------------------------------------------------------------ the sweep

    def _sweep_forever(self) -> None:
        while not self._stop.is_set():
            try:
                self.sweep()
            except Exception as exc:  # noqa: BLE001 - the next round tries again
                log.warning("webhook sweep: %s", exc)
            self._stop.wait(self.s.webhook_sweep_seconds)

    def sweep(self) -> None:
        """Spooled webhooks into the database, pending deliveries to the workers, abandoned investigations again."""
        url = self.s.triage_database_url
        for delivery_id in self.spool.drain(url):
            self.enqueue(delivery_id)
        for delivery_id in pending_deliveries(url, limit=self.s.webhook_queue_size):
            self.enqueue(delivery_id)
        start_untriaged_alerts(self.s)
        for key, detail in retakeable(url, "investigate:", max_attempts=5):
            issue_id = str(detail.get("issue_id", ""))
            if not issue_id:
                continue
            hold = take(url, key, lease_seconds=self.s.investigation_lease_seconds, detail=detail)
            if hold:
                self.investigate(issue_id, hold, self.s)


def start_untriaged_alerts(s: Settings) -> list[tuple[int, str]]:
    """Monitoring alerts stored but never started (a crash after the 202, a failed start) go to triage now;
    the triage run's own claim keeps a late duplicate start from acting twice."""
    from datetime import timedelta

    from tasks.alert_store import untriaged, update_event

    from .alerts import start_alert_triage

    started = []
    for event_id in untriaged(s.triage_database_url, older_than=timedelta(seconds=s.alert_sweep_after_seconds)):
        try:
            how = start_alert_triage(event_id, s)
        except Exception as exc:  # noqa: BLE001 - stays pending for the next round
            how = f"not started: {exc.__class__.__name__}"
        update_event(s.triage_database_url, event_id, triage_started=f"sweep: {how}"[:100])
        started.append((event_id, how))
    return started

