"""The demo trial, loaded through the services' public APIs as its users would (``rlc up --demo``).

Each part is a module with ``load(ctx: DemoContext)``, run in trial order: recruitment and
randomisation (``trial``), then the surveys, workshops and analytics parts where present.
Loading twice does nothing the second time.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from rlc_cli.demo import trial
from rlc_cli.demo.context import DemoContext

#: The later parts, each run after the trial is recruited and randomised.
PARTS = ("surveys", "workshops", "analytics")


def load_demo(urls: dict[str, str], *, echo: Any = print) -> None:
    ctx = DemoContext(urls=urls, echo=echo)
    try:
        if not trial.load(ctx):
            return
        for part in PARTS:
            name = f"rlc_cli.demo.{part}"
            if importlib.util.find_spec(name) is not None:
                importlib.import_module(name).load(ctx)
    finally:
        ctx.close()
