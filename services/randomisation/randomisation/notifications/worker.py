"""The outbox worker: a background thread, started in the app's lifespan, draining the outbox."""

from __future__ import annotations

import threading

from sqlalchemy.engine import Engine

from randomisation.notifications import service
from randomisation.signing import Signer
from rlc_clients.recruitment import RecruitmentClient
from rlc_shared.db import Transactions
from rlc_shared.worker import PeriodicWorker


def outbox_worker(
    *,
    engine: Engine,
    client: RecruitmentClient,
    signer: Signer,
    ready: threading.Event,
    interval: float,
    max_backoff: float,
    batch_size: int,
) -> PeriodicWorker:
    transactions = Transactions(engine)

    def step() -> bool:
        if not ready.is_set():  # the signing key is not registered yet
            return False
        counts = service.drain(
            transactions,
            client,
            signer=signer,
            actor=service.WORKER_ACTOR,
            limit=batch_size,
            interval=interval,
            max_backoff=max_backoff,
        )
        # A full batch delivered without failures: more may be waiting, go on at once.
        return counts.attempted == batch_size and not counts.failed

    return PeriodicWorker(name="outbox-worker", step=step, interval=interval)
