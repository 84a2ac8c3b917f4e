"""The CONSORT flow diagram of schools: boxes and arrows, A4 portrait wide, as tall as it needs.

Laid out in inches, top down: enrolment (assessed, excluded to the side, randomised), then one
column per arm for allocation, follow-up and analysis, with the CONSORT stage names down the left.
Each box is sized from its wrapped text first, so nothing overflows and the figure's height is
the content's. Reasons are listed most frequent first; past `MAX_REASONS` the rest are summed in
one line, so a box stays readable however many distinct reasons the schools gave.
"""

from __future__ import annotations

import functools
import re
import textwrap
from dataclasses import dataclass

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import FancyBboxPatch
from matplotlib.textpath import TextToPath

from analytics.charts.picture import Picture, drawing
from analytics.consort_boxes import ArmFlow, Box, ConsortFlow

__all__ = ["MAX_REASONS", "consort_diagram"]

PAGE_WIDTH = 8.27  # A4 portrait, inches
MARGIN = 0.3
STAGE_WIDTH = 0.32
CONTENT_LEFT = MARGIN + STAGE_WIDTH + 0.18
CONTENT_RIGHT = PAGE_WIDTH - MARGIN
GAP = 0.34  # between a box and the next row, at least
MAX_GAP = 0.9
MIN_HEIGHT = PAGE_WIDTH * 1.25  # portrait, if not quite A4's 1.41
COLUMN_GAP = 0.25
FONT_SIZE = 8.0
LINE = FONT_SIZE * 1.32 / 72  # line height, inches
PAD = 0.07
FIT = 0.97  # of a box's inside width that text may fill
MAX_REASONS = 5
MAX_LINES_PER_REASON = 3

BOX_EDGE = "#1f3b5c"
BOX_FACE = "#ffffff"
STAGE_FACE = "#dbe8f5"


_TEXT = TextToPath()
_FONTS = {
    bold: FontProperties(family="DejaVu Sans", size=FONT_SIZE, weight="bold" if bold else "normal")
    for bold in (False, True)
}
_KEEP = "\u00a0"  # a space the wrapping never breaks at


@functools.lru_cache(maxsize=8192)
def _width(text: str, bold: bool) -> float:
    """The width of ``text`` in inches, from the font's own metrics."""
    points, _, _ = _TEXT.get_text_width_height_descent(text, _FONTS[bold], ismath=False)
    return float(points) / 72


def _wrap(text: str, width: float, *, indent: str = "", bold: bool = False) -> list[str]:
    """Greedy wrap to the box's inside width, never breaking a count "(n = 12)" across lines.

    Words are measured one by one (cached) and joined with the width of a space: kerning across
    a space is ignored, which `FIT` allows for.
    """
    text = re.sub(r"\(n = \d+[^)]*\)", lambda m: m.group().replace(" ", _KEEP), text)
    room = (width - 2 * PAD) * FIT
    space = _width(" ", bold)
    lines: list[str] = []
    line, used = indent, _width(indent, bold) if indent else 0.0
    for word in text.split():
        word_width = _width(word.replace(_KEEP, " "), bold)
        if line.strip() and used + space + word_width > room:
            lines.append(line)
            line = indent + "  "
            used = _width(line, bold)
        else:
            if line.strip():
                line, used = line + " ", used + space
        line, used = line + word, used + word_width
    lines.append(line)
    return [line.replace(_KEEP, " ") for line in lines]


def _counted(text: str, count: int, width: float, *, indent: str) -> list[str]:
    """``text (n = count)`` in at most `MAX_LINES_PER_REASON` lines: the text gives way, the
    count never does."""
    suffix = f" {_n(count)}"
    while (
        len(lines := _wrap(text + suffix, width, indent=indent)) > MAX_LINES_PER_REASON
        and len(text) > 12
    ):
        text = textwrap.shorten(text, len(text) - 6, placeholder=" …")
    return lines


def _n(count: int, unit: str = "") -> str:
    """ "(n = 3)", or with a unit "(n = 3 schools)", "(n = 1 school)"."""
    if unit and count == 1:
        unit = unit.removesuffix("s")
    return f"(n = {count}{' ' + unit if unit else ''})"


def _reason_lines(box: Box, width: float, indent: str) -> list[str]:
    reasons = box.ordered_reasons()
    lines: list[str] = []
    for reason, count in reasons[:MAX_REASONS]:
        lines += _counted(f"– {reason}", count, width, indent=indent)
    if rest := reasons[MAX_REASONS:]:
        lines += _counted(
            f"– {len(rest)} other reasons", sum(n for _, n in rest), width, indent=indent
        )
    return lines


def _sub_box(box: Box, width: float, *, with_reasons: bool = True) -> list[str]:
    lines = _counted(f"• {box.label}", box.count, width, indent="")
    return lines + (_reason_lines(box, width, "    ") if with_reasons else [])


@dataclass
class _Panel:
    """A box to draw: bold heading lines, body lines, where it goes."""

    heading: list[str]
    body: list[str]
    x: float
    width: float
    top: float = 0.0

    @property
    def height(self) -> float:
        return 2 * PAD + LINE * (len(self.heading) + len(self.body))

    @property
    def bottom(self) -> float:
        return self.top + self.height

    @property
    def centre(self) -> float:
        return self.x + self.width / 2


def _panel(heading: str, body: list[str], *, x: float, width: float) -> _Panel:
    return _Panel(_wrap(heading, width, bold=True), body, x, width)


def _excluded_panel(flow: ConsortFlow, *, x: float, width: float) -> _Panel:
    body: list[str] = []
    for box in flow.excluded.boxes().values():
        body += _sub_box(box, width, with_reasons=box is not flow.excluded.did_not_consent)
    return _panel(f"Excluded {_n(flow.excluded.total)}", body, x=x, width=width)


def _allocation_panel(arm: ArmFlow, *, x: float, width: float) -> _Panel:
    if arm.received is None:
        body = _wrap("• Received allocated intervention: not applicable", width)
    else:
        body = []
        for key, box in arm.received.boxes().items():
            if key == "unknown" and box.count == 0:
                continue
            body += _sub_box(box, width, with_reasons=key != "received")
    return _panel(
        f"Allocated to {arm.arm} {_n(arm.allocated.count, 'schools')}", body, x=x, width=width
    )


def _follow_up_panel(arm: ArmFlow, *, x: float, width: float) -> _Panel:
    box = arm.lost_to_follow_up
    body = _reason_lines(box, width, "")
    if arm.teachers is not None:
        t = arm.teachers
        body += _wrap(
            f"Teachers consented: {t.consented}; answered pre: {t.responded_pre}, "
            f"post: {t.responded_post}, both: {t.responded_both}",
            width,
        )
    return _panel(f"{box.label} {_n(box.count)}", body, x=x, width=width)


def _analysis_panel(arm: ArmFlow, *, x: float, width: float) -> _Panel:
    body: list[str] = []
    if arm.pupils is not None:
        p = arm.pupils
        body += _wrap(
            f"CIN/LAC pupils with outcomes: {p.with_outcomes} (CIN only {p.cin_only}, "
            f"LAC only {p.lac_only}, both {p.cin_and_lac}); reading {p.with_reading}, "
            f"maths {p.with_maths}",
            width,
        )
    body += _sub_box(arm.excluded_from_analysis, width)
    if arm.analysis_pending.count:
        body += _sub_box(arm.analysis_pending, width)
    return _panel(f"Analysed {_n(arm.analysed.count, 'schools')}", body, x=x, width=width)


def _stack(panels: list[_Panel], top: float) -> float:
    """Put a row of panels at ``top``; return the row's bottom."""
    for panel in panels:
        panel.top = top
    return max(panel.bottom for panel in panels)


def _footnotes(flow: ConsortFlow, width: float) -> list[str]:
    lines: list[str] = []
    if flow.icc:
        icc = "; ".join(f"{outcome} {value:.3f}" for outcome, value in flow.icc.items())
        lines += _wrap(f"Intra-cluster correlation (ICC): {icc}.", width)
    if flow.missing_inputs:
        lines += _wrap(f"Not yet available: {', '.join(flow.missing_inputs)}.", width)
    if flow.warnings:
        lines += _wrap(
            f"{len(flow.warnings)} data consistency warning(s) accompany this diagram.", width
        )
    return lines


def consort_diagram(flow: ConsortFlow) -> Picture:
    """Draw ``flow`` as the CONSORT 2010 cluster-trial diagram (schools are the clusters)."""
    with drawing():  # text is measured with matplotlib's fonts too: keep it to one thread
        return _draw(flow)


def _draw(flow: ConsortFlow) -> Picture:
    content = CONTENT_RIGHT - CONTENT_LEFT
    main_width = content * 0.46
    assessed = _panel(
        f"Assessed for eligibility {_n(flow.assessed.count, 'schools')}",
        [],
        x=CONTENT_LEFT + content * 0.04,
        width=main_width,
    )
    excluded_x = CONTENT_LEFT + content * 0.56
    excluded = _excluded_panel(flow, x=excluded_x, width=CONTENT_RIGHT - excluded_x)
    randomised = _panel(
        f"Randomised {_n(flow.randomised.count, 'schools')}",
        _wrap("1:1 within local authority", main_width),
        x=assessed.x,
        width=main_width,
    )
    arms = list(flow.arms.values())
    column = (content - COLUMN_GAP * (len(arms) - 1)) / len(arms)
    xs = [CONTENT_LEFT + i * (column + COLUMN_GAP) for i in range(len(arms))]
    allocation = [_allocation_panel(a, x=x, width=column) for a, x in zip(arms, xs, strict=True)]
    follow_up = [_follow_up_panel(a, x=x, width=column) for a, x in zip(arms, xs, strict=True)]
    analysis = [_analysis_panel(a, x=x, width=column) for a, x in zip(arms, xs, strict=True)]

    notes = _footnotes(flow, content)

    def place(gap: float) -> float:
        """Put every panel at its height for this gap between rows; the figure's height."""
        assessed.top = MARGIN
        excluded.top = assessed.bottom + gap
        randomised.top = max(excluded.bottom, assessed.bottom + gap * 2) + gap
        bottom = _stack(allocation, randomised.bottom + gap * 1.6)
        bottom = _stack(follow_up, bottom + gap)
        bottom = _stack(analysis, bottom + gap)
        return bottom + gap + LINE * len(notes) + MARGIN

    # A short flow is spread to portrait proportions rather than left a squat strip: the height
    # grows linearly with the gap, so two placings give the gap that reaches MIN_HEIGHT.
    gap = GAP
    height = place(gap)
    if height < MIN_HEIGHT:
        per_gap = place(2 * GAP) - height
        gap = min(MAX_GAP, GAP + GAP * (MIN_HEIGHT - height) / per_gap)
        height = place(gap)
    allocation_bottom = max(p.bottom for p in allocation)
    follow_up_bottom = max(p.bottom for p in follow_up)
    analysis_bottom = max(p.bottom for p in analysis)

    with drawing():
        figure = Figure(figsize=(PAGE_WIDTH, height))
        ax = figure.add_axes((0.0, 0.0, 1.0, 1.0))
        ax.set_xlim(0, PAGE_WIDTH)
        ax.set_ylim(height, 0)  # inches from the top, as the layout counts them
        ax.set_axis_off()
        stages = [
            ("Enrolment", assessed.top, randomised.bottom),
            ("Allocation", allocation[0].top, allocation_bottom),
            ("Follow-up", follow_up[0].top, follow_up_bottom),
            ("Analysis", analysis[0].top, analysis_bottom),
        ]
        for name, top, bottom in stages:
            _stage(ax, name, top, bottom, gap=gap)
        for panel in [assessed, excluded, randomised, *allocation, *follow_up, *analysis]:
            _draw_panel(ax, panel)
        # Enrolment: down from assessed to randomised, a branch right to the excluded box.
        spine = assessed.centre
        _line(ax, (spine, assessed.bottom), (spine, randomised.top), arrow=True)
        branch_y = excluded.top + min(excluded.height / 2, 0.25)
        _line(ax, (spine, branch_y), (excluded.x, branch_y), arrow=True)
        # Allocation: randomised fans out to the arms.
        fork_y = randomised.bottom + gap * 0.8
        _line(ax, (spine, randomised.bottom), (spine, fork_y))
        _line(ax, (allocation[0].centre, fork_y), (allocation[-1].centre, fork_y))
        _line(ax, (min(spine, allocation[0].centre), fork_y), (spine, fork_y))
        for column_panels in zip(allocation, follow_up, analysis, strict=True):
            first = column_panels[0]
            _line(ax, (first.centre, fork_y), (first.centre, first.top), arrow=True)
            for upper, lower in zip(column_panels, column_panels[1:], strict=False):
                _line(ax, (upper.centre, upper.bottom), (lower.centre, lower.top), arrow=True)
        for i, note in enumerate(notes):
            ax.text(
                CONTENT_LEFT,
                analysis_bottom + gap + LINE * (i + 0.8),
                note,
                fontsize=FONT_SIZE,
                va="baseline",
                color="#333333",
            )
    return Picture(figure, title="CONSORT flow diagram of schools in the RLC trial")


def _draw_panel(ax: Axes, panel: _Panel) -> None:
    ax.add_patch(
        FancyBboxPatch(
            (panel.x, panel.top),
            panel.width,
            panel.height,
            boxstyle="square,pad=0",
            linewidth=0.9,
            edgecolor=BOX_EDGE,
            facecolor=BOX_FACE,
        )
    )
    y = panel.top + PAD
    for i, line in enumerate(panel.heading + panel.body):
        ax.text(
            panel.x + PAD,
            y + LINE * (i + 0.78),
            line,
            fontsize=FONT_SIZE,
            fontweight="bold" if i < len(panel.heading) else "normal",
            va="baseline",
            ha="left",
        )


def _stage(ax: Axes, name: str, top: float, bottom: float, *, gap: float) -> None:
    """The stage's band down the left: its row, a little of the gaps, and room for its name."""
    grow = max(0.2 * gap, (_width(name, True) + 0.16 - (bottom - top)) / 2)
    grow = min(grow, 0.45 * gap)  # never into the next stage's band
    top, bottom = top - grow, bottom + grow
    ax.add_patch(
        FancyBboxPatch(
            (MARGIN, top),
            STAGE_WIDTH,
            bottom - top,
            boxstyle="round,pad=0,rounding_size=0.06",
            linewidth=0,
            facecolor=STAGE_FACE,
        )
    )
    ax.text(
        MARGIN + STAGE_WIDTH / 2,
        (top + bottom) / 2,
        name,
        rotation=90,
        ha="center",
        va="center",
        fontsize=FONT_SIZE,
        fontweight="bold",
        color=BOX_EDGE,
    )


def _line(
    ax: Axes, start: tuple[float, float], end: tuple[float, float], *, arrow: bool = False
) -> None:
    ax.annotate(
        "",
        xy=end,
        xytext=start,
        arrowprops={
            "arrowstyle": "-|>" if arrow else "-",
            "color": BOX_EDGE,
            "linewidth": 0.9,
            "shrinkA": 0,
            "shrinkB": 0,
            "mutation_scale": 8,
        },
    )
