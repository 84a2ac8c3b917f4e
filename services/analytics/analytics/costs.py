"""What the programme costs, per school and per pupil, the way the EEF's cost guidance averages it.

Pure: cost items (as the workshops service records them) and the intervention schools in, a
`CostSummary` out. Money is `decimal.Decimal` throughout, in pounds; every item is rounded to the
penny once (hours × rate can give fractions of a penny) and nothing else is rounded until the
figures are reported.

Assumptions (confirm with the trial team if in doubt):
- A recurring item costs its amount every year; a one-off item once. Over ``years`` (three, as the
  EEF guidance takes) the cost is one-off + years × recurring, and the yearly average is that over
  ``years``. Costs are neither discounted nor inflated.
- An item with a URN belongs to that school; one without is programme-wide and is shared equally
  among the schools given, i.e. the intervention schools. The split is in whole pennies: the
  pennies left over go one each to the schools with the lowest URNs, so the schools' shares add
  up exactly to the item.
- "Per pupil" is per pupil on the school's roll (GIAS's ``pupils``), since the programme works
  through the school's teachers. "Per target pupil" divides by the school's Year 5/6 CIN + LAC
  count (the Virtual School's figures), known only when both figures are; the two counts can
  overlap (a looked-after child usually has a social worker too), so this is a lower bound on the
  cost per target child.
- A school whose pupil count is unknown (or zero) is left out of that per-pupil figure, cost and
  pupils both, and listed; it is still in the totals and the per-school average. The same goes
  for target pupils.
- Staff time is costed like every other category (hours × rate); its hours are also reported on
  their own, because time is what schools will weigh, whatever it is priced at.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from analytics.records import SchoolRecord, index_by_urn

__all__ = [
    "CATEGORIES",
    "ONE_OFF",
    "RECURRENCES",
    "RECURRING",
    "CategoryCost",
    "CostItem",
    "CostSchool",
    "CostSummary",
    "SchoolCost",
    "cost_summary",
    "money",
]

CATEGORIES = ("programme_fees", "materials", "travel", "staff_time", "supply_cover", "venue")
ONE_OFF, RECURRING = "one_off", "recurring"
RECURRENCES = (ONE_OFF, RECURRING)
PENNY = Decimal("0.01")


def money(value: Decimal | int | float | str) -> Decimal:
    """A sum of money as a Decimal; floats go through their shortest repr (0.1 stays 0.1)."""
    try:
        result = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return result


def _pennies(value: Decimal) -> Decimal:
    return value.quantize(PENNY, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class CostItem:
    """One cost: an ``amount``, or ``hours`` × ``rate``; a school's (``urn``) or programme-wide."""

    category: str
    recurrence: str
    amount: Decimal | None = None
    hours: Decimal | None = None
    rate: Decimal | None = None
    urn: int | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"category must be one of {', '.join(CATEGORIES)}.")
        if self.recurrence not in RECURRENCES:
            raise ValueError("recurrence must be one_off or recurring.")
        timed = self.hours is not None or self.rate is not None
        if (self.amount is None) == (not timed) or (timed and None in (self.hours, self.rate)):
            raise ValueError("a cost item has either an amount, or hours and a rate.")
        for name in ("amount", "hours", "rate"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, Decimal) or not value.is_finite()):
                raise ValueError(f"{name} must be a finite Decimal (see money()).")
            if value is not None and value < 0:
                raise ValueError(f"{name} cannot be negative.")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> CostItem:
        """From the workshops service's JSON; numbers may be strings, ints or floats."""

        def number(key: str) -> Decimal | None:
            value = data.get(key)
            return None if value is None else money(value)

        return cls(
            category=str(data["category"]),
            recurrence=str(data["recurrence"]),
            amount=number("amount"),
            hours=number("hours"),
            rate=number("rate"),
            urn=None if data.get("urn") is None else int(data["urn"]),
            description=str(data.get("description") or ""),
        )

    @property
    def cost(self) -> Decimal:
        """The item's cost in pounds, to the penny."""
        if self.amount is not None:
            return _pennies(self.amount)
        assert self.hours is not None and self.rate is not None  # __post_init__ checked
        return _pennies(self.hours * self.rate)


@dataclass(frozen=True, slots=True)
class CostSchool:
    """An intervention school's size: its pupils and, when known, its target pupils."""

    urn: int
    pupils: int | None
    #: Year 5/6 CIN + LAC; None unless both counts are known.
    target_pupils: int | None = None

    @classmethod
    def from_school(cls, school: SchoolRecord) -> CostSchool:
        cin, lac = school.year56_social_worker_pupils, school.year56_looked_after_pupils
        return cls(
            urn=school.urn,
            pupils=school.pupils,
            target_pupils=None if cin is None or lac is None else cin + lac,
        )


@dataclass(frozen=True, slots=True)
class CategoryCost:
    one_off: Decimal
    #: Per year.
    recurring: Decimal
    total_over_years: Decimal


@dataclass(frozen=True, slots=True)
class SchoolCost:
    """One school's costs: its own items and its share of the programme-wide ones."""

    urn: int
    pupils: int | None
    target_pupils: int | None
    one_off: Decimal
    recurring: Decimal
    total_over_years: Decimal
    average_per_year: Decimal
    per_pupil: Decimal | None
    per_target_pupil: Decimal | None


@dataclass(frozen=True, slots=True)
class CostSummary:
    """Totals, per category, and the EEF-style yearly averages per school, pupil, target pupil.

    Figures from a division (averages, per school, per pupil) are rounded half up to the penny;
    totals are exact.
    """

    years: int
    schools: int
    one_off: Decimal
    recurring: Decimal
    total_over_years: Decimal
    average_per_year: Decimal
    by_category: dict[str, CategoryCost]
    #: Average per year per school; None with no schools.
    per_school: Decimal | None
    #: Average per year per pupil, over the schools whose pupils are known.
    per_pupil: Decimal | None
    pupils: int
    per_target_pupil: Decimal | None
    target_pupils: int
    school_costs: list[SchoolCost]
    schools_without_pupils: list[int] = field(default_factory=list)
    schools_without_target_pupils: list[int] = field(default_factory=list)
    #: Hours of staff time costed: one-off, and recurring per year.
    staff_hours: dict[str, Decimal] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON, money as strings ("1234.50") so no penny is lost to a float."""

        def text(value: Decimal | None) -> str | None:
            # Every figure here is whole pennies already; quantizing only writes 0 as "0.00".
            return None if value is None else str(_pennies(value))

        return {
            "currency": "GBP",
            "years": self.years,
            "schools": self.schools,
            "pupils": self.pupils,
            "target_pupils": self.target_pupils,
            "one_off": text(self.one_off),
            "recurring": text(self.recurring),
            "total_over_years": text(self.total_over_years),
            "average_per_year": text(self.average_per_year),
            "per_school": text(self.per_school),
            "per_pupil": text(self.per_pupil),
            "per_target_pupil": text(self.per_target_pupil),
            "by_category": {
                name: {
                    "one_off": text(c.one_off),
                    "recurring": text(c.recurring),
                    "total_over_years": text(c.total_over_years),
                }
                for name, c in self.by_category.items()
            },
            "school_costs": [
                {
                    "urn": s.urn,
                    "pupils": s.pupils,
                    "target_pupils": s.target_pupils,
                    "one_off": text(s.one_off),
                    "recurring": text(s.recurring),
                    "total_over_years": text(s.total_over_years),
                    "average_per_year": text(s.average_per_year),
                    "per_pupil": text(s.per_pupil),
                    "per_target_pupil": text(s.per_target_pupil),
                }
                for s in self.school_costs
            ],
            "schools_without_pupils": list(self.schools_without_pupils),
            "schools_without_target_pupils": list(self.schools_without_target_pupils),
            "staff_hours": {k: str(v) for k, v in self.staff_hours.items()},
        }


def _split_pennies(cost: Decimal, urns: Sequence[int]) -> dict[int, Decimal]:
    """Share ``cost`` equally in whole pennies; leftover pennies go to the first URNs."""
    share, leftover = divmod(int(cost / PENNY), len(urns))
    return {urn: (share + (i < leftover)) * PENNY for i, urn in enumerate(urns)}


def _per(total: Decimal, count: int) -> Decimal | None:
    return _pennies(total / count) if count else None


def cost_summary(
    items: Iterable[CostItem], *, schools: Iterable[CostSchool], years: int = 3
) -> CostSummary:
    """Add up the costs and average them over ``years`` per school, per pupil, per target pupil.

    ``schools``: the intervention schools (programme-wide items are shared among them). An item for
    a school not among them, or a programme-wide item with no schools, raises ValueError.
    """
    if years < 1:
        raise ValueError("years must be at least 1.")
    school_by_urn = index_by_urn(schools, "schools")
    urns = sorted(school_by_urn)
    # (urn, recurrence) -> pounds; category totals kept apart so rounding never moves a penny.
    school_totals: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    category_totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    staff_hours = {ONE_OFF: Decimal(0), RECURRING: Decimal(0)}
    for item in items:
        cost = item.cost
        category_totals[item.category, item.recurrence] += cost
        if item.category == "staff_time" and item.hours is not None:
            staff_hours[item.recurrence] += item.hours
        if item.urn is not None:
            if item.urn not in school_by_urn:
                raise ValueError(
                    f"a cost item is for URN {item.urn}, which is not among the schools costed."
                )
            school_totals[item.urn, item.recurrence] += cost
        elif not urns:
            raise ValueError("a programme-wide cost item needs at least one school to share it.")
        else:
            for urn, share in _split_pennies(cost, urns).items():
                school_totals[urn, item.recurrence] += share

    def over_years(one_off: Decimal, recurring: Decimal) -> Decimal:
        return one_off + years * recurring

    by_category = {}
    for name in CATEGORIES:
        one_off, recurring = category_totals[name, ONE_OFF], category_totals[name, RECURRING]
        by_category[name] = CategoryCost(one_off, recurring, over_years(one_off, recurring))
    one_off = sum((c.one_off for c in by_category.values()), Decimal(0))
    recurring = sum((c.recurring for c in by_category.values()), Decimal(0))
    total = over_years(one_off, recurring)

    school_costs = []
    pupil_cost, pupils, target_cost, target_pupils = Decimal(0), 0, Decimal(0), 0
    for urn in urns:
        school = school_by_urn[urn]
        s_one_off, s_recurring = school_totals[urn, ONE_OFF], school_totals[urn, RECURRING]
        s_total = over_years(s_one_off, s_recurring)
        if school.pupils:
            pupil_cost, pupils = pupil_cost + s_total, pupils + school.pupils
        if school.target_pupils:
            target_cost, target_pupils = target_cost + s_total, target_pupils + school.target_pupils
        school_costs.append(
            SchoolCost(
                urn=urn,
                pupils=school.pupils,
                target_pupils=school.target_pupils,
                one_off=s_one_off,
                recurring=s_recurring,
                total_over_years=s_total,
                average_per_year=_pennies(s_total / years),
                per_pupil=_per(s_total / years, school.pupils or 0),
                per_target_pupil=_per(s_total / years, school.target_pupils or 0),
            )
        )
    return CostSummary(
        years=years,
        schools=len(urns),
        one_off=one_off,
        recurring=recurring,
        total_over_years=total,
        average_per_year=_pennies(total / years),
        by_category=by_category,
        per_school=_per(total / years, len(urns)),
        per_pupil=_per(pupil_cost / years, pupils),
        pupils=pupils,
        per_target_pupil=_per(target_cost / years, target_pupils),
        target_pupils=target_pupils,
        school_costs=school_costs,
        schools_without_pupils=[u for u in urns if not school_by_urn[u].pupils],
        schools_without_target_pupils=[u for u in urns if not school_by_urn[u].target_pupils],
        staff_hours=staff_hours,
    )
