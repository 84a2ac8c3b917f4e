"""What every stage of the simulation gets: the services' clients, dev tokens per actor, the
population, a progress reporter, and what earlier stages learnt (run ids, allocations...)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from rlc_cli.demo.context import DemoContext
from rlc_cli.simulate.population import Population

T = TypeVar("T")
PDF = b"%PDF-1.4\n% simulated signed form\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


@dataclass
class SimContext(DemoContext):
    population: Population | None = None
    #: ``progress(stage, items)`` wraps an iterable in a progress bar (or returns it as it is).
    progress: Callable[[str, list[Any]], Iterable[Any]] = lambda stage, items: items
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def pop(self) -> Population:
        assert self.population is not None
        return self.population

    @property
    def today(self) -> dt.date:
        return dt.datetime.now(dt.UTC).date()

    def tm(self) -> dict[str, str]:
        return self.headers("trial_manager", sub="sim-trial-manager")

    def vs(self, la_code: str) -> dict[str, str]:
        return self.headers("virtual_school", la_code=la_code, sub=f"sim-vs-{la_code}")

    def school(self, urn: int) -> dict[str, str]:
        return self.headers("school", urn=urn, sub=f"sim-head-{urn}")

    def each(self, stage: str, items: Iterable[T]) -> Iterator[T]:
        yield from self.progress(stage, list(items))
