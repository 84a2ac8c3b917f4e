"""Authentication before anything else: a request without a valid token is refused (401
problem+json) before its body is read, so an anonymous 150 MB upload costs nothing but headers."""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from rlc_shared.auth import authenticate
from rlc_shared.errors import ProblemError, problem_response


class PublicPaths:
    """The routes reachable without a token: exact paths and route patterns (``/x/{id}``)."""

    def __init__(self, exact: Iterable[str], patterns: Iterable[re.Pattern[str]] = ()) -> None:
        self.exact = frozenset(exact)
        self.patterns = tuple(patterns)

    def __contains__(self, path: object) -> bool:
        if not isinstance(path, str):
            return False
        return path in self.exact or any(p.match(path) for p in self.patterns)


class AuthenticationMiddleware:
    """Verifies the bearer token of every non-public request and keeps its principal in the
    request's state for ``get_principal``."""

    def __init__(self, app: ASGIApp, *, public: PublicPaths) -> None:
        self.app = app
        self.public = public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.public:
            await self.app(scope, receive, send)
            return
        authorization = None
        for key, value in scope.get("headers") or []:
            if key == b"authorization":
                authorization = value.decode("latin-1")
                break
        try:
            principal = authenticate(scope["app"].state, authorization)
        except ProblemError as exc:
            response = problem_response(
                exc.status,
                exc.detail,
                headers=exc.headers or None,
                code=exc.code,
                instance=scope["path"],
            )
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)
