"""Attendance through the API: Zoom and Teams reports uploaded as the platforms write them,
matched to the enrolled schools' staff (by address through recruitment, by name within the
cohort), the review list, manual entry and stand-ins, re-uploads, broken files, a failure half
way through an upload, retraction, and threshold changes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from workshops.attendance import service as attendance_service
from workshops.main import create_app
from workshops.models import AttendanceReport

D1 = dt.date(2021, 11, 15)  # workshop 1
D2 = dt.date(2021, 12, 13)  # workshop 2
D3 = dt.date(2022, 1, 10)  # workshop 3


def _helpers() -> Any:
    import sys

    return sys.modules["workshops_tests_helpers"]


h = _helpers()
Joined, at = h.Joined, h.at


@pytest.fixture
def camden(api: Any) -> dict[str, Any]:
    cohort, sessions, urns = api.enrolled("202")
    assert len(urns) == 4
    return {"cohort": cohort, "sessions": sessions, "urns": urns}


def staff(api: Any, urn: int, role: str) -> Any:
    return api.world.member(urn, role)


def workshop_1_joins(api: Any, urns: list[int]) -> list[Any]:
    """Workshop 1 as Zoom lists it: rejoins, a second device, a rename, strangers."""
    a, b = urns[0], urns[1]
    dt_a, esl_a, msl_a = (
        staff(api, a, r)
        for r in ("designated_teacher", "english_subject_lead", "maths_subject_lead")
    )
    dt_b = staff(api, b, "designated_teacher")
    control_dt = staff(api, api.world.control("202")[0], "designated_teacher")
    head, vsh_email = api.world.vsh["202"]
    return [
        Joined("Facilitator", "facilitator@university.example", at(D1, 15, 45), 165),
        # Dropped out and rejoined, once overlapping: 16:00-17:50 and 17:55-18:30 is 145 minutes.
        Joined(dt_a.name, dt_a.email, at(D1, 16, 0), 40),
        Joined(dt_a.name, dt_a.email, at(D1, 16, 35), 75),
        Joined(dt_a.name, dt_a.email, at(D1, 17, 55), 35),
        # The address as they typed it: another case.
        Joined(esl_a.name, esl_a.email.upper(), at(D1, 16, 0), 150),
        # No address in recruitment: matched by name within the cohort, title and all.
        Joined(f"Mr {msl_a.name}", None, at(D1, 16, 5), 140),
        Joined(dt_b.name, dt_b.email, at(D1, 16, 0), 60),
        Joined("Staff iPad", None, at(D1, 16, 10), 100),
        Joined(control_dt.name, control_dt.email, at(D1, 16, 0), 150),
        Joined(head, vsh_email, at(D1, 16, 0), 150),
    ]


def test_zoom_report_with_summary_and_rejoins(api: Any, camden: dict[str, Any]) -> None:
    session = camden["sessions"]["workshop_1"]
    a, b = camden["urns"][:2]
    data = h.zoom_file(workshop_1_joins(api, camden["urns"]), day=D1)
    assert data.startswith(b"\xef\xbb\xbfMeeting ID,Topic,")
    resp = api.upload(session["id"], data)
    assert resp.status_code == 201, resp.text
    result = resp.json()
    assert (result["platform"], result["layout"]) == ("zoom", "zoom_participants")
    assert result["duplicate"] is False
    # Ten rows, eight people: five placed, three on the review list.
    assert (result["participants"], result["matched"], result["unmatched"]) == (8, 5, 3)
    assert result["attendees_recorded"] == 5

    rows = api.by_staff(session["id"])
    dt_a = rows[staff(api, a, "designated_teacher").id]
    assert (dt_a["urn"], dt_a["role"], dt_a["minutes"], dt_a["status"]) == (
        a,
        "designated_teacher",
        145.0,
        "present",
    )
    assert dt_a["source"] == "report" and dt_a["match_method"] == "email"
    assert rows[staff(api, a, "english_subject_lead").id]["status"] == "present"
    msl = rows[staff(api, a, "maths_subject_lead").id]
    assert (msl["minutes"], msl["status"], msl["match_method"]) == (140.0, "present", "name")
    dt_b = rows[staff(api, b, "designated_teacher").id]
    assert (dt_b["minutes"], dt_b["status"]) == (60.0, "partial")
    # Everyone else of the cohort is listed, absent.
    head_a = rows[staff(api, a, "head_teacher").id]
    assert (head_a["status"], head_a["minutes"], head_a["source"]) == ("absent", 0.0, None)
    everyone = api.attendance(session["id"])
    assert len(everyone) == 4 * 5 + 1
    (vsh,) = [r for r in everyone if r["kind"] == "virtual_school_head"]
    assert (vsh["urn"], vsh["staff_id"], vsh["status"]) == (None, None, "present")

    review = {r["name"]: r for r in api.unmatched(session["id"])}
    assert set(review) == {
        "Facilitator",
        "Staff iPad",
        staff(api, api.world.control("202")[0], "designated_teacher").name,
    }
    control = review[staff(api, api.world.control("202")[0], "designated_teacher").name]
    assert "not enrolled in any cohort" in control["reason"]
    assert str(api.world.control("202")[0]) in control["reason"]
    assert review["Staff iPad"]["minutes"] == 100.0 and review["Staff iPad"]["lines"]
    # The upload is audited without a name or an address in it.
    (event,) = api.audit(action="attendance_report.uploaded")
    assert event["new"]["matched"] == 5
    trail = repr(api.audit())
    for who in workshop_1_joins(api, camden["urns"]):
        assert who.name not in trail and (who.email or "@@") not in trail


def test_teams_report_utf16_sections(api: Any, camden: dict[str, Any]) -> None:
    session = camden["sessions"]["workshop_2"]
    a, b = camden["urns"][:2]
    dt_a, esl_b = staff(api, a, "designated_teacher"), staff(api, b, "english_subject_lead")
    msl_b = staff(api, b, "maths_subject_lead")
    joins = [
        Joined(dt_a.name, dt_a.email, at(D2, 16, 0), 50),
        Joined(dt_a.name, dt_a.email, at(D2, 16, 55), 95),
        Joined(esl_b.name, esl_b.email, at(D2, 16, 0), 100),
        # Teams marks outsiders; the name still places them within the cohort.
        Joined(f"{msl_b.name} (Guest)", None, at(D2, 16, 0), 150),
        Joined("Somebody Else", "someone@elsewhere.example", at(D2, 16, 0), 150),
    ]
    data = h.teams_file(joins, day=D2)
    assert data[:2] == b"\xff\xfe" and "1. Summary\r\n".encode("utf-16-le") in data
    assert "\t".encode("utf-16-le") in data
    resp = api.upload(session["id"], data, name="meetingAttendanceReport.csv")
    assert resp.status_code == 201, resp.text
    result = resp.json()
    assert (result["platform"], result["layout"]) == ("teams", "teams_sections")
    assert (result["matched"], result["unmatched"]) == (3, 1)
    rows = api.by_staff(session["id"])
    assert (rows[dt_a.id]["minutes"], rows[dt_a.id]["status"]) == (145.0, "present")
    assert (rows[esl_b.id]["minutes"], rows[esl_b.id]["status"]) == (100.0, "partial")
    assert rows[msl_b.id]["status"] == "present"


def test_older_teams_table(api: Any, camden: dict[str, Any]) -> None:
    session = camden["sessions"]["workshop_3"]
    a = camden["urns"][0]
    dt_a, esl_a = staff(api, a, "designated_teacher"), staff(api, a, "english_subject_lead")
    joins = [
        Joined(dt_a.name, None, at(D3, 16, 0), 70),
        Joined(dt_a.name, None, at(D3, 17, 20), 60),
        Joined(esl_a.name, None, at(D3, 16, 0), 150),
    ]
    resp = api.upload(session["id"], h.teams_legacy_file(joins))
    assert resp.status_code == 201, resp.text
    assert (resp.json()["layout"], resp.json()["matched"], resp.json()["unmatched"]) == (
        "teams_legacy",
        2,
        0,
    )
    rows = api.by_staff(session["id"])
    assert (rows[dt_a.id]["minutes"], rows[dt_a.id]["status"]) == (130.0, "present")
    assert rows[esl_a.id]["match_method"] == "name"


def test_the_same_file_twice_changes_nothing(api: Any, camden: dict[str, Any]) -> None:
    sessions = camden["sessions"]
    data = h.zoom_file(workshop_1_joins(api, camden["urns"]), day=D1)
    first = api.upload(sessions["workshop_1"]["id"], data)
    assert first.status_code == 201
    before = (api.attendance(sessions["workshop_1"]["id"]), len(api.audit()))
    again = api.upload(sessions["workshop_1"]["id"], data, name="renamed copy.csv")
    assert again.status_code == 200, again.text
    assert (
        again.json()["duplicate"] is True and again.json()["report_id"] == first.json()["report_id"]
    )
    assert again.json() | {"duplicate": False} == first.json()
    assert (api.attendance(sessions["workshop_1"]["id"]), len(api.audit())) == before
    reports = api.ok(
        api.client.get(
            f"/sessions/{sessions['workshop_1']['id']}/attendance-reports", headers=api.delivery()
        )
    )
    assert len(reports) == 1
    # The file is kept as it was received.
    stored = api.client.get(f"/attendance-reports/{reports[0]['id']}/file", headers=api.evaluator())
    assert stored.status_code == 200 and stored.content == data
    assert stored.headers["content-disposition"].startswith("attachment;")
    # The same export for another session is a mistake.
    other = api.upload(sessions["workshop_2"]["id"], data)
    assert other.status_code == 409 and "already uploaded for session" in other.json()["detail"]


def test_a_report_whose_file_is_lost_is_a_404_problem_and_keeps_its_record(
    api: Any, camden: dict[str, Any]
) -> None:
    session = camden["sessions"]["workshop_1"]
    made = api.upload(session["id"], h.zoom_file(workshop_1_joins(api, camden["urns"]), day=D1))
    assert made.status_code == 201, made.text
    report_id = made.json()["report_id"]
    before = (api.attendance(session["id"]), len(api.audit()))
    # The object store lost the file (deleted by hand, a bucket restored without it).
    app = api.client.app
    with Session(app.state.engine) as db:
        report = db.get(AttendanceReport, report_id)
        assert report is not None
        key = report.storage_key
    assert app.state.storage.exists(key)
    app.state.storage.delete(key)
    lost = api.client.get(f"/attendance-reports/{report_id}/file", headers=api.evaluator())
    assert lost.status_code == 404, lost.text
    assert lost.headers["content-type"] == "application/problem+json"
    problem = lost.json()
    assert problem["type"].endswith("/attendance-report-file-missing")
    assert problem["report_id"] == report_id
    assert f"attendance report {report_id} is missing from object storage" in problem["detail"]
    assert "attendance-reports/" not in problem["detail"]  # no storage key in the answer
    # The record and what was computed from it are as they were.
    assert (
        api.ok(api.client.get(f"/attendance-reports/{report_id}", headers=api.delivery()))["id"]
        == report_id
    )
    assert (api.attendance(session["id"]), len(api.audit())) == before


def test_a_malformed_time_is_refused_with_its_line_and_changes_nothing(
    api: Any, camden: dict[str, Any]
) -> None:
    session = camden["sessions"]["workshop_1"]
    good = h.zoom_file(workshop_1_joins(api, camden["urns"]), day=D1)
    assert api.upload(session["id"], good).status_code == 201
    before = (api.attendance(session["id"]), len(api.audit()))
    broken = good.replace(b"11/15/2021 04:35:00 PM", b"11/15/2021 16:99:00 XM", 1)
    assert broken != good
    resp = api.upload(session["id"], broken)
    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert body["type"].endswith("/invalid-attendance-report")
    assert body["line"] == 7 and "Line 7" in body["detail"]
    for who in workshop_1_joins(api, camden["urns"]):
        assert who.name not in body["detail"]
    assert (api.attendance(session["id"]), len(api.audit())) == before
    not_a_report = api.upload(session["id"], b"%PDF-1.4 not a report")
    assert (
        not_a_report.status_code == 422
        and "not a Zoom participant report" in not_a_report.json()["detail"]
    )
    empty = api.upload(session["id"], b"")
    assert empty.status_code == 422


def test_a_report_over_the_size_limit_is_refused_before_parsing(
    api: Any, settings: Any, camden: dict[str, Any]
) -> None:
    small = settings.model_copy(update={"max_report_bytes": 1024})
    with TestClient(create_app(small)) as other:
        resp = other.post(
            f"/sessions/{camden['sessions']['workshop_1']['id']}/attendance-reports",
            headers=api.delivery(),
            files={"file": ("big.csv", b"x" * 2048, "text/csv")},
        )
    assert resp.status_code == 413 and "1,024 bytes" in resp.json()["detail"]


def test_an_upload_failing_half_way_leaves_attendance_as_it_was(
    api: Any, camden: dict[str, Any], settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = camden["sessions"]["workshop_1"]
    a = camden["urns"][0]
    dt_a = staff(api, a, "designated_teacher")
    assert (
        api.upload(
            session["id"], h.zoom_file([Joined(dt_a.name, dt_a.email, at(D1, 16), 30)], day=D1)
        ).status_code
        == 201
    )
    before = (api.attendance(session["id"]), len(api.audit()))
    reports_dir = (
        __import__("pathlib").Path(settings.storage_dir)
        / "attendance-reports"
        / f"session-{session['id']}"
    )
    files_before = sorted(p.name for p in reports_dir.iterdir())

    # The failure comes after the report, its participants and the new attendance are written
    # in the transaction, and after the file is stored: everything must be undone.
    real = attendance_service.audit_many

    def fail_on_report_attendance(*args: Any, **kwargs: Any) -> int:
        if kwargs.get("action") == "attendance.from_reports":
            real(*args, **kwargs)
            raise RuntimeError("the database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(attendance_service, "audit_many", fail_on_report_attendance)
    second = h.zoom_file([Joined(dt_a.name, dt_a.email, at(D1, 16), 150)], day=D1, topic="again")
    with pytest.raises(RuntimeError, match="went away"):
        api.upload(session["id"], second)
    monkeypatch.undo()
    assert (api.attendance(session["id"]), len(api.audit())) == before
    assert sorted(p.name for p in reports_dir.iterdir()) == files_before
    assert (
        len(
            api.ok(
                api.client.get(
                    f"/sessions/{session['id']}/attendance-reports", headers=api.delivery()
                )
            )
        )
        == 1
    )
    # And the same file goes through once the fault is gone.
    retry = api.upload(session["id"], second)
    assert retry.status_code == 201 and retry.json()["duplicate"] is False
    assert api.by_staff(session["id"])[dt_a.id]["minutes"] == 150.0


def test_the_review_list_is_resolved_and_remembered(api: Any, camden: dict[str, Any]) -> None:
    sessions = camden["sessions"]
    a = camden["urns"][0]
    dt_a, y5_a = staff(api, a, "designated_teacher"), staff(api, a, "year5_teacher")
    first = sessions["workshop_1"]["id"]
    data = h.zoom_file(
        [
            Joined("Facilitator", "facilitator@university.example", at(D1, 15, 45), 165),
            Joined(dt_a.name, dt_a.email, at(D1, 16, 0), 60),
            Joined("Staff iPad", None, at(D1, 17, 0), 90),  # the same teacher, on the school's iPad
            Joined("Y5 Jo", None, at(D1, 16, 0), 150),
        ],
        day=D1,
    )
    assert api.upload(first, data).json()["unmatched"] == 3
    review = {r["name"]: r for r in api.unmatched(first)}
    path = f"/sessions/{first}/attendance/unmatched"
    dismissed = api.client.post(
        f"{path}/{review['Facilitator']['id']}", headers=api.delivery(),
        json={"dismiss": True, "reason": "the university's facilitator"},
    )  # fmt: skip
    assert dismissed.status_code == 200 and dismissed.json()["participant"]["name"] is None
    resolved = api.client.post(
        f"{path}/{review['Staff iPad']['id']}", headers=api.delivery(),
        json={"staff_id": dt_a.id, "reason": "she joined from the school iPad after a break"},
    )  # fmt: skip
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["aliases_stored"] == 1
    # Her two devices' time is merged: 16:00-17:00 and 17:00-18:30.
    assert (resolved.json()["attendance"]["minutes"], resolved.json()["attendance"]["status"]) == (
        150.0,
        "present",
    )
    by_attendee = api.client.post(
        f"{path}/{review['Y5 Jo']['id']}", headers=api.delivery(),
        json={"staff_id": y5_a.id, "remember": False},
    )  # fmt: skip
    assert by_attendee.status_code == 200 and by_attendee.json()["aliases_stored"] == 0
    assert api.unmatched(first) == []
    twice = api.client.post(
        f"{path}/{review['Y5 Jo']['id']}", headers=api.delivery(), json={"dismiss": True}
    )
    assert twice.status_code == 409
    rows = api.by_staff(first)
    assert rows[y5_a.id]["status"] == "present" and rows[dt_a.id]["minutes"] == 150.0
    # Names and addresses are gone from the resolved entries.
    done = api.ok(api.client.get(path, headers=api.delivery(), params={"state": "resolved"}))[
        "data"
    ]
    assert {r["attendee_id"] for r in done} and all(
        r["name"] is None and r["email"] is None for r in done
    )
    # Next session, the iPad is recognised by its remembered name; "Y5 Jo" was not remembered.
    second = sessions["workshop_2"]["id"]
    later = h.zoom_file(
        [Joined("Staff iPad", None, at(D2, 16, 0), 150), Joined("Y5 Jo", None, at(D2, 16, 0), 150)],
        day=D2,
    )
    result = api.upload(second, later).json()
    assert (result["matched"], result["unmatched"]) == (1, 1)
    assert api.by_staff(second)[dt_a.id]["match_method"] == "name_alias"
    events = {e["action"] for e in api.audit()}
    assert {"participant.dismissed", "participant.resolved", "alias.stored"} <= events


def test_manual_entry_stand_ins_and_manual_wins(api: Any, camden: dict[str, Any]) -> None:
    intro = camden["sessions"]["intro"]
    a, b = camden["urns"][:2]
    dt_a, head_a, y5_a = (
        staff(api, a, r) for r in ("designated_teacher", "head_teacher", "year5_teacher")
    )
    resp = api.enter(
        intro["id"],
        {"staff_id": dt_a.id, "status": "present"},
        {"staff_id": head_a.id, "status": "partial", "minutes": 45},
        {
            "staff_id": y5_a.id,
            "minutes": 80,
            "on_behalf_of_staff_id": staff(api, a, "maths_subject_lead").id,
        },
        reason="register taken at the venue",
    )
    assert resp.status_code == 200, resp.text
    rows = {r["staff_id"]: r for r in resp.json()["data"] if r["staff_id"]}
    assert (rows[dt_a.id]["status"], rows[dt_a.id]["minutes"], rows[dt_a.id]["status_fixed"]) == (
        "present",
        90.0,
        True,
    )
    assert (rows[head_a.id]["status"], rows[head_a.id]["minutes"]) == ("partial", 45.0)
    y5 = rows[y5_a.id]
    # 80 of 90 minutes is over 75%: present by the threshold (so it follows the threshold).
    assert (y5["status"], y5["status_fixed"], y5["on_behalf_of_staff_id"]) == (
        "present",
        False,
        staff(api, a, "maths_subject_lead").id,
    )
    assert all(r["source"] == "manual" for r in (rows[dt_a.id], rows[head_a.id], y5))
    entered = api.audit(action="attendance.entered")
    assert len(entered) == 3 and {e["reason"] for e in entered} == {"register taken at the venue"}
    # Refusals: partial without minutes, a stand-in from another school, twice the same person.
    assert api.enter(intro["id"], {"staff_id": dt_a.id, "status": "partial"}).status_code == 422
    other_school = api.enter(
        intro["id"],
        {
            "staff_id": dt_a.id,
            "status": "present",
            "on_behalf_of_staff_id": staff(api, b, "designated_teacher").id,
        },
    )
    assert other_school.status_code == 422 and "same school" in other_school.json()["detail"]
    assert (
        api.enter(
            intro["id"],
            {"staff_id": dt_a.id, "status": "present"},
            {"attendee_id": rows[dt_a.id]["attendee_id"], "status": "absent"},
        ).status_code
        == 422
    )
    assert api.enter(intro["id"], {"staff_id": 2**31 - 1, "status": "present"}).status_code == 404
    # A report uploaded afterwards never overwrites what a person entered.
    report = h.zoom_file(
        [Joined(dt_a.name, dt_a.email, at(dt.date(2021, 10, 18), 16), 10)],
        day=dt.date(2021, 10, 18),
    )
    assert api.upload(intro["id"], report).status_code == 201
    assert api.by_staff(intro["id"])[dt_a.id]["status"] == "present"


def test_threshold_changes_reclassify_and_are_audited(api: Any, camden: dict[str, Any]) -> None:
    session = camden["sessions"]["workshop_1"]
    b = camden["urns"][1]
    dt_b, esl_b = staff(api, b, "designated_teacher"), staff(api, b, "english_subject_lead")
    data = h.zoom_file(
        [
            Joined(dt_b.name, dt_b.email, at(D1, 16), 60),
            Joined(esl_b.name, esl_b.email, at(D1, 16), 100),
        ],
        day=D1,
    )
    assert api.upload(session["id"], data).status_code == 201
    assert (
        api.enter(
            session["id"],
            {"staff_id": staff(api, b, "head_teacher").id, "status": "partial", "minutes": 30},
        ).status_code
        == 200
    )
    assert api.by_staff(session["id"])[dt_b.id]["status"] == "partial"
    threshold = api.ok(api.client.get("/attendance-threshold", headers=api.delivery()))
    assert (threshold["kind"], threshold["value"], threshold["set_at"]) == ("share", 0.75, None)

    changed = api.client.put(
        "/attendance-threshold", headers=api.delivery(),
        json={"kind": "minutes", "value": 60, "reason": "an hour is what the university counts"},
    )  # fmt: skip
    assert changed.status_code == 200, changed.text
    assert changed.json()["reclassified"] == 2
    assert changed.json()["threshold"]["description"] == "60 minutes"
    rows = api.by_staff(session["id"])
    assert rows[dt_b.id]["status"] == "present" and rows[esl_b.id]["status"] == "present"
    # A status a person set stays.
    assert rows[staff(api, b, "head_teacher").id]["status"] == "partial"
    (event,) = api.audit(action="threshold.changed")
    assert event["old"] == {"kind": "share", "value": 0.75}
    assert event["new"] == {"kind": "minutes", "value": 60.0, "reclassified": 2}
    assert event["reason"] == "an hour is what the university counts"
    moved = api.audit(action="attendance.reclassified")
    assert [(e["old"]["status"], e["new"]["status"]) for e in moved] == [("partial", "present")] * 2
    # Recording the session's actual length re-classifies against it.
    api.client.put(
        "/attendance-threshold",
        headers=api.delivery(),
        json={"kind": "share", "value": 0.75, "reason": "back"},
    )
    assert api.by_staff(session["id"])[esl_b.id]["status"] == "partial"  # 100 of 150
    short = api.client.patch(
        f"/sessions/{session['id']}",
        headers=api.delivery(),
        json={"actual_minutes": 120, "reason": "finished early"},
    )
    assert short.status_code == 200
    rows = api.by_staff(session["id"])
    assert rows[esl_b.id]["status"] == "present"  # 100 of 120
    assert rows[dt_b.id]["status"] == "partial"  # 60 of 120
    bad = api.client.put(
        "/attendance-threshold",
        headers=api.delivery(),
        json={"kind": "share", "value": 1.5, "reason": "x"},
    )
    assert bad.status_code == 422


def test_retracting_a_report_recomputes_the_session(api: Any, camden: dict[str, Any]) -> None:
    session = camden["sessions"]["workshop_1"]
    a = camden["urns"][0]
    dt_a = staff(api, a, "designated_teacher")
    one = api.upload(
        session["id"], h.zoom_file([Joined(dt_a.name, dt_a.email, at(D1, 16), 60)], day=D1)
    ).json()
    two = api.upload(
        session["id"], h.teams_file([Joined(dt_a.name, dt_a.email, at(D1, 17), 90)], day=D1)
    ).json()
    # Two reports of one session (the meeting restarted): their time is merged.
    assert api.by_staff(session["id"])[dt_a.id]["minutes"] == 150.0
    resp = api.client.post(
        f"/attendance-reports/{two['report_id']}/retraction",
        headers=api.delivery(),
        json={"reason": "wrong meeting"},
    )
    assert resp.status_code == 200 and resp.json()["retracted_by"] == "delivery-dana"
    assert api.by_staff(session["id"])[dt_a.id]["minutes"] == 60.0
    again = api.client.post(
        f"/attendance-reports/{two['report_id']}/retraction",
        headers=api.delivery(),
        json={"reason": "x"},
    )
    assert again.status_code == 409
    api.client.post(
        f"/attendance-reports/{one['report_id']}/retraction",
        headers=api.delivery(),
        json={"reason": "also wrong"},
    )
    row = api.by_staff(session["id"])[dt_a.id]
    assert (row["status"], row["source"]) == ("absent", None)


def test_schools_and_virtual_schools_see_their_own_attendance(
    api: Any, camden: dict[str, Any]
) -> None:
    session = camden["sessions"]["workshop_1"]
    assert (
        api.upload(
            session["id"], h.zoom_file(workshop_1_joins(api, camden["urns"]), day=D1)
        ).status_code
        == 201
    )
    a = camden["urns"][0]
    own = api.attendance(session["id"], headers=api.school(a))
    assert own and {r["urn"] for r in own} == {a}
    la = api.attendance(session["id"], headers=api.vs("202"))
    assert len(la) == 21
    other_la = api.client.get(f"/sessions/{session['id']}/attendance", headers=api.vs("370"))
    assert other_la.status_code == 404
    not_enrolled = api.client.get(
        f"/sessions/{session['id']}/attendance", headers=api.school(api.world.control("202")[0])
    )
    assert not_enrolled.status_code == 404
    assert (
        api.client.get(
            f"/sessions/{session['id']}/attendance/unmatched", headers=api.school(a)
        ).status_code
        == 403
    )
    # Each school sees its own rows only, never a colleague school's or the Virtual School's.
    b = camden["urns"][1]
    theirs = api.attendance(session["id"], headers=api.school(b))
    assert theirs and {r["urn"] for r in theirs} == {b}
    assert not {r["staff_id"] for r in own} & {r["staff_id"] for r in theirs}


def test_schools_and_virtual_schools_find_the_sessions_of_their_cohort(
    api: Any, camden: dict[str, Any]
) -> None:
    """They hold workshop.read_attendance only: the cohort (a school: the one it is enrolled in;
    a Virtual School: its LA's) and its sessions lead them to the attendance."""
    cohort_id, a = camden["cohort"]["id"], camden["urns"][0]
    barnsley, _, (barnsley_school, *_) = api.enrolled("370", count=1)
    expected = [s["id"] for s in sorted(camden["sessions"].values(), key=lambda s: s["position"])]
    for headers in (api.school(a), api.vs("202")):
        listed = api.ok(api.client.get("/cohorts", headers=headers))["data"]
        assert [c["id"] for c in listed] == [cohort_id]
        assert api.ok(api.client.get(f"/cohorts/{cohort_id}", headers=headers))["schools"] == 4
        sessions = api.ok(api.client.get(f"/cohorts/{cohort_id}/sessions", headers=headers))
        assert [s["id"] for s in sessions] == expected
        one = api.ok(api.client.get(f"/sessions/{expected[1]}", headers=headers))
        assert one["key"] == "workshop_1" and one["cohort_id"] == cohort_id
        assert api.attendance(expected[1], headers=headers)
        # Another LA's cohort is answered exactly as a missing one.
        hidden = api.client.get(f"/cohorts/{barnsley['id']}/sessions", headers=headers)
        missing = api.client.get("/cohorts/999999/sessions", headers=headers)
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json()["type"] == missing.json()["type"]
        assert hidden.json()["type"].endswith("/cohort-not-found")
        other_session = api.sessions(barnsley["id"])["workshop_1"]["id"]
        assert api.client.get(f"/sessions/{other_session}", headers=headers).status_code == 404
        # Still not the cohort's schools, attendees or the review list (workshop.read).
        for path in (f"/cohorts/{cohort_id}/schools", f"/cohorts/{cohort_id}/attendees"):
            assert api.client.get(path, headers=headers).status_code == 403
    # A school sees its own cohort, not its Virtual School's other cohorts; a school enrolled
    # nowhere sees none.
    assert [
        c["id"]
        for c in api.ok(api.client.get("/cohorts", headers=api.school(barnsley_school)))["data"]
    ] == [barnsley["id"]]
    control = api.school(api.world.control("202")[0])
    assert api.ok(api.client.get("/cohorts", headers=control))["data"] == []
    assert api.client.get(f"/cohorts/{cohort_id}/sessions", headers=control).status_code == 404
    assert api.client.get(f"/sessions/{expected[1]}", headers=control).status_code == 404
    # Seeing a session is not managing it.
    assert (
        api.client.patch(
            f"/sessions/{expected[1]}", headers=api.school(a), json={"facilitator": "x"}
        ).status_code
        == 403
    )
