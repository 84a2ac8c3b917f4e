"""The workshops service's app factory."""

from contextlib import AsyncExitStack
from pathlib import Path

from fastapi import FastAPI

from rlc_clients import RandomisationClient, RecruitmentClient
from rlc_shared.app import create_service_app
from rlc_shared.audit_api import audit_router
from rlc_shared.http import TokenProvider
from workshops.attendance.router import router as attendance_router
from workshops.cohorts.router import router as cohorts_router
from workshops.config import Settings
from workshops.costs.router import router as costs_router
from workshops.dosage.router import router as dosage_router
from workshops.evaluation.router import router as evaluation_router
from workshops.models import AuditEvent
from workshops.programme import service as programme_service
from workshops.programme.router import router as programme_router
from workshops.upstream import AllocationCache

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
    app.state.randomisation = randomisation
    app.state.allocations = AllocationCache(randomisation, ttl=settings.allocation_cache_seconds)
    # The programme from the published schedule; if the database is not migrated yet, the
    # readiness check (or the first write that needs it) creates it.
    app.state.programme_ready = programme_service.seed(app.state.engine)


def programme_ready(app: FastAPI) -> str | None:
    """Readiness: the programme exists (created here once the database is migrated)."""
    if not app.state.programme_ready:
        app.state.programme_ready = programme_service.seed(app.state.engine)
    if not app.state.programme_ready:
        return "The programme is not set up yet: the database is not migrated (`rlc migrate`)."
    return None


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        settings=settings or Settings(),
        title="RLC workshops service",
        description=(
            "The programme delivered to intervention schools: cohorts and their eight sessions, "
            "enrolment behind the contamination guard, attendance from Zoom and Teams reports, "
            "dosage under the evaluator's frozen compliance rule, observations, case studies, "
            "incentives and costs."
        ),
        service_dir=SERVICE_DIR,
        routers=[
            programme_router,
            cohorts_router,
            attendance_router,
            dosage_router,
            evaluation_router,
            costs_router,
            audit_router(AuditEvent),
        ],
        readiness_checks=[programme_ready],
        on_startup=on_startup,
    )
