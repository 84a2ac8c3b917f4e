"""Dosage and the compliance rule through the API: the rule's edges (exactly 4 of 6, a stand-in,
the Designated Teacher and a Subject Lead at different workshops), drafts and frozen versions
(a frozen rule refuses change), the dosage contract, its scope, and a frozen rule's threshold
standing when the working threshold changes."""

from __future__ import annotations

from typing import Any

import pytest

CONTRACT = {"urn", "workshops_attended", "sessions_attended", "minutes", "complier", "rule_version"}
DT, EN, MA, Y5 = "designated_teacher", "english_subject_lead", "maths_subject_lead", "year5_teacher"


@pytest.fixture
def camden(api: Any) -> dict[str, Any]:
    cohort, sessions, urns = api.enrolled("202")
    return {"cohort": cohort, "sessions": sessions, "urns": urns}


def present(
    api: Any, camden: dict[str, Any], urn: int, role: str, *workshops: int, **extra: Any
) -> None:
    member = api.world.member(urn, role)
    for n in workshops:
        session = camden["sessions"][f"workshop_{n}"]
        entry = {"staff_id": member.id, "status": "present"} | extra
        resp = api.enter(session["id"], entry)
        assert resp.status_code == 200, resp.text


def test_no_frozen_rule_means_no_dosage_yet(api: Any, camden: dict[str, Any]) -> None:
    urn = camden["urns"][0]
    resp = api.dosage(urn)
    assert resp.status_code == 409 and resp.json()["type"].endswith("/no-frozen-compliance-rule")
    draft = api.client.post("/compliance-rules", headers=api.evaluator())
    assert draft.status_code == 201 and draft.json()["status"] == "draft"
    preview = api.dosage(urn, rule_version=draft.json()["version"])
    assert preview.status_code == 200 and preview.json()["rule_frozen"] is False
    assert api.client.get("/dosage", headers=api.evaluator()).status_code == 409


def test_exactly_four_of_six_and_the_contract(api: Any, camden: dict[str, Any]) -> None:
    four, three = camden["urns"][:2]
    present(api, camden, four, DT, 1, 2, 3, 4)
    present(api, camden, three, DT, 1, 2, 3)
    present(api, camden, three, Y5, 5)  # a Year 5 teacher's workshop does not count for the rule
    rule = api.frozen_rule()
    assert rule["rule"]["minimum"] == 4 and rule["status"] == "frozen"
    got = api.dosage(four).json()
    assert CONTRACT <= set(got)
    assert got["urn"] == four and got["complier"] is True and got["rule_version"] == rule["version"]
    assert (got["workshops_attended"], got["sessions_attended"], got["minutes"]) == (4, 4, 600.0)
    assert got["rule_fingerprint"] == rule["fingerprint"] and got["rule_frozen"] is True
    other = api.dosage(three).json()
    assert other["complier"] is False and other["workshops_attended"] == 4
    assert other["sessions_by_role"] == {DT: 3, Y5: 1} and other["best_person_sessions"] == 3
    assert "the rule needs 4" in other["reason"]
    page = api.ok(api.client.get("/dosage", headers=api.evaluator()))
    assert [row["urn"] for row in page["data"]] == sorted(camden["urns"]) and page["count"] == 4
    untouched = next(r for r in page["data"] if r["urn"] == camden["urns"][3])
    assert (untouched["workshops_attended"], untouched["minutes"], untouched["complier"]) == (
        0,
        0.0,
        False,
    )
    # The service token (analytics) reads it too.
    service = api.role("service", sub="service:analytics")
    assert api.client.get(f"/dosage/{four}", headers=service).json()["complier"] is True


def test_a_stand_in_counts_as_the_person_stood_in_for(api: Any, camden: dict[str, Any]) -> None:
    urn = camden["urns"][0]
    dt_member = api.world.member(urn, DT)
    present(api, camden, urn, DT, 1, 2, 3)
    present(api, camden, urn, Y5, 4, on_behalf_of_staff_id=dt_member.id)
    default = api.frozen_rule()
    got = api.dosage(urn).json()
    assert got["complier"] is True and got["stand_in_sessions"] == 1
    assert got["rule_version"] == default["version"]
    strict = api.frozen_rule(stand_ins_count=False)
    assert strict["version"] == default["version"] + 1
    latest = api.dosage(urn).json()
    assert latest["rule_version"] == strict["version"] and latest["complier"] is False
    # The earlier version still answers as it did.
    assert api.dosage(urn, rule_version=default["version"]).json()["complier"] is True


def test_dt_and_a_subject_lead_at_different_workshops(api: Any, camden: dict[str, Any]) -> None:
    urn = camden["urns"][0]
    present(api, camden, urn, DT, 1, 2)
    present(api, camden, urn, EN, 3, 4)
    per_person = api.frozen_rule()
    got = api.dosage(urn).json()
    assert (
        got["complier"] is False
        and got["school_sessions"] == 4
        and got["best_person_sessions"] == 2
    )
    assert "would count only per school" in got["reason"]
    per_school = api.frozen_rule(counted_per="school")
    assert api.dosage(urn).json()["complier"] is True
    assert api.dosage(urn, rule_version=per_person["version"]).json()["complier"] is False
    assert per_school["rule"]["counted_per"] == "school"


def test_a_frozen_rule_is_never_changed(api: Any) -> None:
    rule = api.frozen_rule(minimum=5)
    version = rule["version"]
    changed = api.client.put(
        f"/compliance-rules/{version}", headers=api.evaluator(), json={"rule": {"minimum": 3}}
    )
    assert changed.status_code == 409 and "never changed" in changed.json()["detail"]
    again = api.client.post(f"/compliance-rules/{version}/freeze", headers=api.evaluator())
    assert again.status_code == 409
    stored = api.ok(api.client.get(f"/compliance-rules/{version}", headers=api.tm()))
    assert stored["rule"]["minimum"] == 5 and stored["fingerprint"] == rule["fingerprint"]
    assert stored["frozen_by"] == "evaluator-eve" and stored["frozen_at"]
    # A draft changes until it is frozen; each step is audited.
    draft = api.ok(
        api.client.post("/compliance-rules", headers=api.evaluator(), json={"rule": {"minimum": 4}})
    )
    edited = api.client.put(
        f"/compliance-rules/{draft['version']}",
        headers=api.evaluator(),
        json={
            "rule": {"minimum": 3, "counted_statuses": ["present", "partial"]},
            "note": "SAP 1.1",
        },
    )
    assert edited.status_code == 200 and edited.json()["rule"]["minimum"] == 3
    assert edited.json()["fingerprint"] != draft["fingerprint"]
    actions = [e["action"] for e in api.audit(entity_type="compliance_rule")]
    assert actions == [
        "compliance_rule.drafted", "compliance_rule.frozen", "compliance_rule.drafted",
        "compliance_rule.updated",
    ]  # fmt: skip
    frozen_event = api.audit(action="compliance_rule.frozen")[0]
    assert frozen_event["new"]["fingerprint"] == rule["fingerprint"]
    # Nonsense is refused with what is wrong.
    bad = api.client.post(
        "/compliance-rules", headers=api.evaluator(), json={"rule": {"minimum": 7}}
    )
    assert bad.status_code == 422 and "more than the 6 counted sessions" in bad.json()["detail"]
    listed = api.ok(api.client.get("/compliance-rules", headers=api.role("auditor")))
    assert [r["status"] for r in listed["data"]] == ["frozen", "draft"]
    # Only the evaluator sets the rule.
    assert api.client.post("/compliance-rules", headers=api.delivery()).status_code == 403


def test_a_frozen_rules_threshold_stands_when_the_working_threshold_changes(
    api: Any, camden: dict[str, Any]
) -> None:
    urn = camden["urns"][0]
    member = api.world.member(urn, DT)
    for n in (1, 2, 3, 4):
        session = camden["sessions"][f"workshop_{n}"]
        # 100 of 150 minutes: partial at 75% of the session, present at an hour.
        assert api.enter(session["id"], {"staff_id": member.id, "minutes": 100}).status_code == 200
    rule = api.frozen_rule()
    assert rule["rule"]["attendance_threshold"] == {"kind": "share", "value": 0.75}
    assert api.dosage(urn).json()["complier"] is False
    api.client.put(
        "/attendance-threshold",
        headers=api.delivery(),
        json={"kind": "minutes", "value": 60, "reason": "x"},
    )
    session = camden["sessions"]["workshop_1"]
    assert api.by_staff(session["id"])[member.id]["status"] == "present"
    assert api.dosage(urn).json()["complier"] is False  # frozen: 75% of the session
    # A rule drafted now takes the working threshold unless told otherwise.
    newer = api.frozen_rule()
    assert newer["rule"]["attendance_threshold"] == {"kind": "minutes", "value": 60.0}
    assert api.dosage(urn).json()["complier"] is True
    partial_counts = api.frozen_rule(
        counted_statuses=["present", "partial"],
        attendance_threshold={"kind": "share", "value": 0.75},
    )
    assert api.dosage(urn, rule_version=partial_counts["version"]).json()["complier"] is True


def test_dosage_is_scoped(api: Any, camden: dict[str, Any]) -> None:
    barnsley, _, barnsley_urns = api.enrolled("370")
    api.frozen_rule()
    own = camden["urns"][0]
    assert api.client.get(f"/dosage/{own}", headers=api.school(own)).status_code == 200
    assert (
        api.client.get(f"/dosage/{camden['urns'][1]}", headers=api.school(own)).status_code == 404
    )
    mine = api.ok(api.client.get("/dosage", headers=api.school(own)))["data"]
    assert [r["urn"] for r in mine] == [own]
    la = api.ok(api.client.get("/dosage", headers=api.vs("370")))["data"]
    assert [r["urn"] for r in la] == sorted(barnsley_urns)
    assert api.client.get(f"/dosage/{own}", headers=api.vs("370")).status_code == 404
    missing = api.client.get(f"/dosage/{api.world.control('202')[0]}", headers=api.evaluator())
    assert missing.status_code == 404 and "not enrolled" in missing.json()["detail"]
    by_cohort = api.ok(
        api.client.get("/dosage", headers=api.evaluator(), params={"cohort_id": barnsley["id"]})
    )
    assert by_cohort["count"] == len(barnsley_urns)
    assert api.client.get("/dosage", headers=api.role("no_such_role")).status_code == 403
