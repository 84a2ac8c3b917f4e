"""Baseline balance of the randomised schools by arm: n, mean, SD and the standardised difference.

Pure: records in (`analytics.records`), a `BalanceTable` out. The SMD is the one balance tables
usually show: the difference in means (intervention minus control) over the pooled SD
sqrt((s²_t + s²_c) / 2); for a yes/no characteristic (a school being in a given LA) the same on
the proportions, with p(1 - p) as each arm's variance. Values that are missing (None, NaN, a %FSM
GIAS did not give as a number) are counted per arm, never dropped silently.

Decisions taken here:
- The schools are those randomised, in the arm the randomisation service allocated them to.
  Allocations flagged in error are left out by default (they were not valid randomisations) and
  listed in the table, so the reader sees how many.
- An allocated school recruitment has no record of is counted as missing on every school row.
- Continuous SDs are sample SDs (n - 1); an arm with fewer than two values has no SD, so the SMD is
  NaN. The SMD is NaN whenever it is undefined, except that two arms with the same constant value
  (pooled SD 0, no difference) are perfectly balanced: 0.
- Teacher scale scores are summarised over teachers (not school means): the unit is the teacher,
  and its n says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from analytics.records import (
    CONTROL,
    INTERVENTION,
    AllocationRecord,
    SchoolRecord,
    TeacherPreScores,
    index_by_urn,
)

__all__ = [
    "ArmSummary",
    "BalanceRow",
    "BalanceTable",
    "MeanDifference",
    "balance_table",
    "parse_percentage",
    "standardised_mean_difference",
]

Value = float | int | bool | None
Unit = Literal["school", "teacher"]

PRE_SCALES: tuple[tuple[str, str], ...] = (
    ("knowledge", "Research knowledge (pre, teacher scale score)"),
    ("attitudes", "Attitudes to research (pre, teacher scale score)"),
    ("use", "Research use (pre, teacher scale score)"),
)


@dataclass(frozen=True, slots=True)
class ArmSummary:
    """One arm's values: how many there are and are missing, their mean and SD."""

    n: int
    missing: int
    mean: float
    sd: float
    #: Yes/no rows: how many said yes (``mean`` is then the proportion). None for other rows.
    count: int | None = None

    @property
    def percent(self) -> float | None:
        return None if self.count is None else self.mean * 100.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "missing": self.missing,
            "mean": _json_number(self.mean),
            "sd": _json_number(self.sd),
            "count": self.count,
            "percent": _json_number(self.percent),
        }


@dataclass(frozen=True, slots=True)
class MeanDifference:
    """The two arms' summaries and the standardised mean difference between them."""

    treated: ArmSummary
    control: ArmSummary
    difference: float
    pooled_sd: float
    smd: float


def _json_number(value: float | None) -> float | None:
    # JSON has no NaN: an undefined figure is null.
    return None if value is None or math.isnan(value) else value


def _split(values: Iterable[Value]) -> tuple[list[float], int]:
    present: list[float] = []
    missing = 0
    for value in values:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            missing += 1
        else:
            present.append(float(value))
    return present, missing


def _summary(values: Iterable[Value], *, binary: bool) -> ArmSummary:
    present, missing = _split(values)
    n = len(present)
    if binary:
        if any(v not in (0.0, 1.0) for v in present):
            raise ValueError("a yes/no characteristic takes only 0/1 (or False/True) values.")
        count = int(sum(present))
        p = count / n if n else math.nan
        return ArmSummary(n=n, missing=missing, mean=p, sd=math.sqrt(p * (1 - p)), count=count)
    mean = math.fsum(present) / n if n else math.nan
    if n < 2:
        return ArmSummary(n=n, missing=missing, mean=mean, sd=math.nan)
    variance = math.fsum((v - mean) ** 2 for v in present) / (n - 1)
    return ArmSummary(n=n, missing=missing, mean=mean, sd=math.sqrt(variance))


def standardised_mean_difference(
    treated: Iterable[Value], control: Iterable[Value], *, binary: bool = False
) -> MeanDifference:
    """(mean_t - mean_c) / sqrt((s²_t + s²_c) / 2), ignoring and counting missing values.

    ``binary``: the values are 0/1 and s² is p(1 - p), the usual SMD on proportions. NaN when
    undefined (an arm with no values, or fewer than two for a continuous SD); 0 when both arms
    hold the same constant value.
    """
    t = _summary(treated, binary=binary)
    c = _summary(control, binary=binary)
    difference = t.mean - c.mean
    pooled_sd = math.sqrt((t.sd**2 + c.sd**2) / 2)
    if math.isnan(difference) or math.isnan(pooled_sd):
        smd = math.nan
    elif pooled_sd == 0:
        smd = 0.0 if difference == 0 else math.nan
    else:
        smd = difference / pooled_sd
    return MeanDifference(treated=t, control=c, difference=difference, pooled_sd=pooled_sd, smd=smd)


def parse_percentage(text: str | None) -> float | None:
    """GIAS's %FSM ("12.5", sometimes "12.5%") as a number; None when it is not one (e.g. "SUPP")."""
    if text is None:
        return None
    cleaned = text.strip().removesuffix("%").strip()
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@dataclass(frozen=True, slots=True)
class BalanceRow:
    """One characteristic: each arm's summary and the SMD (intervention minus control)."""

    key: str
    label: str
    unit: Unit
    binary: bool
    result: MeanDifference

    @property
    def intervention(self) -> ArmSummary:
        return self.result.treated

    @property
    def control(self) -> ArmSummary:
        return self.result.control

    @property
    def smd(self) -> float:
        return self.result.smd

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "unit": self.unit,
            "binary": self.binary,
            INTERVENTION: self.intervention.to_dict(),
            CONTROL: self.control.to_dict(),
            "difference": _json_number(self.result.difference),
            "smd": _json_number(self.smd),
        }


@dataclass(slots=True)
class BalanceTable:
    """The balance rows and what went into them."""

    rows: list[BalanceRow]
    #: Schools in the table per arm.
    schools: dict[str, int]
    #: Allocated schools recruitment has no record of (missing on every school row).
    schools_without_record: list[int] = field(default_factory=list)
    #: Allocations flagged in error, left out of the table.
    excluded_in_error: list[int] = field(default_factory=list)
    #: Pre-round teacher records whose school is not in the table (not counted).
    teachers_not_in_table: int = 0
    missing_inputs: list[str] = field(default_factory=list)

    def row(self, key: str) -> BalanceRow:
        return next(row for row in self.rows if row.key == key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": [row.to_dict() for row in self.rows],
            "schools": dict(self.schools),
            "schools_without_record": sorted(self.schools_without_record),
            "excluded_in_error": sorted(self.excluded_in_error),
            "teachers_not_in_table": self.teachers_not_in_table,
            "missing_inputs": list(self.missing_inputs),
        }


def _row(
    key: str,
    label: str,
    values: dict[str, list[Value]],
    *,
    unit: Unit = "school",
    binary: bool = False,
) -> BalanceRow:
    result = standardised_mean_difference(values[INTERVENTION], values[CONTROL], binary=binary)
    return BalanceRow(key=key, label=label, unit=unit, binary=binary, result=result)


def balance_table(
    *,
    schools: Iterable[SchoolRecord],
    allocations: Iterable[AllocationRecord],
    pre_scores: Iterable[TeacherPreScores] | None = None,
    include_in_error: bool = False,
) -> BalanceTable:
    """Rows: school size (pupils), %FSM, Year 5/6 CIN (social worker) and LAC pupils, one row per
    LA (count and % of each arm's schools), then the pre-round teacher scales when given.

    ``allocations`` decide which schools are in the table and in which arm; an arm other than
    intervention or control, or a URN twice, raises ValueError.
    """
    school_by_urn = index_by_urn(schools, "schools")
    arm_of: dict[int, str] = {}
    in_error: list[int] = []
    allocation_la: dict[int, str | None] = {}
    for allocation in index_by_urn(allocations, "allocations").values():
        allocation_la[allocation.urn] = allocation.la_code
        if allocation.arm not in (INTERVENTION, CONTROL):
            raise ValueError(
                f"allocations: URN {allocation.urn} has arm {allocation.arm!r}; the balance "
                "table compares intervention with control only."
            )
        if allocation.in_error and not include_in_error:
            in_error.append(allocation.urn)
        else:
            arm_of[allocation.urn] = allocation.arm
    by_arm: dict[str, list[SchoolRecord | None]] = {INTERVENTION: [], CONTROL: []}
    la_by_arm: dict[str, list[str | None]] = {INTERVENTION: [], CONTROL: []}
    for urn in sorted(arm_of):
        school = school_by_urn.get(urn)
        by_arm[arm_of[urn]].append(school)
        # The stratum randomisation used, else recruitment's LA.
        la_by_arm[arm_of[urn]].append(
            allocation_la.get(urn) or (school.la_code if school is not None else None) or None
        )
    la_names = {s.la_code: s.la_name for s in school_by_urn.values() if s.la_code and s.la_name}

    def school_values(read: Callable[[SchoolRecord], Value]) -> dict[str, list[Value]]:
        return {
            arm: [None if s is None else read(s) for s in group] for arm, group in by_arm.items()
        }

    rows = [
        _row("pupils", "School size (pupils on roll)", school_values(lambda s: s.pupils)),
        _row(
            "percentage_fsm",
            "Pupils eligible for free school meals (%)",
            school_values(lambda s: parse_percentage(s.percentage_fsm)),
        ),
        _row(
            "year56_social_worker_pupils",
            "Year 5/6 pupils with a social worker (CIN)",
            school_values(lambda s: s.year56_social_worker_pupils),
        ),
        _row(
            "year56_looked_after_pupils",
            "Year 5/6 looked-after pupils (LAC)",
            school_values(lambda s: s.year56_looked_after_pupils),
        ),
    ]
    rows += _la_rows(la_by_arm, la_names)
    teachers_not_in_table = 0
    if pre_scores is not None:
        teacher_values: dict[str, dict[str, list[Value]]] = {
            scale: {INTERVENTION: [], CONTROL: []} for scale, _ in PRE_SCALES
        }
        for teacher in pre_scores:
            arm = arm_of.get(teacher.urn)
            if arm is None:
                teachers_not_in_table += 1
                continue
            for scale, _ in PRE_SCALES:
                teacher_values[scale][arm].append(getattr(teacher, scale))
        rows += [
            _row(f"pre_{scale}", label, teacher_values[scale], unit="teacher")
            for scale, label in PRE_SCALES
        ]
    return BalanceTable(
        rows=rows,
        schools={arm: len(group) for arm, group in by_arm.items()},
        schools_without_record=sorted(urn for urn in arm_of if urn not in school_by_urn),
        excluded_in_error=sorted(in_error),
        teachers_not_in_table=teachers_not_in_table,
        missing_inputs=[] if pre_scores is not None else ["pre_scores"],
    )


def _la_rows(la_by_arm: dict[str, list[str | None]], names: dict[str, str]) -> list[BalanceRow]:
    """One yes/no row per LA: is the school in it. A school with no known LA is missing."""
    codes = sorted({code for group in la_by_arm.values() for code in group if code})
    rows = []
    for code in codes:
        values: dict[str, list[Value]] = {
            arm: [None if la is None else la == code for la in group]
            for arm, group in la_by_arm.items()
        }
        label = f"LA {code}" + (f" {names[code]}" if code in names else "")
        rows.append(_row(f"la:{code}", label, values, binary=True))
    return rows
