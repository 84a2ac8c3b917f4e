"""The compliance rule: its frozen form, and its verdicts on the edges the protocol leaves open."""

from __future__ import annotations

import hashlib
import time

import pytest
from pydantic import ValidationError

from workshops.attendance_rules import AttendanceThreshold
from workshops.compliance import AttendanceRecord, ComplianceRule, StandIn, evaluate
from workshops.programme_defaults import SESSION_KEYS, WORKSHOP_KEYS

URN = 100001
DT, EN, MA, Y5 = "designated_teacher", "english_subject_lead", "maths_subject_lead", "year5_teacher"
STAFF = {DT: 11, EN: 12, MA: 13, Y5: 14}


def records(
    role: str, *workshops: int, status: str = "present", urn: int = URN, **kwargs
) -> list[AttendanceRecord]:
    return [
        AttendanceRecord(
            urn=urn,
            staff_id=STAFF[role],
            role=role,
            session=f"workshop_{n}",
            status=status,
            minutes=150.0,
            **kwargs,
        )  # type: ignore[arg-type]
        for n in workshops
    ]


def verdict(recs: list[AttendanceRecord], rule: ComplianceRule | None = None):
    return evaluate(rule or ComplianceRule(), recs)[URN]


# --------------------------------------------------------------------------------------------------
# The rule
# --------------------------------------------------------------------------------------------------


def test_defaults_read_the_protocol_literally() -> None:
    rule = ComplianceRule()
    assert rule.qualifying_roles == (DT, EN, MA)
    assert rule.counted_sessions == WORKSHOP_KEYS
    assert (rule.minimum, rule.counted_per, rule.stand_ins_count) == (4, "person", True)
    assert rule.counted_statuses == ("present",)
    assert rule.attendance_threshold == AttendanceThreshold(kind="share", value=0.75)


def test_canonical_json_and_fingerprint() -> None:
    rule = ComplianceRule()
    expected = (
        '{"attendance_threshold":{"kind":"share","value":0.75},"counted_per":"person",'
        '"counted_sessions":["workshop_1","workshop_2","workshop_3","workshop_4","workshop_5","workshop_6"],'
        '"counted_statuses":["present"],"minimum":4,'
        '"qualifying_roles":["designated_teacher","english_subject_lead","maths_subject_lead"],'
        '"stand_ins_count":true}'
    )
    assert rule.canonical_json() == expected
    assert rule.fingerprint() == "sha256:" + hashlib.sha256(expected.encode()).hexdigest()
    # The same rule written in another order, with repeats, is the same rule.
    shuffled = ComplianceRule(
        qualifying_roles=(MA, DT, EN, DT),
        counted_sessions=tuple(reversed(WORKSHOP_KEYS)),
        counted_statuses=("present", "present"),
    )
    assert shuffled.fingerprint() == rule.fingerprint()
    assert ComplianceRule(minimum=3).fingerprint() != rule.fingerprint()
    assert ComplianceRule(counted_per="school").fingerprint() != rule.fingerprint()
    threshold = AttendanceThreshold(kind="minutes", value=120)
    assert ComplianceRule(attendance_threshold=threshold).fingerprint() != rule.fingerprint()
    assert ComplianceRule.model_validate_json(rule.canonical_json()) == rule


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"counted_sessions": ("workshop_7",)}, "unknown sessions workshop_7"),
        ({"minimum": 7}, "more than the 6 counted sessions"),
        ({"minimum": 0}, "greater than or equal to 1"),
        ({"counted_statuses": ("partial",)}, "'present' always counts"),
        ({"counted_statuses": ("absent",)}, "present"),
        ({"qualifying_roles": ()}, "at least 1 item"),
        ({"qualifying_roles": (" ",)}, "a qualifying role is empty"),
        ({"counted_per": "cohort"}, "'person' or 'school'"),
        ({"grace": 1}, "Extra inputs are not permitted"),
    ],
)
def test_an_unworkable_rule_is_refused(fields: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ComplianceRule(**fields)


def test_a_frozen_rule_cannot_be_edited() -> None:
    with pytest.raises(ValidationError):
        ComplianceRule().minimum = 3  # type: ignore[misc]


# --------------------------------------------------------------------------------------------------
# The edges
# --------------------------------------------------------------------------------------------------


def test_exactly_four_of_six_is_a_complier() -> None:
    result = verdict(records(DT, 1, 2, 4, 6))
    assert result.complier
    assert (result.best_person_sessions, result.best_person_role, result.school_sessions) == (
        4,
        DT,
        4,
    )
    assert result.reason == (
        "Complier: one designated teacher attended 4 of the 6 workshops; the rule needs 4 by one person."
    )


def test_three_of_six_is_not() -> None:
    result = verdict(records(EN, 1, 2, 3))
    assert not result.complier
    assert result.reason == (
        "Not a complier: the most workshops one qualifying person attended is 3 (an English "
        "subject lead); the rule needs 4 by one person."
    )


def test_dt_and_a_subject_lead_at_different_workshops_per_person_and_per_school() -> None:
    recs = records(DT, 1, 2) + records(MA, 3, 4)
    per_person = verdict(recs)
    assert not per_person.complier
    assert (per_person.best_person_sessions, per_person.school_sessions) == (2, 4)
    assert per_person.reason.endswith(
        "Qualifying staff attended 4 between them, which would count only per school."
    )
    per_school = verdict(recs, ComplianceRule(counted_per="school"))
    assert per_school.complier
    assert per_school.reason == (
        "Complier: qualifying staff attended 4 of the 6 workshops between them; the rule needs 4, "
        "counted per school."
    )
    # At the same two workshops, they cover only two between them.
    assert not verdict(
        records(DT, 1, 2) + records(MA, 1, 2), ComplianceRule(counted_per="school")
    ).complier


def test_a_stand_in_counts_for_the_person_stood_in_for() -> None:
    for_dt = StandIn(staff_id=STAFF[DT], role=DT)
    recs = records(DT, 1, 2) + records(Y5, 3, 4, stands_in_for=for_dt)
    result = verdict(recs)
    assert result.complier and result.stand_in_sessions == 2
    assert result.sessions_by_role == {DT: 4}
    assert "4 of the 6 workshops, 2 of them through a stand-in" in result.reason
    # A stand-in at a workshop the Designated Teacher also attended adds nothing.
    overlap = verdict(records(DT, 1, 2, 3) + records(Y5, 3, stands_in_for=for_dt))
    assert (overlap.best_person_sessions, overlap.stand_in_sessions) == (3, 0)
    per_school = verdict(recs, ComplianceRule(counted_per="school"))
    assert per_school.reason == (
        "Complier: qualifying staff attended 4 of the 6 workshops between them, 2 of them only "
        "through stand-ins; the rule needs 4, counted per school."
    )
    # Not counting stand-ins, the Year 5 teacher's attendance is theirs, and does not qualify.
    strict = verdict(recs, ComplianceRule(stand_ins_count=False))
    assert not strict.complier and strict.stand_in_sessions == 0
    assert strict.sessions_by_role == {DT: 2, Y5: 2}


def test_a_subject_lead_standing_in_still_counts_as_themselves_when_stand_ins_do_not() -> None:
    recs = records(EN, 1, 2, 3, 4, stands_in_for=StandIn(staff_id=STAFF[DT], role=DT))
    assert verdict(recs, ComplianceRule(stand_ins_count=False)).best_person_role == EN
    assert verdict(recs).best_person_role == DT


def test_partial_attendance_counts_only_when_the_rule_says_so() -> None:
    recs = records(DT, 1, 2, 3) + records(DT, 4, status="partial")
    assert not verdict(recs).complier
    assert verdict(recs).workshops_attended == 3
    lenient = verdict(recs, ComplianceRule(counted_statuses=("present", "partial")))
    assert lenient.complier and lenient.workshops_attended == 4
    assert lenient.reason == (
        "Complier: one designated teacher attended 4 of the 6 workshops (partial attendance "
        "counts); the rule needs 4 by one person."
    )


def test_a_non_qualifying_role_attending_everything_does_not_comply() -> None:
    recs = records(Y5, 1, 2, 3, 4, 5, 6) + [
        AttendanceRecord(URN, STAFF[Y5], Y5, key, "present", 90.0)
        for key in ("intro", "moving_forward")
    ]
    result = verdict(recs)
    assert not result.complier
    assert (result.workshops_attended, result.sessions_attended) == (6, 8)
    assert result.sessions_by_role == {Y5: 6}
    assert (result.best_person_sessions, result.best_person_role, result.school_sessions) == (
        0,
        None,
        0,
    )
    assert result.reason == (
        "Not a complier: no qualifying staff (designated teacher, English subject lead, maths "
        "subject lead) attended any of the 6 workshops. Roles the rule does not count attended "
        "some (Year 5 teacher: 6)."
    )


def test_counts_minutes_and_sessions_over_the_whole_programme() -> None:
    recs = [
        AttendanceRecord(URN, STAFF[DT], DT, "intro", "present", 90.0),
        AttendanceRecord(URN, STAFF[EN], EN, "intro", "partial", 30.0),
        AttendanceRecord(URN, STAFF[DT], DT, "workshop_1", "present", 150.0),
        # The same workshop at another cohort's sitting: still one workshop.
        AttendanceRecord(URN, STAFF[DT], DT, "workshop_1", "present", 140.0),
        AttendanceRecord(URN, STAFF[MA], MA, "workshop_2", "absent", 0.0),
        AttendanceRecord(URN, STAFF[MA], MA, "moving_forward", "present", 150.0),
    ]
    result = verdict(recs)
    assert (result.workshops_attended, result.sessions_attended) == (1, 3)
    assert result.minutes == 560.0
    assert result.minutes_by_session == {
        "intro": 120.0,
        "workshop_1": 290.0,
        "workshop_2": 0.0,
        "moving_forward": 150.0,
    }
    assert result.sessions_by_role == {DT: 1}
    assert list(result.minutes_by_session) == [
        k for k in SESSION_KEYS if k in result.minutes_by_session
    ]


def test_counting_all_eight_sessions() -> None:
    rule = ComplianceRule(counted_sessions=SESSION_KEYS, minimum=6)
    recs = records(DT, 1, 2, 3, 4, 5) + [
        AttendanceRecord(URN, STAFF[DT], DT, "intro", "present", 90.0)
    ]
    result = verdict(recs, rule)
    assert result.complier and "6 of the 8 counted sessions" in result.reason


def test_schools_without_records_are_non_compliers_and_others_are_kept_apart() -> None:
    recs = records(DT, 1, 2, 3, 4) + records(DT, 1, urn=100002)
    results = evaluate(ComplianceRule(), recs, schools=[100003, URN])
    assert list(results) == [URN, 100002, 100003]
    assert [r.complier for r in results.values()] == [True, False, False]
    empty = results[100003]
    assert (empty.minutes, empty.sessions_attended, empty.sessions_by_role) == (0.0, 0, {})
    assert empty.reason.startswith("Not a complier: no qualifying staff")


def test_ties_between_people_are_broken_by_staff_id() -> None:
    recs = records(MA, 1, 2) + records(DT, 3, 4) + records(EN, 5, 6)
    assert verdict(recs).best_person_role == DT  # staff 11: the lowest id of the three


def test_a_record_for_an_unknown_session_is_refused() -> None:
    bad = AttendanceRecord(URN, STAFF[DT], DT, "workshop 3", "present", 150.0)
    with pytest.raises(
        ValueError, match="attendance record 2 is for an unknown session 'workshop 3'"
    ):
        evaluate(ComplianceRule(), [*records(DT, 1), bad])


def test_a_thousand_schools_in_well_under_a_second() -> None:
    """1,000 schools x 8 sessions x 3 attendees = 24,000 records."""
    roles = (DT, EN, MA)
    statuses = ("present", "present", "partial", "absent")
    recs = [
        AttendanceRecord(urn, urn * 10 + i, roles[i], session, statuses[(urn + i + s) % 4], 100.0)  # type: ignore[arg-type]
        for urn in range(100_000, 101_000)
        for s, session in enumerate(SESSION_KEYS)
        for i in range(3)
    ]
    started = time.perf_counter()
    results = evaluate(ComplianceRule(), recs)
    elapsed = time.perf_counter() - started
    assert len(results) == 1000
    assert elapsed < 1.0, f"{elapsed:.3f} s"
    # The same verdicts counted the slow, obvious way.
    for urn, result in results.items():
        best = max(
            sum(statuses[(urn + i + s) % 4] == "present" for s in range(1, 7)) for i in range(3)
        )
        assert (result.best_person_sessions, result.complier) == (best, best >= 4)
    assert {r.complier for r in results.values()} == {True, False}
    assert all(r.complier for r in evaluate(ComplianceRule(counted_per="school"), recs).values())
