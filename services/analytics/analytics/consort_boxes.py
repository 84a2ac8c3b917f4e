"""The CONSORT flow's structure: boxes of schools, an arm's column, the whole flow, and its check.

`analytics.consort.consort_flow` fills these; the service layer serialises them (`to_dict`) and
`analytics.charts.consort_diagram` draws them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from analytics.records import CONTROL, INTERVENTION

__all__ = [
    "ArmFlow",
    "Box",
    "ConsortFlow",
    "Excluded",
    "FlowInconsistent",
    "PupilCounts",
    "Received",
    "TeacherCounts",
    "check_partition",
    "ordered_arms",
    "urn_list",
]


@dataclass(slots=True)
class Box:
    """One box of the diagram: the schools in it and, where CONSORT asks for them, the reasons.

    Reasons count schools; an ineligible school can fail several rules, so its eligibility reasons
    may add up to more than the box's count.
    """

    label: str
    urns: list[int] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def count(self) -> int:
        return len(self.urns)

    def add(self, urn: int, *reasons: str) -> None:
        self.urns.append(urn)
        self.reasons.update(reasons)

    def ordered_reasons(self) -> list[tuple[str, int]]:
        """Most frequent first, then alphabetically, so the same data always reads the same."""
        return sorted(self.reasons.items(), key=lambda item: (-item[1], item[0]))

    def to_dict(self, *, include_urns: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "label": self.label,
            "count": self.count,
            "reasons": [{"reason": r, "count": n} for r, n in self.ordered_reasons()],
        }
        if include_urns:
            out["urns"] = sorted(self.urns)
        return out


@dataclass(slots=True)
class Excluded:
    """Schools assessed for eligibility but not randomised, by why."""

    ineligible: Box = field(default_factory=lambda: Box("Did not meet the inclusion criteria"))
    did_not_consent: Box = field(default_factory=lambda: Box("Eligible, did not consent"))
    withdrew: Box = field(default_factory=lambda: Box("Withdrew before randomisation"))
    awaiting: Box = field(default_factory=lambda: Box("Still awaiting a decision"))

    def boxes(self) -> dict[str, Box]:
        return {
            "ineligible": self.ineligible,
            "did_not_consent": self.did_not_consent,
            "withdrew": self.withdrew,
            "awaiting": self.awaiting,
        }

    @property
    def total(self) -> int:
        return sum(box.count for box in self.boxes().values())


@dataclass(slots=True)
class Received:
    """The intervention arm's schools by whether they received the intervention (compliance)."""

    received: Box = field(default_factory=lambda: Box("Received allocated intervention"))
    not_received: Box = field(default_factory=lambda: Box("Did not receive allocated intervention"))
    unknown: Box = field(default_factory=lambda: Box("Receipt of intervention not known"))

    def boxes(self) -> dict[str, Box]:
        return {
            "received": self.received,
            "not_received": self.not_received,
            "unknown": self.unknown,
        }


@dataclass(slots=True)
class TeacherCounts:
    """Teachers who consented to data collection and the questionnaire rounds they answered."""

    consented: int = 0
    responded_pre: int = 0
    responded_post: int = 0
    responded_both: int = 0


@dataclass(slots=True)
class PupilCounts:
    """CIN/LAC pupils with at least one KS2 outcome in the schools analysed."""

    with_outcomes: int = 0
    cin_only: int = 0
    lac_only: int = 0
    cin_and_lac: int = 0
    with_reading: int = 0
    with_maths: int = 0


@dataclass(slots=True)
class ArmFlow:
    """One arm's column of the diagram, from allocation to analysis."""

    arm: str
    allocated: Box
    #: None: "not applicable" (only the intervention arm can receive the intervention).
    received: Received | None
    lost_to_follow_up: Box
    analysed: Box
    excluded_from_analysis: Box
    analysis_pending: Box
    #: None when the input was not given.
    teachers: TeacherCounts | None = None
    pupils: PupilCounts | None = None

    def terminal_boxes(self) -> dict[str, Box]:
        return {
            "lost_to_follow_up": self.lost_to_follow_up,
            "excluded_from_analysis": self.excluded_from_analysis,
            "analysed": self.analysed,
            "analysis_pending": self.analysis_pending,
        }

    def to_dict(self, *, include_urns: bool = True) -> dict[str, Any]:
        def box(b: Box) -> dict[str, Any]:
            return b.to_dict(include_urns=include_urns)

        return {
            "arm": self.arm,
            "allocated": box(self.allocated),
            "received": (
                "not applicable"
                if self.received is None
                else {k: box(b) for k, b in self.received.boxes().items()}
            ),
            **{k: box(b) for k, b in self.terminal_boxes().items()},
            "teachers": None if self.teachers is None else asdict(self.teachers),
            "pupils": None if self.pupils is None else asdict(self.pupils),
        }


@dataclass(slots=True)
class ConsortFlow:
    """The whole diagram. Every assessed school is in exactly one terminal box (checked)."""

    assessed: Box
    excluded: Excluded
    randomised: Box
    arms: dict[str, ArmFlow]
    #: Intra-cluster correlations by outcome, when given.
    icc: dict[str, float] | None
    #: The inputs that were not given (their boxes say "not known" or "pending").
    missing_inputs: list[str]
    #: Inconsistencies between the services' records, each naming the URNs.
    warnings: list[str]

    def terminal_boxes(self) -> dict[str, Box]:
        """Every box a school ends in, keyed "excluded.<why>" or "<arm>.<box>"."""
        boxes = {f"excluded.{k}": b for k, b in self.excluded.boxes().items()}
        for arm, flow in self.arms.items():
            boxes.update({f"{arm}.{k}": b for k, b in flow.terminal_boxes().items()})
        return boxes

    def to_dict(self, *, include_urns: bool = True) -> dict[str, Any]:
        """Plain JSON: counts, reasons and (unless told not to) the URNs in each box."""
        return {
            "assessed": self.assessed.to_dict(include_urns=include_urns),
            "excluded": {
                "count": self.excluded.total,
                **{
                    k: b.to_dict(include_urns=include_urns)
                    for k, b in self.excluded.boxes().items()
                },
            },
            "randomised": self.randomised.to_dict(include_urns=include_urns),
            "arms": {
                arm: flow.to_dict(include_urns=include_urns) for arm, flow in self.arms.items()
            },
            "icc": None if self.icc is None else dict(self.icc),
            "missing_inputs": list(self.missing_inputs),
            "warnings": list(self.warnings),
        }


class FlowInconsistent(ValueError):
    """The flow's boxes do not partition the assessed schools: a bug, never a data problem."""


def ordered_arms(arms: Iterable[str]) -> list[str]:
    """Intervention first, control second, anything else (a data error) after, alphabetically."""
    rank = {INTERVENTION: 0, CONTROL: 1}
    return sorted(set(arms), key=lambda arm: (rank.get(arm, 2), arm))


def check_partition(flow: ConsortFlow) -> None:
    """Raise `FlowInconsistent` unless every assessed school is in exactly one terminal box.

    Also checks that the intermediate boxes agree with the terminal ones: assessed = excluded +
    randomised, randomised = the arms' allocated, and each arm's allocated = its terminal boxes.
    """
    terminal = flow.terminal_boxes()
    seen = Counter(urn for box in terminal.values() for urn in box.urns)
    assessed = set(flow.assessed.urns)
    problems: list[str] = []
    if len(assessed) != flow.assessed.count:
        problems.append("a school is counted twice as assessed")
    if twice := sorted(urn for urn, n in seen.items() if n > 1):
        problems.append(f"in more than one box: {urn_list(twice)}")
    if nowhere := sorted(assessed - seen.keys()):
        problems.append(f"in no box: {urn_list(nowhere)}")
    if unassessed := sorted(seen.keys() - assessed):
        problems.append(f"in a box but not assessed: {urn_list(unassessed)}")
    if sum(box.count for box in terminal.values()) != flow.assessed.count:
        problems.append("the terminal boxes do not add up to the schools assessed")
    if flow.excluded.total + flow.randomised.count != flow.assessed.count:
        problems.append("excluded + randomised differs from assessed")
    if sum(arm.allocated.count for arm in flow.arms.values()) != flow.randomised.count:
        problems.append("the arms' allocations do not add up to the schools randomised")
    for name, arm in flow.arms.items():
        if sum(b.count for b in arm.terminal_boxes().values()) != arm.allocated.count:
            problems.append(f"the {name} arm's boxes do not add up to its allocation")
        if arm.received is not None and (
            sum(b.count for b in arm.received.boxes().values()) != arm.allocated.count
        ):
            problems.append(f"the {name} arm's receipt boxes do not add up to its allocation")
    if problems:
        raise FlowInconsistent("CONSORT flow is inconsistent: " + "; ".join(problems) + ".")


def urn_list(urns: Iterable[int]) -> str:
    return ", ".join(str(u) for u in sorted(urns))
