"""Schools' GIAS email register: import, manual change, history, lookup by email."""

from __future__ import annotations

import logging

import pytest

from rlc_testkit.recruitment import LA, OTHER_LA, Api, GiasSchool, assert_problem

SECRET = "Head.Office@Hillside.SCH.UK"


def _import(api: Api, text: str, name: str = "gias_emails.csv"):
    return api.client.post(
        "/gias/email-imports",
        headers=api.tm(),
        files={"file": (name, text.encode("utf-8"), "text/csv")},
    )


@pytest.fixture
def schools(api: Api) -> None:
    api.ok(
        api.import_gias(
            [
                GiasSchool(urn=100001),
                GiasSchool(urn=100002),
                GiasSchool(urn=100003, la_code=OTHER_LA),
            ]
        )
    )


def _lookup(api: Api, email: str, headers: dict[str, str] | None = None):
    return api.client.get(
        "/schools/by-email", params={"email": email}, headers=headers or api.service()
    )


def test_import_normalises_and_rejects_unknown_urns_by_line(api: Api, schools: None) -> None:
    report = api.ok(
        _import(
            api,
            "URN,Email,Notes\n"
            f"100001, {SECRET} ,main office\n"
            "999999,someone@unknown.sch.uk,\n"
            "100002,not-an-email,\n"
            "100003,office@other.sch.uk,\n",
        )
    )
    assert (report["inserted"], report["updated"], report["unchanged"]) == (2, 0, 0)
    assert report["rejected"] == 2
    by_line = {r["line"]: r for r in report["rejections"]}
    assert "URN 999999 is not a school" in by_line[3]["reason"]
    assert "line 4 is not a valid address" in by_line[4]["reason"]
    assert "not-an-email" not in str(report)
    assert "someone@" not in str(report)
    # Domain lower-cased, local part kept.
    assert api.get_school(100001)["gias_email"] == "Head.Office@hillside.sch.uk"


def test_reimport_is_unchanged_and_a_new_address_keeps_history(api: Api, schools: None) -> None:
    api.ok(_import(api, f"URN,email\n100001,{SECRET}\n"))
    same = api.ok(_import(api, "URN,email\n100001,Head.Office@hillside.sch.uk\n"))
    assert (same["inserted"], same["updated"], same["unchanged"]) == (0, 0, 1)
    changed = api.ok(_import(api, "URN,email\n100001,admin@hillside.sch.uk\n"))
    assert changed["updated"] == 1
    record = api.get_school(100001)
    assert record["gias_email"] == "admin@hillside.sch.uk"
    history = record["email_history"]
    assert [e["email"] for e in history] == ["admin@hillside.sch.uk", "Head.Office@hillside.sch.uk"]
    assert history[0]["valid_to"] is None
    assert history[1]["valid_to"] == history[0]["valid_from"]
    events = [e for e in api.history(100001) if e["action"] == "school.gias_email_set"]
    assert events[-1]["old"] == {"gias_email": "Head.Office@hillside.sch.uk"}
    assert events[-1]["new"]["gias_email"] == "admin@hillside.sch.uk"


def test_lookup_by_current_and_historical_email(api: Api, schools: None) -> None:
    api.ok(_import(api, f"URN,email\n100001,{SECRET}\n"))
    resp = api.client.put(
        "/schools/100001/email",
        headers=api.tm(),
        json={"email": "new.office@hillside.sch.uk", "reason": "School told us"},
    )
    assert api.ok(resp)["gias_email"] == "new.office@hillside.sch.uk"
    current = api.ok(_lookup(api, "NEW.OFFICE@Hillside.sch.uk"))
    assert (current["urn"], current["email_match"]) == (100001, "current")
    old = api.ok(_lookup(api, "head.office@HILLSIDE.sch.uk"))
    assert (old["urn"], old["email_match"]) == (100001, "historical")
    posted = api.client.post(
        "/schools/by-email", headers=api.service(), json={"email": "head.office@hillside.sch.uk"}
    )
    assert api.ok(posted)["urn"] == 100001
    assert old["gias_email"] == "new.office@hillside.sch.uk"


def test_unknown_email_is_a_404_problem_without_the_address(
    api: Api, schools: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    problem = assert_problem(_lookup(api, "nobody.secret@nowhere.sch.uk"), 404)
    assert problem["type"].endswith("no-school-with-email")
    assert "nobody.secret" not in str(problem)
    problem = assert_problem(_lookup(api, "nobody.secret@@nowhere"), 422)
    assert "nobody.secret" not in str(problem) and "nowhere" not in str(problem)
    # Our own log lines (the test client's httpx logger prints the URL it was asked for).
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("httpx")]
    assert ours and not [m for m in ours if "nobody.secret" in m or "%40" in m]
    # POST keeps the address out of URLs (and so out of proxies' access logs).
    resp = api.client.post(
        "/schools/by-email", headers=api.service(), json={"email": "nobody.secret@nowhere.sch.uk"}
    )
    assert_problem(resp, 404)


def test_lookup_respects_scope(api: Api, schools: None) -> None:
    api.ok(_import(api, "URN,email\n100001,office@a.sch.uk\n100003,office@b.sch.uk\n"))
    assert api.ok(_lookup(api, "office@a.sch.uk", api.vs(LA)))["urn"] == 100001
    # Finding 5: another school's address is answered exactly as an unknown one.
    unknown = assert_problem(_lookup(api, "nobody@nowhere.sch.uk", api.vs(LA)), 404)
    other_la = assert_problem(_lookup(api, "office@b.sch.uk", api.vs(LA)), 404)
    other_school = assert_problem(_lookup(api, "office@a.sch.uk", api.school(100002)), 404)
    assert unknown["detail"] == other_la["detail"] == other_school["detail"]
    assert unknown["type"] == other_la["type"] == other_school["type"]
    # A combined token still finds it through the role that may read every school.
    both = api.role(["evaluator", "school"], urn=100002)
    assert api.ok(_lookup(api, "office@a.sch.uk", both))["urn"] == 100001


def test_manual_email_must_be_valid_and_is_trial_manager_only(api: Api, schools: None) -> None:
    resp = api.client.put("/schools/100001/email", headers=api.tm(), json={"email": "x@"})
    assert_problem(resp, 422, "not a valid address")
    resp = api.client.put(
        "/schools/100001/email", headers=api.vs(LA), json={"email": "office@a.sch.uk"}
    )
    assert_problem(resp, 403)


@pytest.mark.parametrize(
    ("body", "needle"),
    [("", "empty"), ("URN;email\n1;a@b.uk\n", "missing the column"), ("%PDF-1.7\n", "PDF")],
)
def test_malformed_register_writes_nothing(api: Api, schools: None, body: str, needle: str) -> None:
    assert_problem(_import(api, body), 422, needle)
    imports = api.ok(api.client.get("/gias/imports", headers=api.tm()))["data"]
    assert [i["kind"] for i in imports] == ["establishments"]


def test_bulk_lookup_current_historical_unknown_in_order(api: Api, schools: None) -> None:
    api.ok(_import(api, "URN,email\n100001,old@a.sch.uk\n100002,office@b.sch.uk\n"))
    api.ok(_import(api, "URN,email\n100001,new@a.sch.uk\n", name="second.csv"))
    emails = [
        "  NEW@A.SCH.UK ",
        "old@a.sch.uk",
        "nobody@x.sch.uk",
        "not an email",
        "office@b.sch.uk",
    ]
    data = api.ok(
        api.client.post("/schools/by-emails", headers=api.service(), json={"emails": emails})
    )["data"]
    assert [d["email"] for d in data] == emails  # echoes only what was sent, in order
    assert [(d["urn"], d["match"]) for d in data] == [
        (100001, "current"),
        (100001, "historical"),
        (None, None),
        (None, None),
        (100002, "current"),
    ]
    assert data[0]["la_code"] == LA


def test_bulk_lookup_is_scoped_and_bounded(api: Api, schools: None) -> None:
    api.ok(_import(api, "URN,email\n100001,office@a.sch.uk\n100003,office@c.sch.uk\n"))
    body = {"emails": ["office@a.sch.uk", "office@c.sch.uk"]}
    mine = api.ok(api.client.post("/schools/by-emails", headers=api.vs(LA), json=body))["data"]
    assert [d["urn"] for d in mine] == [100001, None]  # another LA's school is not found
    assert_problem(
        api.client.post("/schools/by-emails", headers=api.tm(), json={"emails": ["a@b.uk"] * 501}),
        422,
        "emails",
    )


def test_staff_by_emails_for_services(api: Api) -> None:
    api.school_at("consented", 100001)
    teacher = api.add_staff(100001, email="Jo.Teacher@school.sch.uk")
    api.ok(
        api.client.post(
            f"/schools/100001/staff/{teacher['id']}/withdrawal",
            headers=api.tm(),
            json={"covers": ["questionnaires"]},
        )
    )
    body = {"emails": ["jo.teacher@SCHOOL.sch.uk", "someone@else.sch.uk"]}
    data = api.ok(api.client.post("/staff/by-emails", headers=api.service(), json=body))["data"]
    assert [d["email"] for d in data] == body["emails"]
    (match,) = data[0]["staff"]
    assert match["id"] == teacher["id"] and match["urn"] == 100001
    assert match["withdrawal_covers"] == ["questionnaires"] and match["withdrawn_on"]
    assert "email" not in match
    assert data[1]["staff"] == []
    for headers in (api.vs(LA), api.school(100001), api.role("evaluator"), api.role("auditor")):
        assert_problem(api.client.post("/staff/by-emails", headers=headers, json=body), 403)
