"""Interval merging, matching participants to the schools' staff, and present/partial/absent."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from workshops.attendance_reports import AttendanceRow, ReportParticipant
from workshops.attendance_rules import (
    AttendanceThreshold,
    SchoolStaff,
    alias_key,
    attended_minutes,
    classify,
    email_key,
    match_attendees,
    merge_intervals,
    name_key,
    staff_attended_minutes,
)

T0 = datetime(2021, 11, 16, 15, 45)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


# --------------------------------------------------------------------------------------------------
# Intervals
# --------------------------------------------------------------------------------------------------


def test_overlapping_touching_nested_and_separate_intervals() -> None:
    intervals = [
        (at(100), at(150)),
        (at(0), at(30)),
        (at(30), at(40)),
        (at(10), at(20)),
        (at(60), at(70)),
    ]
    assert merge_intervals(intervals) == [(at(0), at(40)), (at(60), at(70)), (at(100), at(150))]
    assert attended_minutes(intervals) == 100


def test_two_devices_count_once() -> None:
    laptop, phone = (at(0), at(150)), (at(30), at(45))
    assert attended_minutes([laptop, phone]) == 150


def test_no_intervals_is_no_time_and_a_backwards_interval_is_refused() -> None:
    assert merge_intervals([]) == [] and attended_minutes([]) == 0
    with pytest.raises(ValueError, match="ends before it starts"):
        merge_intervals([(at(10), at(5))])


@given(st.lists(st.tuples(st.integers(0, 300), st.integers(0, 60)), max_size=15))
def test_merging_matches_counting_minute_by_minute(spans: list[tuple[int, int]]) -> None:
    intervals = [(at(start), at(start + length)) for start, length in spans]
    covered = {minute for start, length in spans for minute in range(start, start + length)}
    assert attended_minutes(intervals) == len(covered)
    merged = merge_intervals(intervals)
    # Sorted, disjoint and not touching: nothing left to merge.
    assert all(
        a_end < b_start for (_, a_end), (b_start, _) in zip(merged, merged[1:], strict=False)
    )


# --------------------------------------------------------------------------------------------------
# Matching
# --------------------------------------------------------------------------------------------------

OAKFIELD, ELM, CONTROL = 100001, 100002, 200001
JANE = SchoolStaff(1, OAKFIELD, "designated_teacher", "Jane Smith", "Jane.Smith@Oakfield.sch.uk")
TOM = SchoolStaff(2, OAKFIELD, "english_subject_lead", "Thomas O'Brien", None)
ZOE = SchoolStaff(3, ELM, "maths_subject_lead", "Zoë Brontë-Hall", "zoe.bronte@elm.sch.uk")
SAM_A = SchoolStaff(4, OAKFIELD, "maths_subject_lead", "Sam Green", "office@oakfield.sch.uk")
SAM_B = SchoolStaff(5, ELM, "designated_teacher", "Sam Green", None)
ANA = SchoolStaff(6, OAKFIELD, "year5_teacher", "Ana Maria Díaz", "office@oakfield.sch.uk")
CONTROL_TEACHER = SchoolStaff(
    7, CONTROL, "designated_teacher", "Chris Jones", "c.jones@control.sch.uk"
)
COHORT = [JANE, TOM, ZOE, SAM_A, SAM_B, ANA]


@dataclass(frozen=True)
class Person:
    """What the service might rebuild from stored participants: anything with these fields."""

    name: str
    email: str | None = None
    original_name: str | None = None
    intervals: list[tuple[datetime, datetime]] = field(default_factory=list)


def _match(*people: Person, aliases: dict[str, int] | None = None):
    return match_attendees(people, staff=[CONTROL_TEACHER], cohort_staff=COHORT, aliases=aliases)


def _only_match(person: Person, **kwargs):
    result = _match(person, **kwargs)
    assert len(result.matched) == 1, result
    return result.matched[0]


@pytest.mark.parametrize(
    "email",
    [
        "jane.smith@oakfield.sch.uk",
        " JANE.SMITH@OAKFIELD.SCH.UK ",
        "mailto:Jane.Smith@oakfield.sch.uk",
        "Jane <jane.smith@oakfield.sch.uk>",
    ],
)
def test_email_matches_however_it_is_written(email: str) -> None:
    match = _only_match(Person("Some Other Name", email))
    assert (match.staff, match.method, match.outside_cohort) == (JANE, "email", False)


def test_an_email_outside_the_cohort_matches_but_is_flagged() -> None:
    match = _only_match(Person("Chris", "c.jones@control.sch.uk"))
    assert (match.staff, match.outside_cohort) == (CONTROL_TEACHER, True)


def test_a_display_name_that_is_an_address_is_used_as_one() -> None:
    assert _only_match(Person("zoe.bronte@elm.sch.uk")).staff == ZOE


@pytest.mark.parametrize(
    ("display", "method"),
    [
        ("Thomas O'Brien", "name"),
        ("  thomas   obrien ", "name"),
        ("Mr Thomas O\u2019Brien", "name"),
        ("O'Brien, Thomas", "name"),
        ("Dr. Thomas O'Brien (he/him)", "name"),
        ("OBrien Thomas", "name_any_order"),
    ],
)
def test_name_matching_forgives_case_spacing_titles_order_and_punctuation(
    display: str, method: str
) -> None:
    match = _only_match(Person(display))
    assert (match.staff, match.method) == (TOM, method)


def test_accents_and_a_middle_name() -> None:
    assert _only_match(Person("Zoe Bronte Hall", "zoe@gmail.example")).staff == ZOE
    match = _only_match(Person("Ana Diaz"))
    assert (match.staff, match.method) == (ANA, "first_and_last_name")


def test_zoom_original_name_is_tried_after_the_display_name() -> None:
    match = _only_match(Person("Tom", original_name="Thomas O'Brien"))
    assert (match.staff, match.method) == (TOM, "name")


def test_an_ambiguous_name_goes_to_review_with_its_candidates() -> None:
    result = _match(Person("Sam Green"))
    assert result.matched == ()
    (unmatched,) = result.unmatched
    assert unmatched.candidate_staff_ids == (4, 5)
    assert unmatched.reason == "the name fits 2 staff members of the cohort's schools equally"


def test_a_shared_office_address_is_settled_by_the_name() -> None:
    match = _only_match(Person("Sam Green", "office@oakfield.sch.uk"))
    assert (match.staff, match.method) == (SAM_A, "email_and_name")
    result = _match(Person("Oakfield Office", "office@oakfield.sch.uk"))
    assert result.unmatched[0].candidate_staff_ids == (4, 6)
    assert "address belongs to 2 staff members" in result.unmatched[0].reason


def test_names_are_not_matched_outside_the_cohort() -> None:
    result = _match(Person("Chris Jones"))
    assert result.matched == ()
    assert (
        result.unmatched[0].reason == "no address, and nobody in the cohort's schools has this name"
    )


def test_nobody_is_dropped_and_reasons_carry_no_personal_data() -> None:
    people = [
        Person("Jane Smith", "jane.smith@oakfield.sch.uk"),
        Person("iPad"),
        Person("Priya Patel", "priya@gmail.example"),
        Person("", None),
        Person("Sam Green"),
        Person("Tom", original_name="Thomas O'Brien"),
    ]
    result = _match(*people)
    assert len(result.matched) + len(result.unmatched) == len(people)
    placed = [m.participant for m in result.matched] + [u.participant for u in result.unmatched]
    assert sorted(map(id, placed)) == sorted(map(id, people))
    reasons = " ".join(u.reason for u in result.unmatched)
    for personal in ("iPad", "Priya", "Patel", "gmail", "Sam", "Green"):
        assert personal not in reasons
    assert [u.reason for u in result.unmatched if u.participant.name in ("Priya Patel", "")] == [
        "no staff member has this address, and nobody in the cohort's schools this name",
        "neither an address nor a name to go by",
    ]


def test_aliases_resolved_by_a_reviewer() -> None:
    aliases = {"Jane's iPad": 1, "Sam.G@Gmail.example": 5, "Ghost": 999}
    assert _only_match(Person("jane’s ipad"), aliases=aliases).method == "name_alias"
    match = _only_match(Person("Sam Green", "sam.g@gmail.example"), aliases=aliases)
    assert (match.staff, match.method) == (SAM_B, "email_alias")
    # An alias to a staff id nobody has any more is ignored, not an error.
    assert _match(Person("Ghost"), aliases=aliases).unmatched[0].participant.name == "Ghost"
    # A direct email match beats a name alias: the address is the stronger evidence.
    match = _only_match(Person("Jane's iPad", "zoe.bronte@elm.sch.uk"), aliases=aliases)
    assert (match.staff, match.method) == (ZOE, "email")


def test_normalised_keys() -> None:
    assert name_key("Mrs  Zoë O'Brien-Hall") == "zoe obrien hall"
    assert name_key("Smith, Jane [Year 5]") == "jane smith"
    assert name_key("Miss") == "miss"  # a name that is only a title keeps it
    assert email_key("Jane <Jane.Smith@Oakfield.SCH.uk>") == "jane.smith@oakfield.sch.uk"
    assert (
        email_key("not an address") is None
        and email_key("a@@b") is None
        and email_key(None) is None
    )
    assert alias_key(" JANE.smith@oakfield.sch.uk") == "email:jane.smith@oakfield.sch.uk"
    assert alias_key("Dr Jane  SMITH") == "name:jane smith"


def test_report_participants_match_and_two_devices_are_counted_once() -> None:
    def participant(name: str, email: str | None, *spans: tuple[float, float]) -> ReportParticipant:
        rows = tuple(
            AttendanceRow(line=2 + n, joined_at=at(a), left_at=at(b))
            for n, (a, b) in enumerate(spans)
        )
        return ReportParticipant(name=name, email=email, rows=rows)

    laptop = participant("Jane Smith", "jane.smith@oakfield.sch.uk", (0, 60), (70, 150))
    phone = participant("Jane's phone", None, (50, 80))
    result = match_attendees(
        [laptop, phone], staff=[], cohort_staff=COHORT, aliases={"Jane's phone": 1}
    )
    assert [m.staff.staff_id for m in result.matched] == [1, 1]
    assert staff_attended_minutes(result.matched) == {1: 150}


# --------------------------------------------------------------------------------------------------
# Present, partial, absent
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes", "status"),
    [
        (150, "present"),
        (112.5, "present"),
        (112.4, "partial"),
        (0.2, "partial"),
        (0, "absent"),
        (200, "present"),
    ],
)
def test_default_threshold_is_three_quarters_of_the_session(minutes: float, status: str) -> None:
    assert classify(minutes, session_minutes=150, threshold=AttendanceThreshold()) == status


def test_a_threshold_in_minutes() -> None:
    two_hours = AttendanceThreshold(kind="minutes", value=120)
    assert classify(120, session_minutes=150, threshold=two_hours) == "present"
    assert classify(119, session_minutes=150, threshold=two_hours) == "partial"
    # Longer than the 90-minute intro: the whole session is asked for.
    assert classify(90, session_minutes=90, threshold=two_hours) == "present"
    assert classify(89, session_minutes=90, threshold=two_hours) == "partial"
    assert (
        two_hours.describe() == "120 minutes"
        and AttendanceThreshold().describe() == "75% of the session"
    )


def test_share_thresholds_survive_float_arithmetic() -> None:
    # 0.7 * 90 is 62.99999999999999 in floating point; 63 minutes is present.
    assert classify(63, session_minutes=90, threshold=AttendanceThreshold(value=0.7)) == "present"


def test_invalid_thresholds_and_inputs() -> None:
    with pytest.raises(ValidationError, match="at most 1"):
        AttendanceThreshold(value=1.5)
    with pytest.raises(ValidationError):
        AttendanceThreshold(kind="minutes", value=0)
    with pytest.raises(ValidationError):
        AttendanceThreshold(kind="hours", value=2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="more than zero minutes"):
        classify(10, session_minutes=0, threshold=AttendanceThreshold())
    with pytest.raises(ValueError, match="cannot be negative"):
        classify(-1, session_minutes=150, threshold=AttendanceThreshold())


def test_reprs_show_no_names_or_addresses() -> None:
    """A participant or staff record that reaches a log line or a test report shows no one."""
    row = AttendanceRow(line=2, joined_at=at(0), left_at=at(10))
    participant = ReportParticipant(
        name="Jane Smith", email="jane@oak.sch.uk", rows=(row,), original_name="J S"
    )
    result = match_attendees([participant], staff=[], cohort_staff=[JANE])
    for value in (participant, JANE, result):
        assert not any(word in repr(value) for word in ("Jane", "Smith", "oak", "J S"))
    assert "staff_id=1" in repr(JANE) and "line=2" in repr(participant)
