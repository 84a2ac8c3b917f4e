"""The analysis worker: a background thread, started in the app's lifespan, running queued jobs."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from analytics.analyses import service
from analytics.config import Settings
from analytics.upstreams import Upstreams
from rlc_shared.db import Transactions
from rlc_shared.storage import ObjectStorage
from rlc_shared.worker import PeriodicWorker


def analysis_worker(
    *, engine: Engine, upstreams: Upstreams, storage: ObjectStorage, settings: Settings
) -> PeriodicWorker:
    transactions = Transactions(engine)

    def step() -> bool:
        return service.run_next(
            transactions,
            upstreams=upstreams,
            storage=storage,
            stale_after=settings.analysis_stale_after_seconds,
            max_attempts=settings.analysis_max_attempts,
            examples_kept=settings.outcomes_examples_kept,
        )

    return PeriodicWorker(
        name="analysis-worker", step=step, interval=settings.analysis_interval_seconds
    )
