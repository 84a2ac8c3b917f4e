"""The surveys service's app factory."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

from fastapi import FastAPI

from rlc_clients import RandomisationClient, RecruitmentClient
from rlc_clients.randomisation import LiveAllocations
from rlc_shared.app import create_service_app
from rlc_shared.audit_api import audit_router
from rlc_shared.http import TokenProvider
from surveys.config import Settings
from surveys.exports.bucket import EvaluatorBucket
from surveys.exports.router import UPLOAD_PATHS
from surveys.exports.router import public_router as webhook_router
from surveys.exports.router import router as exports_router
from surveys.models import AuditEvent
from surveys.processing.worker import parsing_worker
from surveys.pseudonyms import Pseudonymiser
from surveys.results.router import router as results_router
from surveys.rounds.router import router as rounds_router
from surveys.teachers.check import withdrawal_check_worker
from surveys.teachers.router import router as teachers_router
from surveys.unmatched.router import router as unmatched_router

SERVICE_DIR = Path(__file__).resolve().parent.parent


def on_startup(app: FastAPI, stack: AsyncExitStack) -> None:
    settings: Settings = app.state.settings
    tokens = TokenProvider.from_settings(settings)
    recruitment = RecruitmentClient(
        settings.recruitment_url,
        tokens=tokens,
        timeout=settings.outbound_timeout_seconds,
        retries=settings.outbound_retries,
    )
    stack.callback(recruitment.close)
    randomisation = RandomisationClient(
        settings.randomisation_url,
        tokens=tokens,
        timeout=settings.outbound_timeout_seconds,
        retries=settings.outbound_retries,
    )
    stack.callback(randomisation.close)
    app.state.recruitment = recruitment
    app.state.allocations = LiveAllocations(randomisation, ttl=settings.allocations_cache_seconds)
    # Read (and checked) now, so a missing or malformed mounted secret stops the start-up.
    settings.webhook_secret_values()
    app.state.pseudonymiser = Pseudonymiser(settings.pseudonym_secret_value())
    app.state.evaluator_bucket = EvaluatorBucket.from_settings(settings)
    app.state.parsing_worker = None
    app.state.withdrawal_check = None
    if settings.worker_enabled:
        worker, processor = parsing_worker(
            engine=app.state.engine,
            storage=app.state.storage,
            directory=recruitment,
            pseudonymiser=app.state.pseudonymiser,
            settings=settings,
        )
        worker.start()
        stack.callback(worker.stop)
        app.state.parsing_worker = processor
        checker, check = withdrawal_check_worker(
            engine=app.state.engine,
            directory=recruitment,
            pseudonymiser=app.state.pseudonymiser,
            interval=settings.withdrawal_check_interval_seconds,
        )
        checker.start()
        stack.callback(checker.stop)
        app.state.withdrawal_check = check


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        settings=settings or Settings(),
        title="RLC surveys service",
        description=(
            "The teacher questionnaires: rounds and codebooks, survey exports received by signed "
            "webhook and parsed in the background, responses linked to trial schools by their "
            "GIAS email and scored, the unmatched queue, scale summaries and response rates."
        ),
        service_dir=SERVICE_DIR,
        routers=[
            rounds_router,
            results_router,
            exports_router,
            unmatched_router,
            teachers_router,
            audit_router(AuditEvent),
        ],
        public_routers=[webhook_router],
        upload_paths=UPLOAD_PATHS,
        on_startup=on_startup,
    )
