"""One error shape for the whole platform: RFC 9457 ``application/problem+json``.

Services raise subclasses of :class:`ProblemError` (``SchoolNotFound``, ``WithdrawalAfterCutoff``...);
one set of handlers turns them, validation errors and framework errors into problem documents.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa
from starlette.exceptions import HTTPException as StarletteHTTPException

from rlc_shared.logging import request_id

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://rlc-trial.example/problems/"

log = logging.getLogger("rlc.errors")


class ProblemError(Exception):
    """Base of every domain error; ``status``/``code`` are class defaults a subclass may override."""

    status: int = 400
    code: str = "bad-request"
    title: str | None = None

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        code: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        if title is not None:
            self.title = title
        self.headers = headers or {}
        self.extensions = extensions

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        return problem(
            self.status,
            self.detail,
            code=self.code,
            title=self.title,
            instance=instance,
            **self.extensions,
        )


class BadRequest(ProblemError):
    status, code = 400, "bad-request"


class Unauthorized(ProblemError):
    status, code = 401, "unauthorized"

    def __init__(self, detail: str, **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        super().__init__(detail, **kw)


class Forbidden(ProblemError):
    status, code = 403, "forbidden"


class NotFound(ProblemError):
    status, code = 404, "not-found"


class Conflict(ProblemError):
    status, code = 409, "conflict"


class PayloadTooLarge(ProblemError):
    status, code = 413, "payload-too-large"


class UnsupportedMediaType(ProblemError):
    status, code = 415, "unsupported-media-type"


class Unprocessable(ProblemError):
    status, code = 422, "unprocessable"


class UpstreamError(ProblemError):
    """Another service failed or could not be reached."""

    status, code = 502, "upstream-error"


class ServiceUnavailable(ProblemError):
    status, code = 503, "service-unavailable"


def problem(
    status: int,
    detail: str,
    *,
    code: str | None = None,
    title: str | None = None,
    instance: str | None = None,
    **extensions: Any,
) -> dict[str, Any]:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (code or phrase.lower().replace(" ", "-")),
        "title": title or phrase,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extensions)
    return body


def problem_response(
    status: int, detail: str, *, headers: dict[str, str] | None = None, **kw: Any
) -> JSONResponse:
    return JSONResponse(
        problem(status, detail, **kw), status_code=status, media_type=PROBLEM_JSON, headers=headers
    )


def _validation_detail(errors: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    items = []
    for err in errors:
        if err.get("type") == "json_invalid":
            # FastAPI's loc is ("body", <character position>): say what and where, not "30: ...".
            position = next((p for p in err.get("loc", ()) if isinstance(p, int)), None)
            cause = str((err.get("ctx") or {}).get("error") or "it could not be parsed")
            where = f" (at character {position})" if position is not None else ""
            return f"the body is not valid JSON: {cause}{where}.", [
                {"field": "(body)", "message": f"not valid JSON: {cause}{where}"}
            ]
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        # Never echo the submitted value: it may be an email address or a token.
        items.append({"field": ".".join(loc) or "(body)", "message": err.get("msg", "invalid")})
    first = items[0] if items else {"field": "(body)", "message": "invalid"}
    more = f" (and {len(items) - 1} more)" if len(items) > 1 else ""
    return f"{first['field']}: {first['message']}{more}", items


def install_error_handlers(app: FastAPI, *, expose_internal_errors: bool) -> None:
    """Route every error through the problem shape."""

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return JSONResponse(
            exc.to_problem(instance=request.url.path),
            status_code=exc.status,
            media_type=PROBLEM_JSON,
            headers=exc.headers or None,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail, items = _validation_detail(list(exc.errors()))
        return problem_response(
            422,
            f"The request is not valid: {detail}",
            code="validation-error",
            instance=request.url.path,
            errors=items,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"There is no endpoint at {request.url.path}; see /docs for the API."
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}."
        return problem_response(
            exc.status_code,
            detail,
            instance=request.url.path,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(sa.OperationalError)
    @app.exception_handler(sa.InterfaceError)
    @app.exception_handler(sa.DisconnectionError)
    @app.exception_handler(sa.TimeoutError)
    async def _database_unreachable(request: Request, exc: Exception) -> JSONResponse:
        # A dropped connection, a database that refuses connections, a full pool or a lock
        # held too long: the transaction was rolled back, and the same request can succeed
        # later. (Engines hide bound parameters, so the log holds no personal data.)
        log.error("database unavailable: %s", type(exc).__name__, exc_info=exc)
        return problem_response(
            503,
            "The service's database cannot be reached now; nothing was changed. Try again shortly.",
            code="database-unavailable",
            instance=request.url.path,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(sa.ProgrammingError)
    async def _schema_behind(request: Request, exc: Exception) -> JSONResponse:
        # A table or column the code expects is missing: the database is not migrated to the
        # code's schema yet (SQLite says so with an OperationalError, handled above).
        if getattr(getattr(exc, "orig", None), "sqlstate", None) in ("42P01", "42703"):
            log.error("database schema behind the code: %s", type(exc).__name__)
            return problem_response(
                503,
                "The service's database is not at the latest migration yet; nothing was "
                "changed. Try again once it is migrated (`rlc migrate`).",
                code="schema-not-migrated",
                instance=request.url.path,
                headers={"Retry-After": "30"},
            )
        return await _unhandled(request, exc)

    @app.exception_handler(sa.IntegrityError)
    async def _concurrent_change(request: Request, exc: Exception) -> JSONResponse:
        # Services check uniqueness before writing; a constraint that still fires means another
        # request wrote the same thing in between.
        # The constraint's name only: the database's message quotes the row's values.
        diag = getattr(getattr(exc, "orig", None), "diag", None)
        log.warning("integrity error: %s", getattr(diag, "constraint_name", None) or "constraint")
        return problem_response(
            409,
            "Another request changed the same record at the same time; nothing was changed. "
            "Look at its current state and try again.",
            code="concurrent-change",
            instance=request.url.path,
        )

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        extra: dict[str, Any] = {}
        if expose_internal_errors:
            extra["exception"] = type(exc).__name__
        # The id the request-context middleware accepted or generated, never the raw header:
        # this handler answers outside that middleware, so it sets the header itself.
        rid = request_id.get() or request.scope.get("state", {}).get("rid")
        return problem_response(
            500,
            "An internal error occurred; nothing was changed. Quote the request id to support.",
            instance=request.url.path,
            headers={"X-Request-ID": rid} if rid else None,
            request_id=rid,
            **extra,
        )
