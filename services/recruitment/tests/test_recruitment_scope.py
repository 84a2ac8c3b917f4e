"""Scope: every endpoint that takes an id refuses other LAs' and other schools' tokens (403)."""

from __future__ import annotations

from typing import Any

import pytest

from rlc_testkit.recruitment import LA, OTHER_LA, PDF, Api, assert_problem

URN, OTHER_URN = 100001, 100002

SCHOOL_ENDPOINTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/schools/{urn}", {}),
    ("GET", "/schools/{urn}/history", {}),
    ("POST", "/schools/{urn}/nomination", {}),
    ("POST", "/schools/{urn}/eligibility", {"json": {"year56_social_worker_pupils": 0}}),
    (
        "POST",
        "/schools/{urn}/consent",
        {
            "data": {
                "head_teacher_name": "X",
                "consent_date": "2021-06-01",
                "random_allocation": "true",
                "evaluation": "true",
            },
            "files": {"form": ("f.pdf", PDF, "application/pdf")},
        },
    ),
    ("GET", "/schools/{urn}/consent/form", {}),
    ("POST", "/schools/{urn}/randomised", {"json": {"run_id": "r", "arm": "control"}}),
    ("POST", "/schools/{urn}/withdrawal", {"json": {"reason": "hostile"}}),
    ("PUT", "/schools/{urn}/email", {"json": {"email": "office@school.sch.uk"}}),
    ("GET", "/schools/{urn}/staff", {}),
    ("POST", "/schools/{urn}/staff", {"json": {"name": "Eve", "role": "year6_teacher"}}),
    ("GET", "/schools/{urn}/staff/{staff_id}", {}),
    ("POST", "/schools/{urn}/staff/{staff_id}/consent", {"json": {"consented_on": "2021-06-01"}}),
    ("POST", "/schools/{urn}/staff/{staff_id}/withdrawal", {"json": {"covers": "all"}}),
]
LA_ENDPOINTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/local-authorities/{la}", {}),
    ("PATCH", "/local-authorities/{la}", {"json": {"target_schools": 1}}),
    (
        "POST",
        "/local-authorities/{la}/data-sharing-agreement",
        {
            "data": {"signed_on": "2021-06-01", "reference": "DSA-X"},
            "files": {"document": ("d.pdf", PDF, "application/pdf")},
        },
    ),
    ("GET", "/local-authorities/{la}/data-sharing-agreement/document", {}),
    ("PUT", "/local-authorities/{la}/virtual-school", {"json": {"head_name": "Mallory"}}),
    ("GET", "/funnel?la_code={la}", {}),
]


@pytest.fixture
def world(api: Api) -> dict[str, Any]:
    """A consented school with a consent form and a teacher, in an LA with a signed DSA."""
    api.school_at("consented", URN)
    api.school_at("nominated", OTHER_URN)
    api.register_la(OTHER_LA)
    resp = api.client.post(
        f"/local-authorities/{LA}/data-sharing-agreement",
        headers=api.tm(),
        data={"signed_on": "2021-05-20", "reference": "DSA-202"},
        files={"document": ("dsa.pdf", PDF, "application/pdf")},
    )
    api.ok(resp)
    staff = api.add_staff(URN)
    return {"urn": URN, "staff_id": staff["id"], "la": LA}


def _call(api: Api, method: str, path: str, kw: dict[str, Any], headers: dict[str, str]) -> Any:
    return api.client.request(method, path, headers=headers, **kw)


def _state(api: Api) -> tuple[Any, ...]:
    school = api.get_school(URN)
    la = api.ok(api.client.get(f"/local-authorities/{LA}", headers=api.tm()))
    return school, la, api.history(URN)


@pytest.mark.parametrize(("method", "template", "kw"), SCHOOL_ENDPOINTS, ids=lambda v: str(v))
def test_school_endpoints_refuse_other_la_and_other_school(
    api: Api, world: dict[str, Any], method: str, template: str, kw: dict[str, Any]
) -> None:
    path = template.format(**world)
    before = _state(api)
    other_la = _call(api, method, path, kw, api.vs(OTHER_LA))
    assert_problem(other_la, 403)
    other_school = _call(api, method, path, kw, api.school(OTHER_URN))
    assert_problem(other_school, 403)
    no_claim = _call(api, method, path, kw, api.role("virtual_school"))
    assert_problem(no_claim, 403)
    assert _state(api) == before


@pytest.mark.parametrize(("method", "template", "kw"), LA_ENDPOINTS, ids=lambda v: str(v))
def test_la_endpoints_refuse_other_la_and_schools(
    api: Api, world: dict[str, Any], method: str, template: str, kw: dict[str, Any]
) -> None:
    path = template.format(**world)
    before = _state(api)
    assert_problem(_call(api, method, path, kw, api.vs(OTHER_LA)), 403)
    assert_problem(_call(api, method, path, kw, api.school(URN)), 403)
    assert _state(api) == before


def test_own_scope_is_allowed(api: Api, world: dict[str, Any]) -> None:
    for headers in (api.vs(LA), api.school(URN)):
        assert api.client.get(f"/schools/{URN}", headers=headers).status_code == 200
        assert api.client.get(f"/schools/{URN}/history", headers=headers).status_code == 200
        form = api.client.get(f"/schools/{URN}/consent/form", headers=headers)
        assert form.status_code == 200 and form.content == PDF
    resp = api.client.get(
        f"/local-authorities/{LA}/data-sharing-agreement/document", headers=api.vs()
    )
    assert resp.content == PDF


def test_lists_are_scoped(api: Api, world: dict[str, Any]) -> None:
    api.school_at(None, 200001, la_code=OTHER_LA)

    def urns(headers: dict[str, str]) -> list[int]:
        return [s["urn"] for s in api.ok(api.client.get("/schools", headers=headers))["data"]]

    assert urns(api.tm()) == [URN, OTHER_URN, 200001]
    assert urns(api.vs(LA)) == [URN, OTHER_URN]
    assert urns(api.vs(OTHER_LA)) == [200001]
    assert urns(api.school(URN)) == [URN]
    assert urns(api.role("virtual_school")) == []  # a token without its la_code claim
    las = api.ok(api.client.get("/local-authorities", headers=api.vs(OTHER_LA)))["data"]
    assert [la["la_code"] for la in las] == [OTHER_LA]
    import_id = api.ok(api.client.get("/gias/imports", headers=api.tm()))["data"][0]["id"]
    for headers in (api.vs(LA), api.school(URN), api.service(), api.role("evaluator")):
        assert_problem(api.client.get(f"/gias/imports/{import_id}", headers=headers), 403)
    assert api.client.get(f"/gias/imports/{import_id}", headers=api.role("auditor")).is_success
    assert_problem(api.client.get("/gias/imports/424242", headers=api.tm()), 404, "424242")
    # A school token sees no LA list, imports or audit trail.
    for path in ("/local-authorities", "/gias/imports", "/audit-events", "/funnel"):
        assert_problem(api.client.get(path, headers=api.school(URN)), 403)


@pytest.mark.parametrize("role", ["auditor", "evaluator", "delivery"])
def test_readers_read_but_do_not_write(api: Api, world: dict[str, Any], role: str) -> None:
    headers = api.role(role)
    assert api.client.get(f"/schools/{URN}", headers=headers).status_code == 200
    assert api.client.get(f"/schools/{URN}/history", headers=headers).status_code == 200
    assert api.client.get("/funnel", headers=headers).status_code == 200
    before = _state(api)
    for method, template, kw in SCHOOL_ENDPOINTS + LA_ENDPOINTS:
        if method != "GET":
            resp = _call(api, method, template.format(**world), kw, headers)
            assert_problem(resp, 403)
    assert _state(api) == before


def test_anonymous_is_refused(api: Api, world: dict[str, Any]) -> None:
    for method, template, kw in SCHOOL_ENDPOINTS + LA_ENDPOINTS:
        resp = api.client.request(method, template.format(**world), **kw)
        assert_problem(resp, 401)
