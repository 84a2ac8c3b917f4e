"""A drawn figure and its two renderings, with matplotlib's global settings kept to one drawing.

Matplotlib keeps its settings (rcParams) in one global dictionary and is not thread-safe, and the
service renders in a thread pool. So every drawing and every rendering runs inside `drawing()`:
one lock, matplotlib's default style (whatever a local matplotlibrc says) plus the few settings
below, all restored on the way out. Figures are made with `Figure` directly, never with pyplot,
so there is no registry of open figures to leak into.

The same input gives the same bytes: SVG element ids come from ``svg.hashsalt`` (random when
unset), the SVG and PNG metadata carry no date and no library version.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
import matplotlib.style
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

__all__ = ["CREATOR", "Picture", "drawing"]

CREATOR = "RLC Trial Platform analytics"

# svg.fonttype "none": the SVG keeps its text as <text> (searchable, accessible, small) instead of
# glyph outlines; boxes are sized with DejaVu Sans, wider than the fonts viewers fall back to.
_SETTINGS: dict[RcKeyType, Any] = {
    "svg.hashsalt": "rlc-trial-analytics",
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 11,
    "axes.labelsize": 9,
    "savefig.dpi": 150,
    "savefig.bbox": None,
}

_LOCK = threading.RLock()


@contextmanager
def drawing() -> Iterator[None]:
    """Draw or render with the platform's settings; nothing outside sees them."""
    with _LOCK, matplotlib.style.context("default"), mpl.rc_context(_SETTINGS):
        yield


class Picture:
    """One figure, rendered on demand as SVG or PNG (each once, then kept).

    Once both renderings exist the figure is let go, so a kept Picture holds only bytes.
    """

    def __init__(self, figure: Figure, *, title: str, dpi: int = 150) -> None:
        self._figure: Figure | None = figure
        self.title = title
        self.dpi = dpi
        self.width_inches, self.height_inches = (float(v) for v in figure.get_size_inches())
        self._rendered: dict[str, bytes] = {}

    def svg(self) -> bytes:
        return self._render("svg", {"Title": self.title, "Creator": CREATOR, "Date": None})

    def png(self) -> bytes:
        return self._render("png", {"Title": self.title, "Software": CREATOR})

    @property
    def pixel_size(self) -> tuple[int, int]:
        """The PNG's width and height in pixels."""
        # Matplotlib truncates, as int() does.
        return int(self.width_inches * self.dpi), int(self.height_inches * self.dpi)

    def _render(self, kind: str, metadata: dict[str, str | None]) -> bytes:
        if kind not in self._rendered:
            assert self._figure is not None  # only dropped once both renderings are kept
            buffer = io.BytesIO()
            with drawing():
                self._figure.savefig(buffer, format=kind, dpi=self.dpi, metadata=metadata)
            self._rendered[kind] = buffer.getvalue()
            if len(self._rendered) == 2:
                self._figure = None
        return self._rendered[kind]
