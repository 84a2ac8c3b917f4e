"""Calling another service: base URL from settings, a service token, timeouts, no redirects,
bounded retries on idempotent requests, and problem+json errors surfaced as exceptions."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx

from rlc_shared.errors import ProblemError, UpstreamError

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY_STATUSES = frozenset({502, 503, 504})


class TokenProvider:
    """A static token (dev: minted by ``rlc token``) or OAuth2 client credentials (production)."""

    def __init__(
        self,
        *,
        token: str | None = None,
        token_url: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._static = token
        self._url, self._id, self._secret = token_url, client_id, client_secret
        self._timeout = timeout
        self._cached: tuple[str, float] | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Any) -> TokenProvider:
        return cls(
            token=settings.service_token,
            token_url=settings.token_url,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            timeout=settings.outbound_timeout_seconds,
        )

    def token(self) -> str:
        if self._static:
            return self._static
        if not (self._url and self._id and self._secret):
            raise UpstreamError(
                "No service credentials are configured: set SERVICE_TOKEN or TOKEN_URL, "
                "CLIENT_ID and CLIENT_SECRET.",
                status=503,
            )
        with self._lock:
            if self._cached and self._cached[1] > time.monotonic() + 30:
                return self._cached[0]
            resp = httpx.post(
                self._url,
                data={"grant_type": "client_credentials"},
                auth=(self._id, self._secret),
                timeout=self._timeout,
                follow_redirects=False,
            )
            resp.raise_for_status()
            doc = resp.json()
            self._cached = (
                doc["access_token"],
                time.monotonic() + float(doc.get("expires_in", 300)),
            )
            return self._cached[0]


class ServiceClient:
    """A typed client's transport: subclasses add one method per call they make."""

    service = "service"

    def __init__(
        self,
        base_url: str,
        *,
        tokens: TokenProvider,
        timeout: float = 10.0,
        retries: int = 2,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._tokens = tokens
        self._retries = retries
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            follow_redirects=False,
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        method = method.upper()
        attempts = 1 + (self._retries if method in IDEMPOTENT else 0)
        last_error: Exception | None = None
        for attempt in range(attempts):
            if attempt:
                time.sleep(min(0.2 * 2**attempt, 2.0))
            try:
                headers = {
                    "Authorization": f"Bearer {self._tokens.token()}",
                    **kw.pop("headers", {}),
                }
                resp = self._client.request(method, path, headers=headers, **kw)
            except httpx.TransportError as exc:
                last_error = exc
                continue
            if resp.status_code in RETRY_STATUSES and attempt + 1 < attempts:
                last_error = None
                continue
            if resp.is_error:
                raise _as_problem(self.service, resp)
            return resp
        raise UpstreamError(
            f"The {self.service} service could not be reached"
            + (f" ({type(last_error).__name__})" if last_error else "")
            + "; try again shortly.",
            status=503,
            upstream=self.service,
        )

    def get_json(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw).json()

    def iter_pages(
        self, path: str, *, params: dict[str, Any] | None = None, page_size: int = 500
    ) -> Iterator[dict[str, Any]]:
        """Every item of a paginated list (``data`` / ``next_cursor``), following the cursor."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        query["limit"] = page_size
        while True:
            page = self.get_json(path, params=query)
            yield from page.get("data") or []
            cursor = page.get("next_cursor")
            if not cursor:
                return
            query["cursor"] = cursor

    def get_or_none(self, path: str, **kw: Any) -> Any:
        """The JSON of ``path``, or None when the other service answers 404."""
        try:
            return self.get_json(path, **kw)
        except UpstreamError as exc:
            if exc.extensions.get("upstream_status") == 404:
                return None
            raise


def _as_problem(service: str, resp: httpx.Response) -> ProblemError:
    detail = f"HTTP {resp.status_code}"
    body: dict[str, Any] = {}
    if resp.headers.get("content-type", "").startswith(
        ("application/problem+json", "application/json")
    ):
        try:
            body = resp.json()
            detail = body.get("detail") or detail
        except ValueError:
            pass
    status = resp.status_code if resp.status_code in (404, 409, 422) else 502
    return UpstreamError(
        f"The {service} service answered: {detail}",
        status=status,
        upstream=service,
        upstream_status=resp.status_code,
    )
