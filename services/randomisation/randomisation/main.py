"""The randomisation service's app factory."""

from pathlib import Path

from fastapi import FastAPI

from randomisation.config import Settings
from randomisation.models import AuditEvent
from rlc_shared.app import create_service_app
from rlc_shared.audit_api import audit_router

SERVICE_DIR = Path(__file__).resolve().parent.parent


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        settings=settings or Settings(),
        title="RLC randomisation service",
        description="randomisation of the RLC Trial Platform.",
        service_dir=SERVICE_DIR,
        routers=[audit_router(AuditEvent)],
    )
