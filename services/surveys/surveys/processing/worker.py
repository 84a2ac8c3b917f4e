"""The parsing worker: a background thread, started in the app's lifespan, claiming exports."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from rlc_shared.storage import ObjectStorage
from rlc_shared.worker import PeriodicWorker
from surveys.config import Settings
from surveys.processing.service import Directory, Processor
from surveys.pseudonyms import Pseudonymiser


def parsing_worker(
    *,
    engine: Engine,
    storage: ObjectStorage,
    directory: Directory,
    pseudonymiser: Pseudonymiser,
    settings: Settings,
) -> tuple[PeriodicWorker, Processor]:
    """The worker thread and its processor; the processor stops between chunks (putting its
    export back for the next worker) once the thread is asked to stop."""
    worker: PeriodicWorker | None = None
    processor = Processor(
        engine=engine,
        storage=storage,
        directory=directory,
        pseudonymiser=pseudonymiser,
        chunk_rows=settings.chunk_rows,
        stale_after=settings.worker_stale_after_seconds,
        max_attempts=settings.worker_max_attempts,
        interval=settings.worker_interval_seconds,
        max_backoff=settings.worker_max_backoff_seconds,
        errors_kept=settings.errors_kept,
        should_stop=lambda: worker is not None and worker.stopping,
    )
    worker = PeriodicWorker(
        name="surveys-parsing-worker",
        step=processor.step,
        interval=settings.worker_interval_seconds,
    )
    return worker, processor
