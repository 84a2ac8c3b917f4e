"""The trial simulator (``rlc simulate``): a whole trial, played through the public APIs only, with
the right role token for each step, as the real actors would. Seeded and reproducible.

Stages run in trial order; a stage whose service's API is not there yet says so and the rest go
on (a summary names what was skipped).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterable
from typing import Any

from rlc_cli.simulate.context import SimContext
from rlc_cli.simulate.population import draw

#: (stage module, what it does), in trial order.
STAGES: tuple[tuple[str, str], ...] = (
    ("recruitment", "recruit: GIAS, LAs, nominations, eligibility, consent, staff"),
    ("randomisation", "randomise: main run and late joiners"),
    ("workshops", "deliver the programme: cohorts, sessions, attendance"),
    ("surveys", "survey teachers: pre and post rounds through the signed webhook"),
    ("analytics", "analyse: frozen plan, pupil outcomes, the report"),
)


def simulate(
    urls: dict[str, str],
    *,
    schools: int = 300,
    las: int = 10,
    seed: int = 2021,
    echo: Callable[[str], Any] = print,
    progress: Callable[[str, list[Any]], Iterable[Any]] | None = None,
) -> dict[str, Any]:
    """Play a simulated trial into running services; returns each stage's summary."""
    ctx = SimContext(
        urls=urls,
        echo=echo,
        population=draw(schools=schools, las=las, seed=seed),
        progress=progress or (lambda stage, items: items),
    )
    summary: dict[str, Any] = {"seed": seed, "schools": len(ctx.pop.schools), "las": las}
    try:
        for name, what in STAGES:
            module_name = f"rlc_cli.simulate.stages.{name}"
            if importlib.util.find_spec(module_name) is None:
                summary[name] = {"skipped": "this stage is not part of the simulator yet"}
                continue
            echo(f"simulate: {what}")
            summary[name] = importlib.import_module(module_name).run(ctx)
    finally:
        ctx.close()
    return summary


def rich_progress() -> tuple[Any, Callable[[str, list[Any]], Iterable[Any]]]:
    """A progress bar per stage (rich, which the CLI already depends on through typer)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bars = Progress(TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn())

    def track(stage: str, items: list[Any]) -> Iterable[Any]:
        return bars.track(items, description=stage, total=len(items))

    return bars, track
