"""The report's charts: a forest plot of effects, questionnaire response rates, session attendance.

Each takes plain rows (dataclasses of numbers and labels) and returns a `Picture`; nothing here
fits a model or reads a database. Arms are always drawn in the same order and colours (intervention
first), so the charts of one report agree with each other.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import blended_transform_factory

from analytics.charts.picture import Picture, drawing
from analytics.consort_boxes import ordered_arms

__all__ = [
    "ARM_COLOURS",
    "Attendance",
    "Effect",
    "ResponseRate",
    "attendance_chart",
    "forest_plot",
    "response_rates_chart",
]

ARM_COLOURS = {"intervention": "#1b6ca8", "control": "#e08a2e"}
OTHER_COLOUR = "#7f7f7f"
ROUNDS = ("pre", "post")
ROUND_LABELS = {"pre": "Pre (October)", "post": "Post (May)"}


def _colour(arm: str) -> str:
    return ARM_COLOURS.get(arm, OTHER_COLOUR)


@dataclass(frozen=True, slots=True)
class Effect:
    """One row of a forest plot: an estimate and its confidence interval (NaN: not estimable)."""

    label: str
    estimate: float
    ci_lower: float
    ci_upper: float


def _estimable(effect: Effect) -> bool:
    return all(math.isfinite(v) for v in (effect.estimate, effect.ci_lower, effect.ci_upper))


def forest_plot(
    effects: Sequence[Effect],
    *,
    x_label: str = "Effect size (95% confidence interval)",
    title: str = "Estimated effects",
) -> Picture:
    """Rows top to bottom in the order given; a line at 0 (no effect); estimates written out."""
    if not effects:
        raise ValueError("effects: nothing to plot.")
    for effect in effects:
        if _estimable(effect) and not effect.ci_lower <= effect.estimate <= effect.ci_upper:
            raise ValueError(f"{effect.label!r}: the estimate must lie within its interval.")
    shown = [e for e in effects if _estimable(e)]
    low = min([0.0, *(e.ci_lower for e in shown)])
    high = max([0.0, *(e.ci_upper for e in shown)])
    pad = (high - low) * 0.08 or 0.1
    height = 1.1 + 0.38 * len(effects)
    with drawing():
        figure = Figure(figsize=(8.27, height), layout="constrained")
        ax = figure.add_subplot()
        ys = list(range(len(effects)))[::-1]
        for y, effect in zip(ys, effects, strict=True):
            if _estimable(effect):
                ax.plot([effect.ci_lower, effect.ci_upper], [y, y], color="#1f3b5c", lw=1.4)
                ax.plot([effect.estimate], [y], marker="s", color="#1f3b5c", ms=6)
                text = f"{effect.estimate:.2f} [{effect.ci_lower:.2f}, {effect.ci_upper:.2f}]"
                text = text.replace("-", "\u2212")  # the minus sign the axis uses
            else:
                text = "not estimable"
            ax.text(
                1.02,
                y,
                text,
                transform=blended_transform_factory(ax.transAxes, ax.transData),
                va="center",
                ha="left",
            )
        ax.axvline(0.0, color="#555555", lw=0.9, ls="--")
        ax.set_yticks(ys, [e.label for e in effects])
        ax.set_ylim(-0.7, len(effects) - 0.3)
        ax.set_xlim(low - pad, high + pad)
        ax.set_xlabel(x_label)
        ax.set_title(title, loc="left")
        ax.spines[["top", "right"]].set_visible(False)
    return Picture(figure, title=title)


@dataclass(frozen=True, slots=True)
class ResponseRate:
    """How many of an arm's consented teachers answered one questionnaire round."""

    arm: str
    round: str
    responded: int
    invited: int


def response_rates_chart(
    rows: Sequence[ResponseRate], *, title: str = "Teacher questionnaire response rates"
) -> Picture:
    """Grouped bars: per round (pre, post), one bar per arm, labelled "% (responded/invited)"."""
    seen: Counter[tuple[str, str]] = Counter((r.arm, r.round) for r in rows)
    if twice := [key for key, n in seen.items() if n > 1]:
        raise ValueError(f"rows: more than one row for {twice[0]}.")
    for row in rows:
        if row.round not in ROUNDS:
            raise ValueError(f"rows: round must be pre or post, not {row.round!r}.")
        if not 0 <= row.responded <= row.invited:
            raise ValueError(f"rows: {row.arm} {row.round}: responded must be 0..invited.")
    arms = ordered_arms(r.arm for r in rows)
    by_key = {(r.arm, r.round): r for r in rows}
    width = 0.8 / max(len(arms), 1)
    with drawing():
        figure = Figure(figsize=(8.27, 4.2), layout="constrained")
        ax = figure.add_subplot()
        for i, arm in enumerate(arms):
            for j, round_ in enumerate(ROUNDS):
                found = by_key.get((arm, round_))
                x = j - 0.4 + width * (i + 0.5)
                if found is None or found.invited == 0:
                    ax.text(x, 2, "no data", ha="center", va="bottom", rotation=90)
                    continue
                rate = 100.0 * found.responded / found.invited
                ax.bar(x, rate, width * 0.92, color=_colour(arm), label=arm if j == 0 else None)
                ax.text(
                    x,
                    rate + 1.5,
                    f"{rate:.0f}%\n({found.responded}/{found.invited})",
                    ha="center",
                    va="bottom",
                    fontsize=8,
                )
        ax.set_xticks(range(len(ROUNDS)), [ROUND_LABELS[r] for r in ROUNDS])
        ax.set_ylim(0, 115)
        ax.set_yticks(range(0, 101, 20))
        ax.set_ylabel("Consented teachers responding (%)")
        ax.set_title(title, loc="left")
        ax.spines[["top", "right"]].set_visible(False)
        if arms:
            ax.legend(frameon=False, loc="upper right", ncols=len(arms))
    return Picture(figure, title=title)


@dataclass(frozen=True, slots=True)
class Attendance:
    """How many of the programme's sessions one school attended."""

    urn: int
    arm: str
    sessions_attended: int


def attendance_chart(
    rows: Sequence[Attendance],
    *,
    sessions_offered: int = 8,
    compliance_threshold: int | None = None,
    title: str = "Sessions attended per school",
) -> Picture:
    """The distribution of sessions attended (0..offered), one bar per arm for each number.

    ``sessions_offered``: six workshops plus the introduction and the final session.
    ``compliance_threshold``: the frozen rule's minimum, drawn as a dashed line when given.
    """
    if len({r.urn for r in rows}) != len(rows):
        raise ValueError("rows: a school appears more than once.")
    for row in rows:
        if not 0 <= row.sessions_attended <= sessions_offered:
            raise ValueError(f"rows: URN {row.urn} attended outside 0..{sessions_offered}.")
    arms = ordered_arms(r.arm for r in rows)
    counts = Counter((r.arm, r.sessions_attended) for r in rows)
    totals = Counter(r.arm for r in rows)
    width = 0.8 / max(len(arms), 1)
    sessions = range(sessions_offered + 1)
    with drawing():
        figure = Figure(figsize=(8.27, 4.2), layout="constrained")
        ax = figure.add_subplot()
        for i, arm in enumerate(arms):
            xs = [s - 0.4 + width * (i + 0.5) for s in sessions]
            heights = [counts[arm, s] for s in sessions]
            ax.bar(
                xs,
                heights,
                width * 0.92,
                color=_colour(arm),
                label=f"{arm} (n = {totals[arm]} schools)",
            )
        if compliance_threshold is not None:
            ax.axvline(compliance_threshold - 0.5, color="#555555", lw=0.9, ls="--")
            ax.text(
                compliance_threshold - 0.45,
                0.98,
                f"compliance: {compliance_threshold}+ sessions",
                transform=blended_transform_factory(ax.transData, ax.transAxes),
                va="top",
                ha="left",
                fontsize=8,
            )
        ax.set_xticks(list(sessions))
        ax.set_xlabel(f"Sessions attended (of {sessions_offered})")
        ax.set_ylabel("Schools")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title, loc="left")
        ax.spines[["top", "right"]].set_visible(False)
        if arms:
            ax.legend(frameon=False, loc="upper left")
    return Picture(figure, title=title)
