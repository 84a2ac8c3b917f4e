"""The outbox worker: a background thread, started in the app's lifespan, draining the outbox."""

from __future__ import annotations

import logging
import threading

from sqlalchemy.engine import Engine

from randomisation.clients import RecruitmentClient
from randomisation.notifications import service

log = logging.getLogger("randomisation.outbox")


class OutboxWorker:
    def __init__(
        self,
        *,
        engine: Engine,
        client: RecruitmentClient,
        interval: float,
        max_backoff: float,
        batch_size: int,
    ) -> None:
        self._engine = engine
        self._client = client
        self._interval = interval
        self._max_backoff = max_backoff
        self._batch = batch_size
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="outbox-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            busy = False
            try:
                counts = service.drain(
                    self._engine,
                    self._client,
                    actor=service.WORKER_ACTOR,
                    limit=self._batch,
                    interval=self._interval,
                    max_backoff=self._max_backoff,
                )
                # A full batch delivered without failures: more may be waiting, go on at once.
                busy = counts.attempted == self._batch and not counts.failed
            except Exception:  # noqa: BLE001 - the worker must outlive any one failure
                log.exception("outbox drain failed; retrying after the interval")
            if not busy:
                self._stop.wait(self._interval)
