"""The outbox worker: a background thread, started in the app's lifespan, draining the outbox."""

from __future__ import annotations

import logging
import threading

from sqlalchemy.engine import Engine

from randomisation.clients import RecruitmentClient
from randomisation.notifications import service
from randomisation.signing import Signer
from rlc_shared.db import Transactions

log = logging.getLogger("randomisation.outbox")


class OutboxWorker:
    def __init__(
        self,
        *,
        engine: Engine,
        client: RecruitmentClient,
        signer: Signer,
        ready: threading.Event,
        interval: float,
        max_backoff: float,
        batch_size: int,
    ) -> None:
        self._transactions = Transactions(engine)
        self._client = client
        self._signer = signer
        self._ready = ready
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
            if not self._ready.is_set():  # the signing key is not registered yet
                self._stop.wait(self._interval)
                continue
            try:
                counts = service.drain(
                    self._transactions,
                    self._client,
                    signer=self._signer,
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
