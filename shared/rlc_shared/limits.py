"""Request-size limits and strict request models."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rlc_shared.errors import problem
from rlc_shared.logging import request_id


def _refuse_nul(value: Any) -> Any:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text must not contain NUL characters")
    elif isinstance(value, dict):
        for item in value.values():
            _refuse_nul(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _refuse_nul(item)
    return value


class StrictModel(BaseModel):
    """Request bodies: unknown fields are a 422, so nobody can mass-assign ``arm`` or ``urn``;
    text holding a NUL character is a 422 too (PostgreSQL cannot store it: it would be a 500)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return _refuse_nul(value)


class _TooLarge(BaseException):
    """BaseException so the framework's ``except Exception`` around body parsing lets it through."""


class BodySizeLimitMiddleware:
    """413 for bodies over the limit, whether announced by Content-Length or streamed.

    Paths under ``upload_prefixes`` get the larger upload limit (GIAS extracts, survey exports).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_upload_bytes: int,
        upload_paths: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.max_upload = max_upload_bytes
        self.upload_paths = upload_paths

    def _limit(self, path: str) -> int:
        return self.max_upload if any(p in path for p in self.upload_paths) else self.max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if b"%00" in scope.get("raw_path", b"") or b"%00" in scope.get("query_string", b""):
            await self._refuse_nul(send)
            return
        limit = self._limit(scope["path"])
        announced = streamed = False
        for name, value in scope.get("headers") or []:
            if name == b"content-length":
                announced = value not in (b"0", b"")
                if value.isdigit() and int(value) > limit:
                    await self._reject(send, limit)
                    return
            elif name == b"transfer-encoding":
                streamed = True
        if not (announced or streamed):
            await self.app(scope, receive, send)  # no body to count (most GETs): no wrapping
            return
        seen = 0
        started = False

        async def _receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        async def _send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, _receive, _send)
        except _TooLarge:
            if not started:
                await self._reject(send, limit)

    async def _refuse_nul(self, send: Send) -> None:
        body = problem(
            400,
            "The request's path or query holds a NUL character (%00); remove it.",
            code="bad-request",
        )
        await self._send_problem(send, 400, body)

    async def _reject(self, send: Send, limit: int) -> None:
        body = problem(
            413,
            f"The request body is larger than this endpoint accepts ({limit:,} bytes).",
            code="payload-too-large",
        )
        await self._send_problem(send, 413, body)

    @staticmethod
    async def _send_problem(send: Send, status: int, body: dict[str, Any]) -> None:
        if request_id.get():
            body["request_id"] = request_id.get()
        raw = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(raw)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": raw})
