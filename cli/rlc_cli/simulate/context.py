"""What every stage of the simulation gets: the services' clients, dev tokens per actor, the
population, the calendar, a progress reporter, and what earlier stages learnt (``facts``: run
ids, allocations, dosage, survey counts...)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from rlc_cli.devkeys import dev_token
from rlc_cli.simulate.population import Population
from rlc_cli.simulate.timeline import Timeline
from rlc_cli.simulate.timeline import today as utc_today

T = TypeVar("T")
PDF = b"%PDF-1.4\n% simulated signed form\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


class SimulationError(RuntimeError):
    """A service answered something the simulated actor could not go on from."""


@dataclass
class SimContext:
    urls: dict[str, str]
    population: Population
    echo: Callable[[str], Any] = print
    #: ``progress(stage, items)`` wraps an iterable in a progress bar (or returns it as it is).
    progress: Callable[[str, list[Any]], Iterable[Any]] = lambda stage, items: items
    timeline: Timeline = field(default_factory=lambda: Timeline.for_today(utc_today()))
    #: How long to wait for a service's background work (notifications, exports, the analysis).
    wait_seconds: float = 600.0
    facts: dict[str, Any] = field(default_factory=dict)
    _clients: dict[str, httpx.Client] = field(default_factory=dict)
    _tokens: dict[tuple[Any, ...], dict[str, str]] = field(default_factory=dict)

    @property
    def pop(self) -> Population:
        return self.population

    @property
    def seed(self) -> int:
        return self.population.seed

    @property
    def today(self) -> dt.date:
        return utc_today()

    # --- talking to the services ------------------------------------------------------------

    def client(self, service: str) -> httpx.Client:
        if service not in self._clients:
            self._clients[service] = httpx.Client(base_url=self.urls[service], timeout=300)
        return self._clients[service]

    def headers(self, role: str, **claims: Any) -> dict[str, str]:
        """A dev token for ``role`` (with ``sub``, ``la_code`` or ``urn``), as a header; one per
        actor for the whole run (they last eight hours)."""
        key = (role, *sorted(claims.items()))
        if key not in self._tokens:
            self._tokens[key] = {"Authorization": f"Bearer {dev_token(role=role, **claims)}"}
        return self._tokens[key]

    def tm(self) -> dict[str, str]:
        return self.headers("trial_manager", sub="sim-trial-manager")

    def evaluator(self) -> dict[str, str]:
        return self.headers("evaluator", sub="sim-evaluator")

    def delivery(self) -> dict[str, str]:
        return self.headers("delivery", sub="sim-delivery")

    def vs(self, la_code: str) -> dict[str, str]:
        return self.headers("virtual_school", la_code=la_code, sub=f"sim-vs-{la_code}")

    def school(self, urn: int) -> dict[str, str]:
        return self.headers("school", urn=urn, sub=f"sim-head-{urn}")

    @staticmethod
    def ok(resp: httpx.Response) -> Any:
        """The JSON of a successful response; anything else stops the simulation with what the
        service said."""
        if resp.is_error:
            raise SimulationError(
                f"{resp.request.method} {resp.request.url.path}: {resp.status_code} {resp.text}"
            )
        return resp.json() if resp.content else None

    def pages(
        self, service: str, path: str, headers: dict[str, str], **params: Any
    ) -> Iterator[Any]:
        """Every item of a keyset-paginated list."""
        cursor = None
        while True:
            query = {"limit": 500, **params} | ({"cursor": cursor} if cursor else {})
            page = self.ok(self.client(service).get(path, headers=headers, params=query))
            yield from page["data"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def wait_for(self, what: str, check: Callable[[], T | None], *, interval: float = 0.25) -> T:
        """Poll ``check`` until it returns something, within ``wait_seconds``."""
        deadline = time.monotonic() + self.wait_seconds
        while True:
            found = check()
            if found is not None:
                return found
            if time.monotonic() > deadline:
                raise SimulationError(f"gave up waiting for {what} after {self.wait_seconds:g} s")
            time.sleep(interval)

    def each(self, stage: str, items: Iterable[T]) -> Iterator[T]:
        yield from self.progress(stage, list(items))

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
