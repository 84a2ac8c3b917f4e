"""The trial simulator (``rlc simulate``): a whole trial, played through the public APIs only, with
the right role token for each step, as the real actors would. Seeded and reproducible: the same
seed gives the same population, the same files and the same answers (only the allocation, which
the randomisation service draws with its own secret seed, differs from run to run).

Stages run in trial order (``STAGES``); each is a module of ``rlc_cli.simulate.stages`` with
``run(ctx) -> dict``, its summary. ``rlc up --demo`` loads the simulated trial (``rlc_cli.demo``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Any

from rlc_cli.simulate.context import SimContext, SimulationError
from rlc_cli.simulate.population import draw
from rlc_cli.simulate.timeline import Timeline

__all__ = ["STAGES", "SimulationError", "Timeline", "rich_progress", "simulate"]

#: (stage module, what it does), in trial order.
STAGES: tuple[tuple[str, str], ...] = (
    ("recruitment", "recruit: GIAS, LAs, nominations, eligibility, consent, staff"),
    ("randomisation", "randomise: main run and late joiners"),
    ("workshops", "deliver the programme: cohorts, sessions, attendance, dosage"),
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
    timeline: Timeline | None = None,
    wait_seconds: float = 600.0,
) -> dict[str, Any]:
    """Play a simulated trial into running services; returns each stage's summary."""
    ctx = SimContext(
        urls=urls,
        population=draw(schools=schools, las=las, seed=seed),
        echo=echo,
        progress=progress or (lambda stage, items: items),
        wait_seconds=wait_seconds,
    )
    if timeline is not None:
        ctx.timeline = timeline
    summary: dict[str, Any] = {
        "seed": seed,
        "schools": len(ctx.pop.schools),
        "las": len(ctx.pop.las),
        "calendar_offset_days": ctx.timeline.offset.days,
    }
    try:
        for name, what in STAGES:
            echo(f"simulate: {what}")
            summary[name] = importlib.import_module(f"rlc_cli.simulate.stages.{name}").run(ctx)
    finally:
        ctx.close()
    return summary


def rich_progress() -> tuple[Any, Callable[[str, list[Any]], Iterable[Any]]]:
    """A progress bar per stage (rich, which the CLI already depends on through typer), on
    stderr, so that what a command prints on stdout stays clean."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bars = Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
    )

    def track(stage: str, items: list[Any]) -> Iterable[Any]:
        return bars.track(items, description=stage, total=len(items))

    return bars, track
