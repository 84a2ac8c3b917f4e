"""The app factory every service's ``create_app()`` builds on.

It owns what is the same everywhere: lifespan (engine, key set, storage), logging, the error
shape and its documentation, limits, CORS, health and readiness, a first page, and
authentication of every route by default (verified before the body is read).

The request path, outermost first: request id and log line → CORS → authentication → body size
limit → routing → FastAPI: body read, content-type check (415), token's roles (403), the
endpoint's validating dependencies (404), body validation (422), the endpoint.
"""

from __future__ import annotations

import re
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from rlc_shared.auth import KeySet, VerifiedTokens, get_principal
from rlc_shared.config import ServiceSettings
from rlc_shared.content import check_content_type
from rlc_shared.db import make_engine, ping, read_only
from rlc_shared.errors import install_error_handlers, problem_response
from rlc_shared.limits import BodySizeLimitMiddleware
from rlc_shared.logging import RequestContextMiddleware, configure_logging
from rlc_shared.middleware import AuthenticationMiddleware, PublicPaths
from rlc_shared.migrations import current_revisions, head_revisions
from rlc_shared.openapi import install_problem_docs
from rlc_shared.storage import storage_from_settings

VERSION = "0.1.0"
#: Paths reachable without a token (everything else needs one), besides public routers' routes.
PUBLIC_PATHS = frozenset(
    {"/", "/healthz", "/readyz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
)

StartupHook = Callable[[FastAPI, AsyncExitStack], Any]
#: A further readiness condition: None when ready, else why not (e.g. a key not registered yet).
ReadinessCheck = Callable[[FastAPI], str | None]


class SchemaCheck:
    """Whether the database is at the migrations' head, without Alembic on every probe.

    The head is read from the migration scripts once; the database's revision is looked up until
    it matches, then remembered (a new migration comes with a new deployment, i.e. a restart).
    """

    def __init__(self, service_dir: Path) -> None:
        self.heads = head_revisions(service_dir)
        self._at_head = False
        self._lock = threading.Lock()

    def at_head(self, engine: Any) -> bool:
        if self._at_head:
            return True
        with self._lock:
            self._at_head = current_revisions(engine) == self.heads
        return self._at_head


def _public_paths(routers: Sequence[APIRouter]) -> PublicPaths:
    patterns: list[re.Pattern[str]] = []
    exact = set(PUBLIC_PATHS)
    for router in routers:
        for route in router.routes:
            path = getattr(route, "path", None)
            if path is None:
                continue
            if "{" in path:
                patterns.append(route.path_regex)  # type: ignore[attr-defined]
            else:
                exact.add(path)
    return PublicPaths(exact, patterns)


def _health_router(app: FastAPI, *, title: str, description: str) -> APIRouter:
    health = APIRouter(tags=["health"])

    @health.get("/", include_in_schema=False)
    async def first_page() -> dict[str, Any]:
        """What this service is, and where to look next."""
        production = app.state.settings.is_production
        return {
            "service": app.state.settings.service_name,
            "title": title,
            "version": VERSION,
            "purpose": description,
            "links": {
                "docs": None if production else "/docs",
                "openapi": None if production else "/openapi.json",
                "health": "/healthz",
                "readiness": "/readyz",
            },
        }

    @health.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @health.get("/readyz", response_model=None)
    async def readyz() -> dict[str, str] | JSONResponse:
        """Readiness: the database answers, its schema is at the migrations' head, and the
        service's own start-up work is done."""
        try:
            await run_in_threadpool(ping, app.state.engine)
            current = await run_in_threadpool(app.state.schema_check.at_head, app.state.engine)
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            return problem_response(503, f"The database is not reachable ({type(exc).__name__}).")
        if not current:
            return problem_response(
                503, "The database schema is not at the latest migration; run `rlc migrate`."
            )
        for check in app.state.readiness_checks:
            reason = check(app)
            if reason:
                return problem_response(503, reason)
        return {"status": "ready"}

    return health


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
    readiness_checks: Sequence[ReadinessCheck] = (),
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level)
        app.state.engine = make_engine(settings.database_url)
        app.state.read_engine = read_only(app.state.engine)
        app.state.keyset = KeySet(
            jwks_file=None if settings.jwks_url else settings.jwks_file, jwks_url=settings.jwks_url
        )
        app.state.verified_tokens = VerifiedTokens()
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
        version=VERSION,
        lifespan=lifespan,
        docs_url=None if production else "/docs",
        redoc_url=None if production else "/redoc",
        openapi_url=None if production else "/openapi.json",
        dependencies=[Depends(check_content_type)],
    )
    app.state.settings = settings
    app.state.service_dir = service_dir
    app.state.schema_check = SchemaCheck(service_dir)
    app.state.readiness_checks = list(readiness_checks)
    install_error_handlers(app, expose_internal_errors=not production)
    public = _public_paths(public_routers)

    # add_middleware wraps what is there: the last added runs first.
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
        upload_paths=upload_paths,
    )
    app.add_middleware(AuthenticationMiddleware, public=public)
    # Production: only the SPA's listed origins; development: any origin, no credentials.
    origins = settings.cors_origins or ([] if production else ["*"])
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_credentials="*" not in origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID", "Idempotency-Key"],
            expose_headers=["X-Request-ID"],
        )
    app.add_middleware(RequestContextMiddleware)

    app.include_router(_health_router(app, title=title, description=description))
    for router in public_routers:
        app.include_router(router)
    for router in routers:
        # Authenticated by default, wired in one place.
        app.include_router(router, dependencies=[Depends(get_principal)])
    install_problem_docs(app, public=public)
    return app
