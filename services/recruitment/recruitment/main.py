"""The recruitment service's app factory."""

from contextlib import AsyncExitStack
from pathlib import Path

from fastapi import FastAPI

from recruitment.config import Settings
from recruitment.funnel.router import router as funnel_router
from recruitment.gias.router import UPLOAD_PATHS
from recruitment.gias.router import router as gias_router
from recruitment.local_authorities.router import router as local_authorities_router
from recruitment.models import AuditEvent
from recruitment.schools.router import router as schools_router
from recruitment.staff.router import lookup_router as staff_lookup_router
from recruitment.staff.router import router as staff_router
from rlc_shared.app import create_service_app
from rlc_shared.audit_api import audit_router
from rlc_shared.auth import KeySet

SERVICE_DIR = Path(__file__).resolve().parent.parent


def on_startup(app: FastAPI, stack: AsyncExitStack) -> None:
    settings: Settings = app.state.settings
    # The keys that sign allocation statements: only the randomisation service holds them.
    app.state.randomisation_keys = KeySet(
        jwks_file=settings.randomisation_jwks_file,
        jwks_url=None if settings.randomisation_jwks_file else settings.randomisation_jwks_url,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        settings=settings or Settings(),
        title="RLC recruitment service",
        description=(
            "The register of who is in the trial: local authorities and their Virtual Schools, "
            "schools (from GIAS) with eligibility, consent and withdrawal, and their staff."
        ),
        service_dir=SERVICE_DIR,
        routers=[
            local_authorities_router,
            gias_router,
            schools_router,
            staff_router,
            staff_lookup_router,
            funnel_router,
            audit_router(AuditEvent),
        ],
        upload_paths=UPLOAD_PATHS,
        on_startup=on_startup,
    )
