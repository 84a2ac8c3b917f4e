"""The OpenAPI document says what the API does when it refuses: every operation lists its error
responses with the ``application/problem+json`` schema, so partners can generate clients that
handle errors (422 included, which FastAPI would document as plain JSON)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from rlc_shared.errors import PROBLEM_JSON
from rlc_shared.middleware import PublicPaths

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem: what went wrong, in words a person can act on.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "a URI naming the kind of problem"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "what happened and what to do"},
        "instance": {"type": "string", "description": "the path of the request"},
        "request_id": {"type": "string", "description": "quote it to support"},
        "errors": {
            "type": "array",
            "description": "one entry per invalid field (422)",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
    "additionalProperties": True,
}

#: Status → when it happens. Which statuses an operation lists depends on what it is (below).
ERRORS = {
    400: "The request cannot be used as it is (e.g. a pagination cursor this API did not issue).",
    401: "No valid bearer token.",
    403: "No role of the token allows this action on this object.",
    404: "No such object, or one outside the token's scope (answered alike).",
    409: "The object's state does not allow this now (e.g. a run executes once).",
    413: "The request body is larger than this endpoint accepts.",
    415: "The body's content type is not one this endpoint reads.",
    422: "The request is well-formed but not valid; `errors` names each field.",
    502: "Another service answered with an error.",
    503: "A service or store this needs is unavailable; try again shortly.",
}
WRITES = {"post", "put", "patch", "delete"}


def _problem_response(status: int) -> dict[str, Any]:
    return {
        "description": ERRORS[status],
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _statuses(method: str, operation: dict[str, Any], public: bool) -> list[int]:
    # Only statuses the operation can answer: 413 for any request carrying a body (the size
    # limit applies to every route), 415 where a body is read, 409 on writes.
    statuses = [400, 404, 413, 422, 502, 503]
    if not public:
        statuses += [401, 403]
    if method in WRITES:
        statuses.append(409)
    if "requestBody" in operation:
        statuses.append(415)
    return sorted(statuses)


def with_problem_responses(doc: dict[str, Any], *, public: PublicPaths) -> dict[str, Any]:
    """Add the problem schema and each operation's error responses to an OpenAPI document."""
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    for path, item in doc.get("paths", {}).items():
        for method, operation in item.items():
            if method not in {"get", "put", "post", "patch", "delete", "head", "options"}:
                continue
            responses = operation.setdefault("responses", {})
            for status in _statuses(method, operation, path in public):
                existing = responses.get(str(status))
                if existing is None or status == 422:
                    responses[str(status)] = _problem_response(status)
                elif "content" not in existing:
                    # A route's own description of the status (e.g. why a 409) is kept; the
                    # body is the problem document all the same.
                    existing["content"] = _problem_response(status)["content"]
    return doc


def install_problem_docs(app: FastAPI, *, public: PublicPaths) -> None:
    """Make ``app.openapi()`` return the document with its error responses (built once)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = with_problem_responses(doc, public=public)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
