"""The app factory every service's ``create_app()`` builds on.

It owns what is the same everywhere: lifespan (engine, key set, storage), logging, the error
shape, limits, CORS, health and readiness, and authentication of every route by default.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from rlc_shared.auth import KeySet, get_principal
from rlc_shared.config import ServiceSettings
from rlc_shared.db import make_engine, ping
from rlc_shared.errors import install_error_handlers, problem_response
from rlc_shared.limits import BodySizeLimitMiddleware
from rlc_shared.logging import RequestContextMiddleware, configure_logging
from rlc_shared.migrations import at_head
from rlc_shared.storage import storage_from_settings

#: Paths reachable without a token (everything else needs one).
PUBLIC_PATHS = frozenset(
    {"/healthz", "/readyz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
)

StartupHook = Callable[[FastAPI, AsyncExitStack], Any]


def create_service_app(
    *,
    settings: ServiceSettings,
    title: str,
    description: str,
    service_dir: Path,
    routers: Sequence[APIRouter],
    public_routers: Sequence[APIRouter] = (),
    on_startup: StartupHook | None = None,
    upload_paths: tuple[str, ...] = (),
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level)
        app.state.engine = make_engine(settings.database_url)
        app.state.keyset = KeySet(
            jwks_file=None if settings.jwks_url else settings.jwks_file, jwks_url=settings.jwks_url
        )
        app.state.storage = storage_from_settings(settings)
        async with AsyncExitStack() as stack:
            if on_startup is not None:
                result = on_startup(app, stack)
                if hasattr(result, "__await__"):
                    await result
            try:
                yield
            finally:
                app.state.engine.dispose()

    production = settings.is_production
    app = FastAPI(
        title=title,
        description=description,
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None if production else "/docs",
        redoc_url=None if production else "/redoc",
        openapi_url=None if production else "/openapi.json",
    )
    app.state.settings = settings
    app.state.service_dir = service_dir
    install_error_handlers(app, expose_internal_errors=not production)

    # Production: only the SPA's listed origins; development: any origin, no credentials.
    origins = settings.cors_origins or ([] if production else ["*"])
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_credentials="*" not in origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID", "Idempotency-Key"],
        )
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
        upload_paths=upload_paths,
    )
    app.add_middleware(RequestContextMiddleware)

    health = APIRouter(tags=["health"])

    @health.get("/healthz")
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @health.get("/readyz", response_model=None)
    async def readyz() -> dict[str, str] | JSONResponse:
        """Readiness: the database answers and its schema is at the migrations' head."""
        try:
            await run_in_threadpool(ping, app.state.engine)
            current = await run_in_threadpool(at_head, app.state.engine, service_dir)
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            return problem_response(503, f"The database is not reachable ({type(exc).__name__}).")
        if not current:
            return problem_response(
                503, "The database schema is not at the latest migration; run `rlc migrate`."
            )
        return {"status": "ready"}

    app.include_router(health)
    for router in public_routers:
        app.include_router(router)
    for router in routers:
        # Authenticated by default, wired in one place.
        app.include_router(router, dependencies=[Depends(get_principal)])
    return app
