"""The report's parts on their own: which pupils an ITT model gets, what an entry says when its
subgroup is empty or a planned covariate is not in the file, and teachers counted from
pseudonymous responses and recruitment's consented staff."""

from __future__ import annotations

import io

from analytics.outcomes import validation
from analytics.report import impact
from analytics.report.inputs import teacher_records

ARMS = {
    100001: "intervention",
    100002: "control",
    100003: "intervention",
    100004: "control",
    100005: "pilot",
}


def _frame(rows: int = 40, lac: bool = False):
    body = b"pupil_id,urn,year_group,cin,lac,ks2_reading,ks2_maths,ks1_prior\r\n" + b"".join(
        f"p{i},{100001 + i % 5},6,1,{int(lac)},{90 + i % 20},{95 + i % 15},{10 + i % 5}\r\n".encode()
        for i in range(rows)
    )
    out = io.BytesIO()
    validation.parse_file(io.BytesIO(body), out=out)
    out.seek(0)
    frame = validation.read_normalised(out)
    return impact.pupil_frame(frame, arms=ARMS, strata=dict.fromkeys(ARMS, "202"))


def test_pupils_of_an_unknown_arm_are_left_out_and_named() -> None:
    data, warnings = _frame()
    assert set(data["urn"]) == {100001, 100002, 100003, 100004}
    assert warnings == [
        "Pupils of schools allocated to an arm other than intervention or control (not "
        "analysed): URN 100005."
    ]
    assert set(data.loc[data["urn"] == 100001, "treated"]) == {1.0}


def test_an_empty_subgroup_and_an_absent_covariate_are_missing_inputs() -> None:
    data, _ = _frame(lac=False)
    entry, fit = impact.itt_entry(
        data,
        outcome="ks2_reading",
        group="lac",
        covariates=["la", "ks1_prior"],
        convention="total_unconditional",
        missing=None,
    )
    assert (entry["status"], entry["message"]) == (
        "missing_input",
        "no LAC pupil has an analysable row",
    )
    assert fit is None and "result" not in entry
    entry, _ = impact.itt_entry(
        data,
        outcome="ks2_reading",
        group="all",
        covariates=["la", "fsm"],
        convention="total_unconditional",
        missing=None,
    )
    assert entry["status"] == "missing_input" and "gives no fsm" in entry["message"]
    entry, _ = impact.itt_entry(
        None,
        outcome="ks2_maths",
        group="all",
        covariates=[],
        convention="total_unconditional",
        missing="allocations missing",
    )
    assert (entry["status"], entry["message"]) == ("missing_input", "allocations missing")


def test_teachers_from_pseudonyms_and_consented_staff() -> None:
    staff = {
        "100001": [
            {"data_collection_consent": True},
            {"data_collection_consent": True},
            {
                "data_collection_consent": True,
                "withdrawn_on": "2022-01-01",
                "withdrawal_covers": ["questionnaires"],
            },
            {"data_collection_consent": False},
        ],
        "100002": [{"data_collection_consent": True}],
    }
    pre = [
        {"urn": 100001, "teacher": "a"},
        {"urn": 100001, "teacher": "b"},
        {"urn": 100002, "teacher": "c"},
        {"urn": 100002, "teacher": "d"},
        {"urn": None, "teacher": "e"},
    ]
    post = [{"urn": 100001, "teacher": "a"}, {"urn": 100002, "teacher": None}]
    records, warnings = teacher_records(staff, pre, post)
    by_school: dict[int, list[tuple[bool, bool]]] = {}
    for r in records:
        by_school.setdefault(r.urn, []).append((r.responded_pre, r.responded_post))
    # 100001: two consented (the withdrawn one no longer), a answered both, b pre only.
    assert sorted(by_school[100001]) == [(True, False), (True, True)]
    # 100002: one consented, three respondents (c, d, one post response without a pseudonym).
    assert sorted(by_school[100002]) == [(False, True), (True, False), (True, False)]
    assert warnings == [
        "Questionnaire responses linked to no school (not counted): 1.",
        "More questionnaire respondents than consented staff (respondents counted): URN 100002.",
    ]
