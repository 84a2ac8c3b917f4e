"""Teachers who withdrew: left out when an export is parsed (their staff record in the live
recruitment service), their parsed rows deleted on request (audited, no address kept), and
those who withdraw in recruitment later found by the withdrawal check and left out too."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from rlc_clients import RecruitmentClient
from rlc_shared.db import transaction
from rlc_shared.http import TokenProvider
from rlc_testkit import free_port
from surveys.models import AuditEvent, SurveyResponse, TeacherStaff, TeacherWithdrawal
from surveys.teachers.check import WithdrawalCheck

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


# --- withdrawals recorded in recruitment after the answers were parsed ------------------------


class Recruitment:
    """The live recruitment service, as the trial manager uses it."""

    def __init__(self, stack: Any, keys: Any) -> None:
        self.client = httpx.Client(base_url=stack.recruitment.url, timeout=30)
        self.headers = keys.headers("trial_manager", sub="tm-withdrawals")

    def add_teacher(self, urn: int, email: str) -> int:
        resp = self.client.post(
            f"/schools/{urn}/staff",
            headers=self.headers,
            json={"name": "Late Withdrawer", "role": "year5_teacher", "email": email},
        )
        assert resp.status_code == 201, resp.text
        return int(resp.json()["id"])

    def withdraw(self, urn: int, staff_id: int, covers: list[str] | str) -> dict[str, Any]:
        resp = self.client.post(
            f"/schools/{urn}/staff/{staff_id}/withdrawal",
            headers=self.headers,
            json={"covers": covers, "reason": "no longer wishes to take part"},
        )
        assert resp.status_code == 200, resp.text
        return resp.json()


@pytest.fixture
def recruitment(stack: Any, keys: Any) -> Iterator[Recruitment]:
    live = Recruitment(stack, keys)
    try:
        yield live
    finally:
        live.client.close()


def unique_address(name: str) -> str:
    # Staff records stay in the session's recruitment database: a fresh address per test.
    return f"{name}.{uuid.uuid4().hex[:8]}@hillside.sch.uk"


def knowledge_n(sv: Any) -> int:
    data = sv.client.get("/rounds/pre/scales", headers=sv.tm()).json()["data"]
    return next(r["n"] for r in data if r["scale"] == "knowledge")


def school_responses(sv: Any, urn: int) -> int:
    resp = sv.client.get(
        "/rounds/pre/response-rates", params={"by": "school", "urn": urn}, headers=sv.tm()
    )
    assert resp.status_code == 200, resp.text
    return int(resp.json()["data"][0]["responses"])


def csv_teachers(sv: Any) -> list[str]:
    text = sv.client.get("/rounds/pre/responses.csv", headers=sv.tm()).text
    rows = list(csv.DictReader(io.StringIO(text)))
    return [row["teacher_key"] for row in rows]


def deletions(sv: Any) -> list[dict[str, Any]]:
    resp = sv.client.get(
        "/audit-events", params={"action": "teacher.responses_deleted"}, headers=sv.tm()
    )
    assert resp.status_code == 200, resp.text
    return list(resp.json()["data"])


def test_a_teacher_who_withdraws_in_recruitment_later_is_left_out_at_the_next_check(
    sv: Any, app_for: Any, recruitment: Recruitment
) -> None:
    sv.client = app_for(withdrawal_check_interval_seconds=0.2)
    setup_round(sv)
    hillside = sv.world["hillside"].urn
    late, case_study = unique_address("late.withdrawer"), unique_address("case.study")
    late_id = recruitment.add_teacher(hillside, late)
    case_study_id = recruitment.add_teacher(hillside, case_study)
    teachers = [late, case_study, sv.world.staff["active"], unique_address("no.record")]
    export = sv.ingest(teacher_export(sv, teachers, seed=11))
    again = sv.ingest(teacher_export(sv, [late], seed=12))  # a second response of theirs
    assert (export["linked"], export["withdrawn"], again["linked"]) == (4, 0, 1)
    pseudonymiser = sv.client.app.state.pseudonymiser
    key = pseudonymiser.teacher_from_raw_email(late)
    assert (sv.count(SurveyResponse), knowledge_n(sv), school_responses(sv, hillside)) == (5, 5, 5)
    assert csv_teachers(sv).count(key) == 2

    # Withdrawn in recruitment after their answers were parsed: from the questionnaires (left
    # out), and another teacher from case-study interviews only (stays in).
    withdrawal = recruitment.withdraw(hillside, late_id, ["questionnaires"])
    recruitment.withdraw(hillside, case_study_id, ["case_study_interviews"])
    sv.until(lambda: sv.count(SurveyResponse) == 3, timeout=30, what="the withdrawal check")

    assert knowledge_n(sv) == 3 and school_responses(sv, hillside) == 3
    assert key not in csv_teachers(sv) and len(csv_teachers(sv)) == 3
    assert pseudonymiser.teacher_from_raw_email(case_study) in csv_teachers(sv)
    assert sv.export(export["id"])["withdrawn"] == 1 and sv.export(export["id"])["linked"] == 3
    assert sv.export(again["id"])["withdrawn"] == 1 and sv.export(again["id"])["linked"] == 0
    # The audit trail says who, what, when and why, under the pseudonym only.
    [event] = deletions(sv)
    assert event["actor"] == "surveys-worker" and event["entity_type"] == "teacher"
    assert event["entity_id"] == key and event["at"]
    assert event["new"] == {
        "responses_deleted": 2,
        "withdrawn_on": withdrawal["withdrawn_on"],
        "withdrawal_covers": ["questionnaires"],
    }
    assert "recruitment service says they withdrew from questionnaires" in event["reason"]
    assert "@" not in json.dumps(event)
    assert sv.count(TeacherWithdrawal, TeacherWithdrawal.teacher_key == key) == 1
    # Later checks change nothing more; a later export of theirs is left out when parsed.
    sv.client.app.state.withdrawal_check.run()
    assert len(deletions(sv)) == 1 and sv.count(SurveyResponse) == 3
    later = sv.ingest(teacher_export(sv, [late, unique_address("newcomer")], seed=13))
    assert later["withdrawn"] == 1 and sv.count(SurveyResponse) == 4


def test_what_the_check_keeps_names_no_staff_record_or_address(
    sv: Any, recruitment: Recruitment
) -> None:
    setup_round(sv)
    hillside = sv.world["hillside"].urn
    address = unique_address("kept.record")
    staff_id = recruitment.add_teacher(hillside, address)
    sv.ingest(teacher_export(sv, [address, unique_address("unknown")], seed=14))
    engine = sv.client.app.state.engine
    with engine.connect() as conn:
        kept = conn.execute(select(TeacherStaff)).all()
    pseudonymiser = sv.client.app.state.pseudonymiser
    # Only the teacher with a staff record; the record's id is a keyed hash, never the id.
    assert [(r.teacher_key, r.staff_hash, r.urn) for r in kept] == [
        (
            pseudonymiser.teacher_from_raw_email(address),
            pseudonymiser.staff_record(staff_id),
            hillside,
        )
    ]
    assert str(staff_id) not in {kept[0].staff_hash, kept[0].teacher_key}


def test_responses_written_while_a_withdrawal_was_recorded_go_at_the_next_check(
    sv: Any,
) -> None:
    setup_round(sv)
    active = sv.world.staff["active"]
    sv.ingest(teacher_export(sv, [active, unique_address("stays")], seed=15))
    key = sv.client.app.state.pseudonymiser.teacher_from_raw_email(active)
    # The teacher's withdrawal was recorded while this export was being parsed (its worker had
    # read the withdrawn teachers before): the row is there, and so is their response.
    engine = sv.client.app.state.engine
    with transaction(engine) as session:
        session.add(
            TeacherWithdrawal(
                teacher_key=key, requested_by="evaluator-eve", reason="withdrew by email"
            )
        )
    assert sv.count(SurveyResponse) == 2
    applied = sv.client.app.state.withdrawal_check.run()
    assert (applied.teachers, applied.responses) == (0, 1)
    assert sv.count(SurveyResponse) == 1
    [event] = deletions(sv)
    assert event["entity_id"] == key and event["new"] == {"responses_deleted": 1}
    assert "withdrawn before" in event["reason"]
    assert sv.client.app.state.withdrawal_check.run().responses == 0


def test_recruitment_unreachable_the_check_changes_nothing_and_waits(
    sv: Any, keys: Any, recruitment: Recruitment
) -> None:
    setup_round(sv)
    hillside = sv.world["hillside"].urn
    address = unique_address("unreachable")
    staff_id = recruitment.add_teacher(hillside, address)
    sv.ingest(teacher_export(sv, [address], seed=16))
    recruitment.withdraw(hillside, staff_id, "all")
    app = sv.client.app
    nowhere = RecruitmentClient(
        f"http://127.0.0.1:{free_port()}",
        tokens=TokenProvider(token=keys.token("service", sub="service:surveys")),
        retries=0,
        timeout=2,
    )
    try:
        check = WithdrawalCheck(
            engine=app.state.engine, directory=nowhere, pseudonymiser=app.state.pseudonymiser
        )
        applied = check.run()
    finally:
        nowhere.close()
    assert (applied.teachers, applied.responses) == (0, 0)
    assert sv.count(SurveyResponse) == 1 and deletions(sv) == []
    # Reachable again: the next check finds the withdrawal.
    assert app.state.withdrawal_check.run().teachers == 1
    assert sv.count(SurveyResponse) == 0
