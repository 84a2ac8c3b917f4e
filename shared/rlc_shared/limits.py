"""Request-size limits and strict request models."""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rlc_shared.errors import problem
from rlc_shared.logging import request_id


class StrictModel(BaseModel):
    """Request bodies: unknown fields are a 422, so nobody can mass-assign ``arm`` or ``urn``."""

    model_config = ConfigDict(extra="forbid")


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

    async def _reject(self, send: Send, limit: int) -> None:
        body = problem(
            413,
            f"The request body is larger than this endpoint accepts ({limit:,} bytes).",
            code="payload-too-large",
        )
        if request_id.get():
            body["request_id"] = request_id.get()
        raw = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(raw)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": raw})
