"""The CONSORT flow: hand-built trials with known boxes, the partition check, and odd records."""

import json
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.consort import (
    AllocationRecord,
    ComplianceRecord,
    FlowInconsistent,
    PupilOutcome,
    SchoolRecord,
    TeacherRecord,
    check_partition,
    consort_flow,
)

NOT_OPEN = "The school is not open."
NO_CIN = "No Year 5/6 pupils with a social worker."


def trial() -> dict:
    """Thirteen assessed schools, one in (nearly) every box, and one never nominated."""
    schools = [
        SchoolRecord(1001, "nominated"),
        SchoolRecord(1002, "ineligible", eligible=False, eligibility_reasons=(NOT_OPEN, NO_CIN)),
        SchoolRecord(1003, "ineligible", eligible=False, eligibility_reasons=(NO_CIN,)),
        SchoolRecord(1004, "eligible", eligible=True),
        SchoolRecord(
            1005, "withdrawn", withdrawn_from_status="consented", withdrawal_reason="Capacity"
        ),
        SchoolRecord(
            1006,
            "withdrawn",
            eligible=False,
            eligibility_reasons=(NOT_OPEN,),
            withdrawn_from_status="ineligible",
            withdrawal_reason="Closing",
        ),
        SchoolRecord(1007, "consented"),
        SchoolRecord(2001, "randomised", arm="intervention"),
        SchoolRecord(2002, "randomised", arm="intervention"),
        SchoolRecord(
            2003,
            "withdrawn",
            arm="intervention",
            withdrawn_from_status="randomised",
            withdrawal_reason="Head teacher left",
        ),
        SchoolRecord(2004, "randomised", arm="control"),
        SchoolRecord(2005, "randomised", arm="control"),
        SchoolRecord(2006, "randomised", arm="control"),
        SchoolRecord(9999, None),
    ]
    allocations = [
        AllocationRecord(2001, "intervention"),
        AllocationRecord(2002, "intervention"),
        AllocationRecord(2003, "intervention"),
        AllocationRecord(2004, "control"),
        AllocationRecord(2005, "control"),
        AllocationRecord(2006, "control", in_error=True),
    ]
    compliance = [
        ComplianceRecord(2001, complier=True, sessions_attended=8),
        ComplianceRecord(2002, complier=False, sessions_attended=3, reason="Attended 3 sessions"),
    ]
    teachers = [
        TeacherRecord(2001, responded_pre=True, responded_post=True),
        TeacherRecord(2001, responded_pre=True),
        TeacherRecord(2002, responded_post=True),
        TeacherRecord(2004, responded_pre=True, responded_post=True),
        TeacherRecord(2004, consented=False),
        TeacherRecord(1007, responded_pre=True),  # consented school, not randomised
    ]
    pupils = [
        PupilOutcome(2001, cin=True, lac=False, reading=101.0, maths=99.0),
        PupilOutcome(2001, cin=True, lac=True, reading=None, maths=104.0),
        PupilOutcome(2002, cin=False, lac=True, reading=97.0),
        PupilOutcome(2004, cin=True, lac=False, reading=100.0, maths=float("nan")),
        PupilOutcome(2005, cin=True, lac=False),  # no score: no outcome
        PupilOutcome(2006, cin=True, lac=False, reading=110.0),  # allocation in error
    ]
    return {
        "schools": schools,
        "allocations": allocations,
        "compliance": compliance,
        "teachers": teachers,
        "pupils": pupils,
        "icc": {"reading": 0.08, "maths": 0.1},
    }


def test_the_boxes_of_a_hand_built_trial() -> None:
    flow = consort_flow(**trial())

    assert flow.assessed.count == 13 and 9999 not in flow.assessed.urns
    excluded = flow.excluded
    assert sorted(excluded.ineligible.urns) == [1002, 1003, 1006]
    assert dict(excluded.ineligible.reasons) == {NOT_OPEN: 2, NO_CIN: 2}
    assert excluded.did_not_consent.urns == [1004]
    assert excluded.withdrew.urns == [1005]
    assert dict(excluded.withdrew.reasons) == {"Capacity": 1}
    assert sorted(excluded.awaiting.urns) == [1001, 1007]
    assert dict(excluded.awaiting.reasons) == {
        "awaiting the eligibility decision": 1,
        "consented, awaiting randomisation": 1,
    }
    assert excluded.total == 7
    assert flow.randomised.count == 6

    intervention, control = flow.arms["intervention"], flow.arms["control"]
    assert list(flow.arms) == ["intervention", "control"]
    assert sorted(intervention.allocated.urns) == [2001, 2002, 2003]
    assert intervention.received is not None
    assert intervention.received.received.urns == [2001]
    assert intervention.received.not_received.urns == [2002]
    assert dict(intervention.received.not_received.reasons) == {"Attended 3 sessions": 1}
    # 2003 withdrew and has no compliance record: not known, not guessed.
    assert intervention.received.unknown.urns == [2003]
    assert control.received is None

    assert intervention.lost_to_follow_up.urns == [2003]
    assert dict(intervention.lost_to_follow_up.reasons) == {"Head teacher left": 1}
    assert sorted(intervention.analysed.urns) == [2001, 2002]
    assert control.analysed.urns == [2004]
    assert dict(control.excluded_from_analysis.reasons) == {
        "no pupil outcome data": 1,
        "allocation in error": 1,
    }
    assert sorted(control.excluded_from_analysis.urns) == [2005, 2006]
    assert flow.missing_inputs == []
    assert flow.icc == {"reading": 0.08, "maths": 0.1}


def test_every_assessed_school_is_in_exactly_one_terminal_box() -> None:
    flow = consort_flow(**trial())
    boxes = flow.terminal_boxes()
    seen = Counter(urn for box in boxes.values() for urn in box.urns)
    assert set(seen) == set(flow.assessed.urns)
    assert set(seen.values()) == {1}
    assert sum(box.count for box in boxes.values()) == flow.assessed.count == 13


def test_teachers_and_pupils_per_arm() -> None:
    flow = consort_flow(**trial())
    intervention, control = flow.arms["intervention"], flow.arms["control"]
    assert intervention.teachers is not None and control.teachers is not None
    assert (
        intervention.teachers.consented,
        intervention.teachers.responded_pre,
        intervention.teachers.responded_post,
        intervention.teachers.responded_both,
    ) == (3, 2, 2, 1)
    # The non-consented teacher is not counted; the one at an unrandomised school has no arm.
    assert (control.teachers.consented, control.teachers.responded_both) == (1, 1)

    assert intervention.pupils is not None and control.pupils is not None
    p = intervention.pupils
    assert (p.with_outcomes, p.cin_only, p.lac_only, p.cin_and_lac) == (3, 1, 1, 1)
    assert (p.with_reading, p.with_maths) == (2, 2)
    # 2005's pupil has no score, 2006's allocation was in error: only 2004's pupil counts.
    c = control.pupils
    assert (c.with_outcomes, c.cin_only, c.with_reading, c.with_maths) == (1, 1, 1, 0)


def test_a_school_withdrawn_after_randomisation_is_lost_to_follow_up_not_analysed() -> None:
    inputs = trial()
    # Even with an outcome for it, the withdrawn school is not counted as analysed.
    inputs["pupils"] = [*inputs["pupils"], PupilOutcome(2003, cin=True, lac=False, reading=95.0)]
    flow = consort_flow(**inputs)
    intervention = flow.arms["intervention"]
    assert 2003 in intervention.lost_to_follow_up.urns
    assert 2003 not in intervention.analysed.urns
    assert intervention.pupils is not None and intervention.pupils.with_outcomes == 3
    assert any("withdrew after randomisation" in w and "2003" in w for w in flow.warnings)


def test_a_withdrawal_recruitment_dates_before_randomisation_stays_in_its_arm() -> None:
    inputs = trial()
    # Withdrew from "consented" after the list was frozen, but randomisation allocated it.
    inputs["allocations"] = [*inputs["allocations"], AllocationRecord(1005, "control")]
    flow = consort_flow(**inputs)
    assert 1005 in flow.arms["control"].lost_to_follow_up.urns
    assert 1005 not in flow.excluded.withdrew.urns
    assert any("withdrawal before randomisation" in w and "1005" in w for w in flow.warnings)


def test_missing_inputs_are_named_and_their_boxes_wait() -> None:
    inputs = trial()
    flow = consort_flow(schools=inputs["schools"], allocations=inputs["allocations"])
    assert flow.missing_inputs == ["compliance", "teachers", "pupils", "icc"]
    intervention, control = flow.arms["intervention"], flow.arms["control"]
    assert intervention.received is not None
    assert sorted(intervention.received.unknown.urns) == [2001, 2002, 2003]
    assert intervention.teachers is None and intervention.pupils is None
    # Without outcomes nothing is analysed or excluded for want of data; in-error still is.
    assert sorted(intervention.analysis_pending.urns) == [2001, 2002]
    assert sorted(control.analysis_pending.urns) == [2004, 2005]
    assert control.excluded_from_analysis.urns == [2006]
    assert flow.icc is None
    check_partition(flow)


def test_without_allocations_recruitments_record_places_the_schools() -> None:
    flow = consort_flow(schools=trial()["schools"], allocations=None)
    assert "allocations" in flow.missing_inputs
    assert sorted(flow.arms["intervention"].allocated.urns) == [2001, 2002, 2003]
    assert sorted(flow.arms["control"].allocated.urns) == [2004, 2005, 2006]
    assert flow.warnings == []  # nothing to disagree with


def test_inconsistent_records_are_warnings_naming_the_urns() -> None:
    inputs = trial()
    inputs["allocations"] = [
        a
        for a in inputs["allocations"]
        if a.urn != 2005  # recruitment says randomised
    ] + [
        AllocationRecord(1004, "intervention"),  # recruitment: eligible, never consented
        AllocationRecord(3001, "control"),  # recruitment has never heard of it
    ]
    inputs["schools"] = [
        SchoolRecord(2004, "randomised", arm="intervention") if s.urn == 2004 else s
        for s in inputs["schools"]
    ]
    flow = consort_flow(**inputs)

    def warning(text: str) -> str:
        return next(w for w in flow.warnings if text in w)

    assert "1004" in warning("no consent")
    assert "3001" in warning("unknown to recruitment")
    assert "2005" in warning("has no allocation")
    assert "2004" in warning("Arm differs")
    # The allocation decides: 1004 and 3001 are randomised, 2004 is in control.
    assert 1004 in flow.arms["intervention"].allocated.urns
    assert 3001 in flow.arms["control"].allocated.urns and 3001 in flow.assessed.urns
    assert 2004 in flow.arms["control"].allocated.urns
    assert 2005 in flow.arms["control"].allocated.urns  # by recruitment's arm
    check_partition(flow)


def test_odd_teacher_compliance_and_pupil_records_are_warned_about() -> None:
    inputs = trial()
    inputs["teachers"] = [
        *inputs["teachers"],
        TeacherRecord(2005, consented=False, responded_pre=True),
    ]
    inputs["compliance"] = [*inputs["compliance"], ComplianceRecord(2004, complier=True)]
    inputs["pupils"] = [*inputs["pupils"], PupilOutcome(2004, cin=False, lac=False, reading=99.0)]
    flow = consort_flow(**inputs)
    assert any("without data-collection consent" in w and "2005" in w for w in flow.warnings)
    assert any("compliers although allocated to control" in w for w in flow.warnings)
    assert any("neither CIN nor LAC" in w and "2004" in w for w in flow.warnings)
    assert flow.arms["control"].pupils is not None
    assert flow.arms["control"].pupils.with_outcomes == 1


def test_while_consent_is_open_an_eligible_school_is_still_awaiting() -> None:
    flow = consort_flow(**trial(), consent_closed=False)
    assert flow.excluded.did_not_consent.count == 0
    assert 1004 in flow.excluded.awaiting.urns
    assert flow.excluded.awaiting.reasons["eligible, awaiting consent"] == 1


def test_the_partition_check_fails_on_a_broken_flow() -> None:
    flow = consort_flow(**trial())
    flow.arms["control"].analysed.urns.append(2005)  # now in two boxes
    with pytest.raises(FlowInconsistent, match="in more than one box: 2005"):
        check_partition(flow)
    flow = consort_flow(**trial())
    flow.excluded.awaiting.urns.remove(1001)  # now in none
    with pytest.raises(FlowInconsistent, match="in no box: 1001"):
        check_partition(flow)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schools": [SchoolRecord(1, "eligible"), SchoolRecord(1, "nominated")]}, "more than"),
        ({"schools": [SchoolRecord(1, "enrolled")]}, "unknown status"),
        ({"icc": {"reading": 1.5}}, "between 0 and 1"),
        ({"icc": {"reading": float("nan")}}, "between 0 and 1"),
    ],
)
def test_caller_errors_raise(change: dict, message: str) -> None:
    inputs = {"schools": [SchoolRecord(1, "eligible")], "allocations": [], **change}
    with pytest.raises(ValueError, match=message):
        consort_flow(**inputs)


def test_to_dict_is_json_with_or_without_the_urns() -> None:
    flow = consort_flow(**trial())
    data = json.loads(json.dumps(flow.to_dict()))
    assert data["assessed"]["count"] == 13
    assert data["excluded"]["count"] == 7
    assert data["excluded"]["ineligible"]["reasons"] == [
        {"reason": NO_CIN, "count": 2},
        {"reason": NOT_OPEN, "count": 2},
    ]
    assert data["arms"]["control"]["received"] == "not applicable"
    assert data["arms"]["intervention"]["lost_to_follow_up"]["urns"] == [2003]
    assert data["arms"]["intervention"]["teachers"]["responded_both"] == 1
    assert data["icc"] == {"reading": 0.08, "maths": 0.1}
    bare = flow.to_dict(include_urns=False)
    assert "urns" not in bare["assessed"] and "urns" not in bare["arms"]["control"]["analysed"]


def test_records_from_the_services_json() -> None:
    school = SchoolRecord.from_mapping(
        {
            "urn": "1002",
            "status": "ineligible",
            "eligibility_reasons": None,
            "percentage_fsm": "12.5",
            "name": "not read",
        }
    )
    assert school.urn == 1002 and school.eligibility_reasons == ()
    assert school.percentage_fsm == "12.5"
    allocation = AllocationRecord.from_mapping({"urn": 7, "arm": "control", "in_error": True})
    assert allocation == AllocationRecord(7, "control", None, True)


STATUS_PATHS = [
    ("nominated", None, None),
    ("eligible", None, None),
    ("ineligible", None, None),
    ("consented", None, None),
    ("randomised", None, "intervention"),
    ("randomised", None, "control"),
    ("withdrawn", "nominated", None),
    ("withdrawn", "ineligible", None),
    ("withdrawn", "consented", None),
    ("withdrawn", "randomised", "control"),
    (None, None, None),
]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(STATUS_PATHS),
            st.sampled_from([None, "intervention", "control"]),  # the allocation, if any
            st.booleans(),  # in error
            st.booleans(),  # has an outcome
        ),
        max_size=40,
    )
)
def test_any_mix_of_records_partitions_the_assessed_schools(rows: list) -> None:
    schools, allocations, pupils = [], [], []
    for urn, ((status, from_status, arm), allocated, in_error, outcome) in enumerate(rows):
        schools.append(SchoolRecord(urn, status, arm=arm, withdrawn_from_status=from_status))
        if allocated:
            allocations.append(AllocationRecord(urn, allocated, in_error=in_error))
        if outcome:
            pupils.append(PupilOutcome(urn, cin=True, lac=False, reading=100.0))
    flow = consort_flow(schools=schools, allocations=allocations, pupils=pupils)
    assessed = {u for u, row in enumerate(rows) if row[0][0] is not None or row[1]}
    assert set(flow.assessed.urns) == assessed
    placed = [urn for box in flow.terminal_boxes().values() for urn in box.urns]
    assert sorted(placed) == sorted(assessed)
    assert flow.randomised.count == sum(a.allocated.count for a in flow.arms.values())
    assert set(flow.randomised.urns) >= {a.urn for a in allocations}
