"""The records the analytics reports read, as the other services give them: plain, frozen, small.

The service layer turns the recruitment, randomisation, workshops and surveys services' JSON into
these (``from_mapping`` where the JSON has more than is read) and passes them to `analytics.consort`,
`analytics.balance` and `analytics.costs`. Keeping them in one place means one school record serves
every report.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

__all__ = [
    "CONSENTED",
    "CONTROL",
    "ELIGIBLE",
    "INELIGIBLE",
    "INTERVENTION",
    "NOMINATED",
    "RANDOMISED",
    "STATUSES",
    "WITHDRAWN",
    "AllocationRecord",
    "ComplianceRecord",
    "PupilOutcome",
    "SchoolRecord",
    "TeacherPreScores",
    "TeacherRecord",
    "index_by_urn",
]

INTERVENTION, CONTROL = "intervention", "control"

# The recruitment service's school statuses (None: a GIAS school never nominated).
NOMINATED, ELIGIBLE, INELIGIBLE = "nominated", "eligible", "ineligible"
CONSENTED, RANDOMISED, WITHDRAWN = "consented", "randomised", "withdrawn"
STATUSES = frozenset({NOMINATED, ELIGIBLE, INELIGIBLE, CONSENTED, RANDOMISED, WITHDRAWN})


@dataclass(frozen=True, slots=True)
class SchoolRecord:
    """A school as the recruitment service records it: only the fields the reports read."""

    urn: int
    status: str | None
    la_code: str | None = None
    la_name: str | None = None
    arm: str | None = None
    eligible: bool | None = None
    eligibility_reasons: tuple[str, ...] = ()
    withdrawn_from_status: str | None = None
    withdrawal_reason: str | None = None
    pupils: int | None = None
    #: As GIAS writes it ("12.5"); parsed where it is used, so a bad value is counted as missing.
    percentage_fsm: str | None = None
    year56_social_worker_pupils: int | None = None
    year56_looked_after_pupils: int | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> SchoolRecord:
        """From the recruitment service's JSON for a school; keys not read here are ignored."""
        return cls(
            urn=int(data["urn"]),
            status=data.get("status"),
            la_code=data.get("la_code"),
            la_name=data.get("la_name"),
            arm=data.get("arm"),
            eligible=data.get("eligible"),
            eligibility_reasons=tuple(data.get("eligibility_reasons") or ()),
            withdrawn_from_status=data.get("withdrawn_from_status"),
            withdrawal_reason=data.get("withdrawal_reason"),
            pupils=data.get("pupils"),
            percentage_fsm=data.get("percentage_fsm"),
            year56_social_worker_pupils=data.get("year56_social_worker_pupils"),
            year56_looked_after_pupils=data.get("year56_looked_after_pupils"),
        )


@dataclass(frozen=True, slots=True)
class AllocationRecord:
    """A live allocation from the randomisation service (test-mode allocations never come here)."""

    urn: int
    arm: str
    la_code: str | None = None
    in_error: bool = False

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> AllocationRecord:
        return cls(
            urn=int(data["urn"]),
            arm=str(data["arm"]),
            la_code=data.get("la_code"),
            in_error=bool(data.get("in_error", False)),
        )


@dataclass(frozen=True, slots=True)
class ComplianceRecord:
    """Whether an intervention school met the frozen compliance rule, and why not if it did not."""

    urn: int
    complier: bool
    sessions_attended: int | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class TeacherRecord:
    """A member of staff at a school and which questionnaire rounds they answered."""

    urn: int
    consented: bool = True
    responded_pre: bool = False
    responded_post: bool = False


@dataclass(frozen=True, slots=True)
class PupilOutcome:
    """A Year 6 child in need (CIN) and/or looked after (LAC) and their KS2 scaled scores."""

    urn: int
    cin: bool
    lac: bool
    reading: float | None = None
    maths: float | None = None

    @property
    def has_reading(self) -> bool:
        return _present(self.reading)

    @property
    def has_maths(self) -> bool:
        return _present(self.maths)

    @property
    def has_outcome(self) -> bool:
        return self.has_reading or self.has_maths


def _present(value: float | None) -> bool:
    return value is not None and not math.isnan(value)


@dataclass(frozen=True, slots=True)
class TeacherPreScores:
    """A teacher's pre-round (October) questionnaire scale scores; None: scale not answered."""

    urn: int
    knowledge: float | None = None
    attitudes: float | None = None
    use: float | None = None


class _HasUrn(Protocol):
    @property
    def urn(self) -> int: ...


Record = TypeVar("Record", bound=_HasUrn)


def index_by_urn(records: Iterable[Record], what: str) -> dict[int, Record]:
    """One record per URN; a second record for a URN is a caller's bug (ValueError naming it)."""
    by_urn: dict[int, Record] = {}
    for record in records:
        if record.urn in by_urn:
            raise ValueError(f"{what}: URN {record.urn} appears more than once.")
        by_urn[record.urn] = record
    return by_urn
