"""Bad input gets a clear 4xx problem and changes nothing (security probe findings 3, 6, 7, 8)."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from sqlalchemy import text

from rlc_shared.db import make_engine
from rlc_testkit import api_routes
from rlc_testkit.recruitment import LA, PDF, Api, assert_problem

URN = 100001
TOO_BIG = ["2147483648", "9223372036854775808", str(2**70), "1000000", "99999", "0", "-1"]


@pytest.fixture
def school(api: Api) -> dict:
    school = api.school_at("consented", URN)
    member = api.add_staff(URN)
    return {"school": school, "staff_id": member["id"]}


@pytest.mark.parametrize("bad", TOO_BIG)
def test_out_of_range_ids_are_422_on_every_school_route(api: Api, school: dict, bad: str) -> None:
    staff = school["staff_id"]
    for method, path in [
        ("GET", f"/schools/{bad}"),
        ("GET", f"/schools/{bad}/history"),
        ("POST", f"/schools/{bad}/nomination"),
        ("GET", f"/schools/{bad}/consent/form"),
        ("GET", f"/schools/{bad}/staff"),
        ("GET", f"/schools/{bad}/staff/{staff}"),
        ("GET", f"/schools/{URN}/staff/{bad}"),
        ("GET", f"/schools?urn={bad}"),
        ("GET", f"/gias/imports/{bad}"),
    ]:
        valid_row_id = bad in ("99999", "1000000")
        if valid_row_id and (path.startswith("/gias/imports/") or path.endswith(f"/staff/{bad}")):
            continue  # a valid row id that does not exist: a 404, tested below
        resp = api.client.request(method, path, headers=api.tm())
        body = assert_problem(resp, 422)
        assert body["errors"], (path, body)


#: Too large for the integer columns (int4; 2**63 overflows even int8).
TOO_LARGE = ["2147483648", str(2**63)]
#: Integers, but not six-digit URNs.
NOT_A_URN = ["12345", "1234567"]
#: A valid body for every route that needs one, so that the id in the path is what fails.
VALID_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/schools/{urn}/eligibility"): {
        "json": {"year56_social_worker_pupils": 3, "year56_looked_after_pupils": 1}
    },
    ("POST", "/schools/{urn}/consent"): {
        "data": {
            "head_teacher_name": "Sam Head",
            "consent_date": "2021-06-01",
            "random_allocation": "true",
            "evaluation": "true",
        },
        "files": {"form": ("consent.pdf", PDF, "application/pdf")},
    },
    ("POST", "/schools/{urn}/randomised"): {
        "json": {"run_id": "run-1", "arm": "control", "test": False, "statement": "a.b.c"}
    },
    ("POST", "/schools/{urn}/withdrawal"): {"json": {"reason": "moved away"}},
    ("PUT", "/schools/{urn}/email"): {"json": {"email": "office@hillside.sch.uk"}},
    ("POST", "/schools/{urn}/staff"): {"json": {"name": "Jo Teacher", "role": "year5_teacher"}},
    ("POST", "/schools/{urn}/staff/{staff_id}/consent"): {"json": {"consented_on": "2021-06-01"}},
    ("POST", "/schools/{urn}/staff/{staff_id}/withdrawal"): {"json": {"covers": "all"}},
}


def integer_id_routes(app: Any) -> list[tuple[str, str, list[str], bool]]:
    """Every (method, path, integer path parameters, needs a body) the app serves, walked from
    its routes and typed from its OpenAPI document (parameters of dependencies included)."""
    served = {
        (method, path)
        for path, methods in api_routes(app)
        for method in methods - {"HEAD", "OPTIONS"}
    }
    found = []
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            assert (method.upper(), path) in served, (method, path)
            ids = [
                p["name"]
                for p in operation.get("parameters", [])
                if p["in"] == "path" and p["schema"].get("type") == "integer"
            ]
            if ids:
                needs_body = operation.get("requestBody", {}).get("required", False)
                found.append((method.upper(), path, sorted(ids), needs_body))
    return found


@pytest.mark.parametrize(
    ("param", "bad"),
    [("urn", v) for v in TOO_LARGE + NOT_A_URN]
    + [("staff_id", v) for v in TOO_LARGE]
    + [("import_id", v) for v in TOO_LARGE],
)
def test_bad_ids_are_a_4xx_problem_on_every_route(
    api: Api, school: dict, param: str, bad: str
) -> None:
    """Every route with an integer id in its path, each method, the id out of its range: a 422
    problem naming that id (never a 5xx, never a database error), with a valid body where one is
    needed so the id is what fails, and nothing changed."""
    routes = [r for r in integer_id_routes(api.client.app) if param in r[2]]
    assert routes, f"no route has {{{param}}}"
    imports = api.ok(api.client.get("/gias/imports", headers=api.tm()))["data"]
    good = {"urn": URN, "staff_id": school["staff_id"], "import_id": imports[0]["id"]}
    # Allowed every action, recording an arm included: the id, not the token, must fail.
    headers = api.role(["trial_manager", "service"], sub="service:randomisation")
    before = (api.get_school(URN), api.history(URN))
    failures = []
    for method, path, _, needs_body in routes:
        body = VALID_BODIES.get((method, path))
        assert body is not None or not needs_body, f"give {method} {path} a valid body"
        url = path.format(**(good | {param: bad}))
        resp = api.client.request(method, url, headers=headers, **(body or {}))
        problem = resp.headers.get("content-type", "").startswith("application/problem+json")
        fields = {e["field"] for e in resp.json().get("errors", [])} if problem else set()
        if not (resp.status_code == 422 and problem and fields == {f"path.{param}"}):
            failures.append(f"{method} {url} → {resp.status_code} {fields or resp.text[:200]}")
    assert not failures, "\n".join(failures)
    assert (api.get_school(URN), api.history(URN)) == before


def test_every_integer_id_route_is_checked(api: Api) -> None:
    """The walk finds every route with an id in its path (a new one cannot be missed quietly):
    every path parameter of the app is one of the checked ids, or the LA code (a string)."""
    routes = integer_id_routes(api.client.app)
    with_ids = {(method, path) for method, path, _, _ in routes}
    for path, methods in api_routes(api.client.app):
        names = set(re.findall(r"\{(\w+)\}", path))
        assert names <= {"urn", "staff_id", "import_id", "la_code"}, path
        if names - {"la_code"}:
            assert {(m, path) for m in methods - {"HEAD", "OPTIONS"}} <= with_ids, path
    assert len(with_ids) == 15
    for method, path, _, needs_body in routes:
        assert not needs_body or (method, path) in VALID_BODIES, (method, path)


def test_missing_but_valid_ids_are_404(api: Api, school: dict) -> None:
    assert_problem(api.client.get("/gias/imports/99999", headers=api.tm()), 404, "99999")
    assert_problem(api.client.get("/schools/999999", headers=api.tm()), 404, "999999")
    assert_problem(
        api.client.get(f"/schools/{URN}/staff/99999", headers=api.tm()), 404, "staff member"
    )


@pytest.mark.parametrize(
    "value", ['"abc"', "{}", "[]", "true", str(2**70), "-1.5", '"100001"', "null"]
)
def test_tampered_cursors_on_schools_are_400(api: Api, school: dict, value: str) -> None:
    cursor = base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")
    for path in ("/schools", "/local-authorities", "/gias/imports", f"/schools/{URN}/history"):
        resp = api.client.get(path, params={"cursor": cursor}, headers=api.tm())
        assert_problem(resp, 400, "cursor")


def test_loose_coercion_is_refused(api: Api) -> None:
    """``target_schools: false`` is not 0 and ``"12"`` is not 12 (finding 6)."""
    for bad in (False, True, "12", 1.5):
        body = {"la_code": LA, "name": "Camden", "contact_name": "Pat", "target_schools": bad}
        assert_problem(api.client.post("/local-authorities", headers=api.tm(), json=body), 422)
    assert api.client.get(f"/local-authorities/{LA}", headers=api.tm()).status_code == 404
    api.register_la(LA, target_schools=12)
    resp = api.client.patch(
        f"/local-authorities/{LA}", headers=api.tm(), json={"target_schools": False}
    )
    assert_problem(resp, 422, "target_schools")


def test_an_unsafe_request_id_never_reaches_the_audit_trail(api: Api, school: dict) -> None:
    unsafe = "<script>alert(1)</script>"
    resp = api.client.post(
        f"/schools/{URN}/withdrawal",
        headers={**api.tm(), "X-Request-ID": unsafe},
        json={"reason": "moved away"},
    )
    assert resp.status_code == 200, resp.text
    kept = resp.headers["x-request-id"]
    assert kept != unsafe
    event = api.history(URN)[-1]
    assert event["action"] == "school.withdrawn"
    events = api.ok(api.client.get("/audit-events?action=school.withdrawn", headers=api.tm()))[
        "data"
    ]
    assert events[-1]["request_id"] == kept


def test_an_html_file_declared_as_pdf_is_refused(api: Api) -> None:
    api.school_at("eligible", URN)
    html = b"<!doctype html><script>alert(document.cookie)</script>"
    resp = api.consent(URN, headers=api.tm(), form=html)
    assert_problem(resp, 415, "not a PDF")
    assert api.get_school(URN)["status"] == "eligible"


def test_a_document_is_not_orphaned_when_the_database_write_fails(api: Api, settings) -> None:
    """The consent form is stored, then the school's row cannot be written: the stored copy is
    deleted again on the rollback (finding 8)."""
    from pathlib import Path

    api.school_at("eligible", URN)
    storage = Path(settings.storage_dir)
    before = {p for p in storage.rglob("*") if p.is_file()}
    engine = make_engine(settings.database_url)
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        if postgres:
            conn.execute(
                text(
                    "CREATE FUNCTION refuse_school_update() RETURNS trigger AS $$ BEGIN "
                    "RAISE EXCEPTION 'school rows are read-only in this test'; END $$ "
                    "LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER refuse_school_update BEFORE UPDATE ON school "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_school_update()"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE TRIGGER refuse_school_update BEFORE UPDATE ON school BEGIN "
                    "SELECT RAISE(ABORT, 'school rows are read-only in this test'); END"
                )
            )
    try:
        from fastapi.testclient import TestClient

        with TestClient(api.client.app, raise_server_exceptions=False) as client:
            resp = client.post(
                f"/schools/{URN}/consent",
                headers=api.tm(),
                data={
                    "head_teacher_name": "Sam Head",
                    "consent_date": "2021-06-01",
                    "random_allocation": "true",
                    "evaluation": "true",
                },
                files={"form": ("consent.pdf", PDF, "application/pdf")},
            )
        # PostgreSQL's RAISE EXCEPTION is an internal error; SQLite reports a trigger's RAISE as
        # a constraint failure, which the platform answers as a concurrent change (409).
        assert resp.status_code == (500 if postgres else 409), resp.text
        assert resp.headers["x-request-id"]
    finally:
        with engine.begin() as conn:
            conn.execute(
                text("DROP TRIGGER refuse_school_update" + (" ON school" if postgres else ""))
            )
            if postgres:
                conn.execute(text("DROP FUNCTION refuse_school_update()"))
        engine.dispose()
    after = {p for p in storage.rglob("*") if p.is_file()}
    assert after == before, f"orphaned documents: {sorted(map(str, after - before))}"
    assert api.get_school(URN)["status"] == "eligible"
