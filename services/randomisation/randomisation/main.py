"""The randomisation service's app factory."""

import logging
from contextlib import AsyncExitStack
from pathlib import Path

from fastapi import FastAPI

from randomisation.allocations.router import router as allocations_router
from randomisation.config import Settings
from randomisation.keys.service import KeyRegistration
from randomisation.log.router import public_router as log_public_router
from randomisation.log.router import router as log_router
from randomisation.models import AuditEvent
from randomisation.notifications.worker import outbox_worker
from randomisation.runs.router import router as runs_router
from randomisation.signing import load_signer
from rlc_clients.recruitment import RecruitmentClient
from rlc_shared.app import create_service_app
from rlc_shared.audit_api import audit_router
from rlc_shared.http import TokenProvider

SERVICE_DIR = Path(__file__).resolve().parent.parent
log = logging.getLogger("randomisation")


def on_startup(app: FastAPI, stack: AsyncExitStack) -> None:
    settings: Settings = app.state.settings
    app.state.signer = load_signer(settings)
    # The one place the signing key is registered in the log: at start-up (retried until the
    # database is migrated; readiness reports it meanwhile).
    registration = KeyRegistration(app.state.engine, app.state.signer)
    registration.start()
    stack.callback(registration.stop)
    app.state.key_registration = registration
    client = RecruitmentClient(
        settings.recruitment_url,
        tokens=TokenProvider.from_settings(settings),
        timeout=settings.outbound_timeout_seconds,
        retries=settings.outbound_retries,
    )
    stack.callback(client.close)
    app.state.recruitment = client
    if settings.outbox_worker_enabled:
        worker = outbox_worker(
            engine=app.state.engine,
            client=client,
            signer=app.state.signer,
            ready=registration.done,
            interval=settings.outbox_interval_seconds,
            max_backoff=settings.outbox_max_backoff_seconds,
            batch_size=settings.outbox_batch_size,
        )
        worker.start()
        stack.callback(worker.stop)


def key_registered(app: FastAPI) -> str | None:
    if app.state.key_registration.done.is_set():
        return None
    return "The signing key is not registered in the log yet."


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        settings=settings or Settings(),
        title="RLC randomisation service",
        description="Audited, concealed, reproducible allocation of schools to the trial's arms.",
        service_dir=SERVICE_DIR,
        routers=[runs_router, allocations_router, log_router, audit_router(AuditEvent)],
        public_routers=[log_public_router],
        on_startup=on_startup,
        readiness_checks=[key_registered],
    )
