"""The eligibility rules, one at a time, and their reasons."""

from __future__ import annotations

from typing import Any

import pytest

from recruitment.eligibility import (
    EligibilityDecision,
    assess_eligibility,
    phase_is_eligible,
    status_is_open,
)

ELIGIBLE: dict[str, Any] = {
    "phase": "Primary",
    "status": "Open",
    "establishment_type": "Community school",
    "low_age": 4,
    "high_age": 11,
    "year56_social_worker_pupils": 3,
    "year56_looked_after_pupils": 1,
}


def assess(**changes: Any) -> EligibilityDecision:
    return assess_eligibility(**(ELIGIBLE | changes))


def test_eligible_school_lists_why() -> None:
    decision = assess()
    assert decision.eligible and decision.looked_after_flag
    text = " | ".join(decision.reasons)
    assert "open (GIAS status 'Open')" in text
    assert "'Primary', is in scope" in text
    assert "age range (4–11) includes Year 5 and Year 6" in text
    assert "3 Year 5/6 pupils with a social worker" in text
    assert "reports 1 Year 5/6 pupil looked after (ideally at least one: met)" in text


# --- open --------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["Open", "Open, but proposed to close", " open "])
def test_open_statuses(status: str) -> None:
    assert assess(status=status).eligible
    assert status_is_open(status)


@pytest.mark.parametrize("status", ["Closed", "Proposed to open"])
def test_not_open(status: str) -> None:
    decision = assess(status=status)
    assert not decision.eligible
    assert decision.reasons == [
        f"The school is not open (GIAS status '{status}'); only 'Open' and "
        "'Open, but proposed to close' schools can take part."
    ]


@pytest.mark.parametrize("status", [None, "", "  "])
def test_status_unknown(status: str | None) -> None:
    decision = assess(status=status)
    assert not decision.eligible
    assert decision.reasons == ["GIAS does not record whether the school is open."]


# --- phase -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phase", "ages"),
    [("Primary", (4, 11)), ("All-through", (4, 18)), ("Middle deemed primary", (9, 13))],
)
def test_eligible_phases(phase: str, ages: tuple[int, int]) -> None:
    assert assess(phase=phase, low_age=ages[0], high_age=ages[1]).eligible
    assert phase_is_eligible(phase)


@pytest.mark.parametrize("phase", ["Secondary", "Middle deemed secondary", "16 plus", "Nursery"])
def test_ineligible_phases(phase: str) -> None:
    # Ages left at 4-11 so the phase is the only rule that fails.
    decision = assess(phase=phase)
    assert not decision.eligible
    assert decision.reasons == [
        f"Its phase, '{phase}', is not in scope: only Primary, Middle deemed primary and "
        "All-through schools can take part."
    ]


def test_not_applicable_phase_is_out_even_when_ages_cover_year_5_and_6() -> None:
    decision = assess(phase="Not applicable", establishment_type="Community special school")
    assert not decision.eligible
    [reason] = decision.reasons
    assert reason.startswith("Its GIAS phase is 'Not applicable' (Community special school)")


def test_phase_unknown() -> None:
    decision = assess(phase=None)
    assert decision.reasons == ["GIAS does not record the school's phase of education."]


# --- ages --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("low", "high", "missing"),
    [
        (4, 9, "Year 6"),  # a first school
        (4, 7, "Year 6"),  # an infant school
        (10, 13, "Year 5"),
        (11, 11, "Year 5"),
        (10, 10, "Year 5 and Year 6"),
        (None, 9, "Year 6"),
        (10, None, "Year 5"),
    ],
)
def test_age_range_must_include_year_5_and_6(
    low: int | None, high: int | None, missing: str
) -> None:
    decision = assess(low_age=low, high_age=high)
    assert not decision.eligible
    [reason] = decision.reasons
    assert f"does not include {missing};" in reason


@pytest.mark.parametrize(("low", "high"), [(7, 11), (9, 11), (3, 19), (None, 11), (4, None)])
def test_age_ranges_that_include_year_5_and_6(low: int | None, high: int | None) -> None:
    assert assess(low_age=low, high_age=high).eligible


def test_unknown_age_range_is_not_held_against_the_school() -> None:
    decision = assess(low_age=None, high_age=None)
    assert decision.eligible
    assert any("does not record its age range" in r for r in decision.reasons)


# --- Year 5/6 pupils with a social worker ------------------------------------------------------


def test_social_worker_count_not_entered() -> None:
    decision = assess(year56_social_worker_pupils=None)
    assert not decision.eligible
    assert decision.reasons == [
        "Virtual School has not entered the number of Year 5/6 pupils with a social worker in "
        "the last six years."
    ]


def test_no_pupils_with_a_social_worker() -> None:
    decision = assess(year56_social_worker_pupils=0)
    assert not decision.eligible
    [reason] = decision.reasons
    assert "no Year 5/6 pupils with a social worker" in reason and "at least one" in reason


def test_one_pupil_with_a_social_worker_is_enough() -> None:
    decision = assess(year56_social_worker_pupils=1)
    assert decision.eligible
    assert any("reports 1 Year 5/6 pupil with a social worker" in r for r in decision.reasons)


# --- looked-after pupils: ideally, never required ----------------------------------------------


@pytest.mark.parametrize(
    ("looked_after", "flag", "note"),
    [
        (2, True, "reports 2 Year 5/6 pupils looked after (ideally at least one: met)"),
        (0, False, "no looked-after Year 5/6 pupils (ideally at least one; not required)"),
        (None, False, "has not entered the number of looked-after Year 5/6 pupils"),
    ],
)
def test_looked_after_flag_is_noted_not_required(
    looked_after: int | None, flag: bool, note: str
) -> None:
    decision = assess(year56_looked_after_pupils=looked_after)
    assert decision.eligible
    assert decision.looked_after_flag is flag
    assert any(note in r for r in decision.reasons)


def test_looked_after_flag_is_set_on_an_ineligible_school_too() -> None:
    decision = assess(status="Closed", year56_looked_after_pupils=1)
    assert not decision.eligible and decision.looked_after_flag


# --- several failures, bad input ---------------------------------------------------------------


def test_each_failed_rule_adds_a_reason_and_only_failures_are_listed() -> None:
    decision = assess(
        status="Closed",
        phase="Secondary",
        low_age=11,
        high_age=16,
        year56_social_worker_pupils=None,
    )
    assert not decision.eligible
    assert len(decision.reasons) == 4
    assert [r.split()[0] for r in decision.reasons] == ["The", "Its", "Its", "Virtual"]


@pytest.mark.parametrize("field", ["year56_social_worker_pupils", "year56_looked_after_pupils"])
def test_negative_counts_are_a_bug(field: str) -> None:
    with pytest.raises(ValueError, match=f"{field} cannot be negative"):
        assess(**{field: -1})
