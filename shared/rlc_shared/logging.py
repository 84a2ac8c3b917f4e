"""Structured JSON logs with a request id; email addresses and tokens are never written."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from contextvars import ContextVar
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

# Also URL-encoded ("%40"), as addresses appear in logged URLs' query strings; and addresses on
# a dotless domain (``head@localhost``).
_EMAIL = re.compile(r"[\w.+%-]+(?:@|%40)[\w-]+(?:\.[\w-]+)*", re.IGNORECASE)
_JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*")
_CREDENTIALS = re.compile(r"(?i)\b(bearer|basic)\s+[\w.~+/=-]+")
_SECRETS = re.compile(
    r"(?i)\b(client_secret|secret|password|passwd|token|access_token|api_key)"
    r"([\"']?\s*[=:]\s*[\"']?|%3d)[^\s&,;'\"]+"
)
# PostgreSQL's error details quote the row's values ("Key (email)=(x) already exists").
_DB_DETAIL = re.compile(r"(?m)^(\s*DETAIL:).*$")
_DB_KEY = re.compile(r"\bKey \(([^)]*)\)=\((?:[^()]|\([^)]*\))*\)")
#: What a client may choose as its request id (anything else is replaced by a generated one).
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def redact(text: str) -> str:
    text = _DB_DETAIL.sub(r"\1 [redacted]", text)
    text = _DB_KEY.sub(r"Key (\1)=([redacted])", text)
    text = _CREDENTIALS.sub(lambda m: f"{m.group(1)} [redacted]", text)
    text = _SECRETS.sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", text)
    text = _JWT.sub("[token]", text)
    return _EMAIL.sub("[email]", text)


_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        rid = request_id.get()
        if rid:
            entry["request_id"] = rid
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO") -> None:
    logging.Formatter.converter = time.gmtime
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's access log prints query strings; ours (below) logs paths only.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


class RequestContextMiddleware:
    """Gives every request an id (``X-Request-ID`` in or out: a client's own id only if it is safe,
    ``[A-Za-z0-9._-]{1,64}``), ``nosniff`` on every response, and one log line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log = logging.getLogger("rlc.request")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        for key, value in scope.get("headers") or []:
            if key == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        rid = incoming if SAFE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        token = request_id.set(rid)
        scope.setdefault("state", {})["rid"] = rid
        started = time.perf_counter()
        status = 500

        async def _send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.setdefault("headers", [])
                headers.append((b"x-request-id", rid.encode()))
                # Browsers must never guess a type: a stored document is served as declared.
                headers.append((b"x-content-type-options", b"nosniff"))
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            self.log.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status,
                extra={"status": status, "ms": round((time.perf_counter() - started) * 1000, 1)},
            )
            request_id.reset(token)
