"""The analytics service's app factory."""

from contextlib import AsyncExitStack
from pathlib import Path

from fastapi import FastAPI

from analytics.analyses.router import router as analyses_router
from analytics.analyses.worker import analysis_worker
from analytics.config import Settings
from analytics.design.router import router as design_router
from analytics.models import AuditEvent
from analytics.outcomes.router import UPLOAD_PATHS
from analytics.outcomes.router import router as outcomes_router
from analytics.plans.router import router as plans_router
from analytics.report.router import router as report_router
from analytics.snapshots.router import router as snapshots_router
from analytics.upstreams import Upstreams
from rlc_shared.app import create_service_app
from rlc_shared.audit_api import audit_router

SERVICE_DIR = Path(__file__).resolve().parent.parent


def on_startup(app: FastAPI, stack: AsyncExitStack) -> None:
    settings: Settings = app.state.settings
    upstreams = Upstreams.from_settings(settings)
    stack.callback(upstreams.close)
    app.state.upstreams = upstreams
    if settings.analysis_worker_enabled:
        worker = analysis_worker(
            engine=app.state.engine,
            upstreams=upstreams,
            storage=app.state.storage,
            settings=settings,
        )
        worker.start()
        stack.callback(worker.stop)


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        settings=settings or Settings(),
        title="RLC analytics service",
        description=(
            "The trial's analysis: a frozen analysis plan, pupil outcomes, snapshots of every "
            "input, CONSORT, baseline balance, ITT impact with EEF effect sizes, CACE, cost per "
            "pupil, pictures, and the power calculator."
        ),
        service_dir=SERVICE_DIR,
        routers=[
            plans_router,
            outcomes_router,
            analyses_router,
            snapshots_router,
            report_router,
            design_router,
            audit_router(AuditEvent),
        ],
        upload_paths=UPLOAD_PATHS,
        on_startup=on_startup,
    )
