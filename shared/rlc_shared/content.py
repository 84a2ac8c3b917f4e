"""Content types in one place: how a declared type is read, and the 415 for a body of the wrong
type (JSON sent as ``text/plain``, a form sent as JSON)."""

from __future__ import annotations

from typing import Any

from fastapi import Request, params
from fastapi.routing import APIRoute

from rlc_shared.errors import UnsupportedMediaType

JSON = "application/json"
MULTIPART = "multipart/form-data"
URLENCODED = "application/x-www-form-urlencoded"


def media_type(value: str | bytes | None) -> str:
    """``"Application/JSON; charset=utf-8"`` → ``"application/json"``; ``""`` when absent."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return (value or "").split(";", 1)[0].strip().lower()


def is_json(kind: str) -> bool:
    return kind == JSON or (kind.startswith("application/") and kind.endswith("+json"))


def _expected(route: APIRoute) -> tuple[tuple[str, ...], str] | None:
    field = route.body_field
    if field is None:
        return None
    info: Any = field.field_info
    if isinstance(info, params.Form):
        files = any(isinstance(p.field_info, params.File) for p in route.dependant.body_params)
        if files:
            return (MULTIPART,), "a multipart form (multipart/form-data) with a file"
        return (URLENCODED, MULTIPART), "a form (application/x-www-form-urlencoded)"
    return (JSON,), "JSON (application/json)"


_UNSET = object()


def _accepted(kind: str, accepts: tuple[str, ...]) -> bool:
    return any(is_json(kind) if a == JSON else kind == a for a in accepts)


async def check_content_type(request: Request) -> None:
    """App-wide dependency: 415 for a body of a type the route does not read.

    Runs before the endpoint's body is validated, so JSON sent as ``text/plain`` is told to
    send JSON rather than that its "input should be a valid dictionary".
    """
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    expected = route.__dict__.get("_rlc_body_media", _UNSET)
    if expected is _UNSET:  # worked out once per route
        expected = route.__dict__["_rlc_body_media"] = _expected(route)
    if expected is None:
        return
    length = request.headers.get("content-length")
    if (length is None or length.strip() in ("", "0")) and "transfer-encoding" not in (
        request.headers
    ):
        return  # no body: a missing required body is the endpoint's 422
    kind = media_type(request.headers.get("content-type"))
    accepts, described = expected
    if not _accepted(kind, accepts):
        raise UnsupportedMediaType(
            f"This endpoint reads {described}; the request says "
            f"{kind or 'nothing about its content type'}. Send the body with "
            f"Content-Type: {accepts[0]}."
        )
