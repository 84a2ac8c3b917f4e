"""Who can take part in the trial: pure rules over GIAS data and the Virtual School's counts.

No I/O and no database, so the rules can be tested, and explained, on their own. Every decision
carries human-readable reasons: the rules that failed, or, for an eligible school, the rules it met.

Decisions taken here (confirm with the trial team if in doubt):
- Only the phases Primary, Middle deemed primary and All-through are in scope. A school whose GIAS
  phase is "Not applicable" (special schools, pupil referral units, most independent schools) is
  out of scope even when its age range covers Years 5 and 6: the trial is for mainstream schools
  with a Year 5/6 cohort, and GIAS's phase is the recorded fact we can rely on.
- "Includes Year 5/6" means both years: StatutoryLowAge <= 9 (pupils start Year 5 aged 9) and
  StatutoryHighAge >= 11 (they leave Year 6 aged 11). An unknown age is not held against a school.
- The establishment type is not a rule of its own; it only makes the phase reason more specific.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ELIGIBLE_PHASES",
    "OPEN_STATUSES",
    "YEAR_5_START_AGE",
    "YEAR_6_LEAVING_AGE",
    "EligibilityDecision",
    "assess_eligibility",
    "phase_is_eligible",
    "status_is_open",
]

OPEN_STATUSES: frozenset[str] = frozenset({"Open", "Open, but proposed to close"})
ELIGIBLE_PHASES: frozenset[str] = frozenset({"Primary", "Middle deemed primary", "All-through"})
YEAR_5_START_AGE = 9
YEAR_6_LEAVING_AGE = 11

NO_SOCIAL_WORKER_COUNT = (
    "Virtual School has not entered the number of Year 5/6 pupils with a social worker in the "
    "last six years"
)


def _key(value: str) -> str:
    # GIAS is consistent, but values typed or pasted by people are not.
    return " ".join(value.split()).casefold()


_OPEN_KEYS = frozenset(map(_key, OPEN_STATUSES))
_PHASE_KEYS = frozenset(map(_key, ELIGIBLE_PHASES))


def status_is_open(status: str | None) -> bool:
    """GIAS status "Open" or "Open, but proposed to close" (case and spacing ignored)."""
    return status is not None and _key(status) in _OPEN_KEYS


def phase_is_eligible(phase: str | None) -> bool:
    """GIAS phase Primary, Middle deemed primary or All-through (case and spacing ignored)."""
    return phase is not None and _key(phase) in _PHASE_KEYS


@dataclass(frozen=True, slots=True)
class EligibilityDecision:
    eligible: bool
    reasons: list[str]
    looked_after_flag: bool


def _pupils(n: int) -> str:
    return f"{n} Year 5/6 pupil{'s' if n != 1 else ''}"


def _check_count(name: str, value: int | None) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{name} cannot be negative (got {value})")


def assess_eligibility(
    *,
    phase: str | None,
    status: str | None,
    establishment_type: str | None,
    low_age: int | None,
    high_age: int | None,
    year56_social_worker_pupils: int | None,
    year56_looked_after_pupils: int | None,
) -> EligibilityDecision:
    """Apply every rule and say why. Negative counts are a caller's bug and raise ValueError."""
    _check_count("year56_social_worker_pupils", year56_social_worker_pupils)
    _check_count("year56_looked_after_pupils", year56_looked_after_pupils)
    met: list[str] = []
    failed: list[str] = []

    # 1. Open.
    if status_is_open(status):
        met.append(f"The school is open (GIAS status '{status}').")
    elif not status or not status.strip():
        failed.append("GIAS does not record whether the school is open.")
    else:
        failed.append(
            f"The school is not open (GIAS status '{status}'); only 'Open' and "
            "'Open, but proposed to close' schools can take part."
        )

    # 2. Phase.
    if phase_is_eligible(phase):
        met.append(
            f"Its phase, '{phase}', is in scope (Primary, Middle deemed primary, All-through)."
        )
    elif not phase or not phase.strip():
        failed.append("GIAS does not record the school's phase of education.")
    elif _key(phase) == "not applicable":
        kind = f" ({establishment_type})" if establishment_type else ""
        failed.append(
            f"Its GIAS phase is 'Not applicable'{kind}: special schools, pupil referral units and "
            "other schools without a phase are not in scope, even if their ages cover Year 5/6."
        )
    else:
        failed.append(
            f"Its phase, '{phase}', is not in scope: only Primary, Middle deemed primary and "
            "All-through schools can take part."
        )

    # 3. Ages cover Years 5 and 6, as far as GIAS records them.
    low_ok = low_age is None or low_age <= YEAR_5_START_AGE
    high_ok = high_age is None or high_age >= YEAR_6_LEAVING_AGE
    shown = f"{'?' if low_age is None else low_age}–{'?' if high_age is None else high_age}"
    if low_age is None and high_age is None:
        met.append("GIAS does not record its age range, so Year 5/6 was not checked against it.")
    elif low_ok and high_ok:
        met.append(f"Its age range ({shown}) includes Year 5 and Year 6 (ages 9 to 11).")
    else:
        missing = " and ".join(y for y, ok in (("Year 5", low_ok), ("Year 6", high_ok)) if not ok)
        failed.append(
            f"Its age range ({shown}) does not include {missing}; the trial needs pupils aged "
            "9 to 11 (Years 5 and 6)."
        )

    # 4. At least one Year 5/6 pupil with a social worker (the trial's target group).
    sw = year56_social_worker_pupils
    if sw is None:
        failed.append(NO_SOCIAL_WORKER_COUNT + ".")
    elif sw == 0:
        failed.append(
            "The Virtual School reports no Year 5/6 pupils with a social worker in the last six "
            "years; at least one is needed."
        )
    else:
        met.append(
            f"The Virtual School reports {_pupils(sw)} with a social worker in the last six years."
        )

    # 5. Looked-after pupils: ideally at least one, never a condition. Noted for eligible schools.
    la = year56_looked_after_pupils
    looked_after = la is not None and la >= 1
    if la is None:
        met.append(
            "The Virtual School has not entered the number of looked-after Year 5/6 pupils "
            "(ideally at least one; not required)."
        )
    elif looked_after:
        met.append(
            f"The Virtual School reports {_pupils(la)} looked after (ideally at least one: met)."
        )
    else:
        met.append(
            "The Virtual School reports no looked-after Year 5/6 pupils (ideally at least one; "
            "not required)."
        )

    if failed:
        return EligibilityDecision(eligible=False, reasons=failed, looked_after_flag=looked_after)
    return EligibilityDecision(eligible=True, reasons=met, looked_after_flag=looked_after)
