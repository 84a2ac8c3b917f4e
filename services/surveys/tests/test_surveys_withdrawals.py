"""Teachers who withdrew: left out when an export is parsed (their staff record in the live
recruitment service), and their parsed rows deleted on request (audited, no address kept)."""

from __future__ import annotations

from typing import Any

from surveys.models import AuditEvent, SurveyResponse, TeacherWithdrawal

CODEBOOK_WITH_TEACHER_EMAIL = {"respondent_email_column": "TeacherEmail"}


def teacher_export(sv: Any, teachers: list[str], *, seed: int) -> bytes:
    hillside = sv.world["hillside"].email
    rows = sv.rows([hillside] * len(teachers), seed=seed)
    for row, teacher in zip(rows, teachers, strict=True):
        row["TeacherEmail"] = teacher
    return sv.fx.csv_export(rows, columns=[*sv.fx.COLUMNS, "TeacherEmail"], qualtrics=False)


def setup_round(sv: Any) -> None:
    sv.put_round(codebook=sv.fx.CODEBOOK | CODEBOOK_WITH_TEACHER_EMAIL)


def test_a_teacher_withdrawn_from_questionnaires_is_left_out(sv: Any) -> None:
    setup_round(sv)
    staff = sv.world.staff
    teachers = [
        staff["withdrawn"],
        staff["withdrawn"].upper(),  # the same address, as people type it
        staff["case_study_only"],  # withdrew from case studies only: still in
        staff["active"],
        "new.teacher@hillside.sch.uk",  # no staff record: in
    ]
    export = sv.ingest(teacher_export(sv, teachers, seed=1))
    assert export["status"] == "done", export
    assert (export["rows"], export["withdrawn"], export["linked"]) == (5, 2, 3)
    assert sv.count(SurveyResponse) == 3
    # Out of the scales and the download too (they are not stored at all).
    n = {
        r["scale"]: r["n"]
        for r in sv.client.get("/rounds/pre/scales", headers=sv.tm()).json()["data"]
    }
    assert n["knowledge"] == 3
    lines = sv.client.get("/rounds/pre/responses.csv", headers=sv.tm()).text.strip().splitlines()
    assert len(lines) == 1 + 3


def test_deleting_a_teachers_parsed_rows_on_request(sv: Any) -> None:
    setup_round(sv)
    active = sv.world.staff["active"]
    sv.ingest(teacher_export(sv, [active, "other@hillside.sch.uk"], seed=2))
    sv.ingest(teacher_export(sv, [active], seed=3))  # another response of theirs
    assert sv.count(SurveyResponse) == 3
    resp = sv.client.post(
        "/teachers/withdrawals",
        json={"email": f"  {active.upper()} ", "reason": "withdrew by email on 3 March"},
        headers=sv.evaluator(),
    )
    assert resp.status_code == 200, resp.text
    done = resp.json()
    assert done["responses_deleted"] == 2 and len(done["teacher_key"]) == 64
    assert sv.count(SurveyResponse) == 1
    event = sv.client.get(
        "/audit-events", params={"action": "teacher.responses_deleted"}, headers=sv.tm()
    ).json()["data"][0]
    assert event["entity_id"] == done["teacher_key"] and event["new"] == {"responses_deleted": 2}
    assert event["reason"] == "withdrew by email on 3 March"
    assert "@" not in str(event)
    assert sv.count(TeacherWithdrawal) == 1
    # Their responses in later exports are left out as well.
    later = sv.ingest(teacher_export(sv, [active, "third@hillside.sch.uk"], seed=4))
    assert later["withdrawn"] == 1 and sv.count(SurveyResponse) == 2
    # Asked again: nothing left to delete, recorded again.
    again = sv.client.post(
        "/teachers/withdrawals", json={"email": active, "reason": "again"}, headers=sv.evaluator()
    )
    assert again.status_code == 200 and again.json()["responses_deleted"] == 0
    assert sv.count(AuditEvent, AuditEvent.action == "teacher.responses_deleted") == 2


def test_without_a_teacher_email_the_respondent_id_names_the_teacher(sv: Any) -> None:
    sv.put_round()
    rows = sv.rows([sv.world["brookside"].email] * 2, seed=5)
    sv.ingest(sv.fx.csv_export(rows, qualtrics=False))
    resp = sv.client.post(
        "/teachers/withdrawals",
        json={"respondent_id": rows[0]["ResponseId"], "reason": "withdrew"},
        headers=sv.evaluator(),
    )
    assert resp.status_code == 200 and resp.json()["responses_deleted"] == 1
    assert sv.count(SurveyResponse) == 1


def test_a_withdrawal_request_must_name_the_teacher_one_way(sv: Any) -> None:
    for body in (
        {"reason": "x"},
        {"email": "a@b.sch.uk", "respondent_id": "R_1", "reason": "x"},
        {"email": "a@b.sch.uk"},
    ):
        resp = sv.client.post("/teachers/withdrawals", json=body, headers=sv.evaluator())
        assert resp.status_code == 422, (body, resp.text)
    resp = sv.client.post(
        "/teachers/withdrawals",
        json={"email": "not-an-address", "reason": "x"},
        headers=sv.evaluator(),
    )
    assert resp.status_code == 422 and "missing @" in resp.json()["detail"]
    assert "not-an-address" not in resp.text
