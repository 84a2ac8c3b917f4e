"""The contamination guard: which schools may take the programme.

Only a school allocated to ``intervention`` by an executed live run, whose allocation is not
marked in error, that has not withdrawn, and that belongs to the cohort's local authority. Pure
decisions over what the two other services answered; the refusals say why, by the rule that
refused (``reason``), so that a person knows what to do next.
"""

from __future__ import annotations

from typing import Any

from workshops.errors import EnrolmentRefused


def check_allocation(urn: int, allocation: dict[str, Any] | None) -> dict[str, Any]:
    """The allocation if it admits the school, else the refusal."""
    if allocation is None:
        raise EnrolmentRefused(
            f"School {urn} has no live allocation: it has not been randomised, or its run is "
            "not executed yet. Only schools allocated to intervention can join a cohort.",
            urn=urn,
            reason="unallocated",
        )
    run_id = allocation.get("run_id")
    if allocation.get("in_error"):
        why = allocation.get("in_error_reason")
        raise EnrolmentRefused(
            f"School {urn}'s allocation (run {run_id}) is marked as made in error"
            + (f" ({why})" if why else "")
            + "; it cannot be enrolled while that stands. A trial manager decides what happens "
            "to the school.",
            urn=urn,
            reason="in_error",
            run_id=run_id,
        )
    if allocation.get("test"):
        raise EnrolmentRefused(
            f"School {urn}'s allocation is from a test run; only live allocations count.",
            urn=urn,
            reason="unallocated",
            run_id=run_id,
        )
    arm = allocation.get("arm")
    if arm != "intervention":
        raise EnrolmentRefused(
            f"School {urn} is allocated to the {arm} arm (run {run_id}); only intervention "
            "schools take the programme, and enrolling it would contaminate the comparison.",
            urn=urn,
            reason="control",
            arm=arm,
            run_id=run_id,
        )
    return allocation


def check_school(urn: int, school: dict[str, Any] | None, *, cohort_la_code: str) -> dict[str, Any]:
    """The recruitment record if it admits the school, else the refusal."""
    if school is None:
        raise EnrolmentRefused(
            f"The recruitment service does not know school {urn}, although it is allocated; "
            "ask a trial manager to check the school's record.",
            urn=urn,
            reason="unknown_school",
        )
    if school.get("status") == "withdrawn" or school.get("withdrawn_on"):
        on = school.get("withdrawn_on")
        raise EnrolmentRefused(
            f"School {urn} has withdrawn from the trial"
            + (f" (on {on})" if on else "")
            + "; a withdrawn school is not enrolled.",
            urn=urn,
            reason="withdrawn",
        )
    if school.get("la_code") != cohort_la_code:
        raise EnrolmentRefused(
            f"School {urn} is in local authority {school.get('la_code')}, but this cohort is "
            f"for {cohort_la_code}; enrol it in a cohort of its own local authority.",
            urn=urn,
            reason="other_la",
        )
    return school
