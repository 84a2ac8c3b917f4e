"""What every part of the demo trial gets: the services' clients and dev tokens for each role."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from rlc_cli.devkeys import dev_token


@dataclass
class DemoContext:
    urls: dict[str, str]
    echo: Callable[[str], Any] = print
    _clients: dict[str, httpx.Client] = field(default_factory=dict)

    def client(self, service: str) -> httpx.Client:
        if service not in self._clients:
            self._clients[service] = httpx.Client(base_url=self.urls[service], timeout=120)
        return self._clients[service]

    @staticmethod
    def headers(role: str, **claims: Any) -> dict[str, str]:
        """A dev token for ``role`` (with ``sub``, ``la_code`` or ``urn``), as a header."""
        return {"Authorization": f"Bearer {dev_token(role=role, **claims)}"}

    @staticmethod
    def ok(resp: httpx.Response) -> Any:
        """The JSON of a successful response; anything else stops the demo with what it said."""
        if resp.is_error:
            raise RuntimeError(
                f"{resp.request.method} {resp.request.url.path}: {resp.status_code} {resp.text}"
            )
        return resp.json() if resp.content else None

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
