"""Authorisation as a matrix: identities (single roles and combined-role tokens) × every endpoint
× own and other object. A request is allowed only when ONE role of the token both grants the
action and covers the object (security probe finding 1).

The expectations come from the specification below, written out here independently of the
policy in ``rlc_shared.policy``: the code must agree with it, combination by combination. Writes
are sent with a body that fails validation after authorisation (so an allowed write answers 422
and changes nothing), and the test checks that nothing changed at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from rlc_testkit.matrix import (
    ALL,
    OWN_LA,
    OWN_SCHOOL,
    Identity,
    Target,
    each_role_alone,
    expected,
    outcome,
)
from rlc_testkit.recruitment import LA, OTHER_LA, PDF, Api

OWN_URN, OTHER_URN = 100001, 200001
RANDOMISATION = "service:randomisation"

TEAM_READ = {"trial_manager": ALL, "evaluator": ALL, "delivery": ALL, "auditor": ALL}
SCHOOL_READERS = TEAM_READ | {"service": ALL, "virtual_school": OWN_LA, "school": OWN_SCHOOL}
SCHOOL_EDITORS = {"trial_manager": ALL, "virtual_school": OWN_LA, "school": OWN_SCHOOL}
LA_EDITORS = {"trial_manager": ALL, "virtual_school": OWN_LA}

#: The specification: action → role → scope (a role keyed "service@<sub>" needs that subject).
SPEC: dict[str, dict[str, str]] = {
    "school.read": SCHOOL_READERS,
    "school.list_randomisable": {"trial_manager": ALL, "service": ALL},
    "school.nominate": LA_EDITORS,
    "school.assess_eligibility": LA_EDITORS,
    "school.consent": SCHOOL_EDITORS,
    "school.read_consent_form": {
        "trial_manager": ALL,
        "auditor": ALL,
        "virtual_school": OWN_LA,
        "school": OWN_SCHOOL,
    },
    "school.record_allocation": {f"service@{RANDOMISATION}": ALL},
    "school.withdraw": SCHOOL_EDITORS,
    "school.set_email": {"trial_manager": ALL},
    "staff.edit": SCHOOL_EDITORS,
    "la.read": TEAM_READ | {"service": ALL, "virtual_school": OWN_LA},
    "la.register": LA_EDITORS,
    "la.update": {"trial_manager": ALL},
    "la.sign_dsa": LA_EDITORS,
    "la.read_dsa_document": {"trial_manager": ALL, "auditor": ALL, "virtual_school": OWN_LA},
    "la.set_virtual_school": LA_EDITORS,
    "funnel.read": TEAM_READ | {"virtual_school": OWN_LA},
    "staff.lookup": {"trial_manager": ALL, "service": ALL},
    "gias.import": {"trial_manager": ALL},
    "gias.read_imports": {"trial_manager": ALL, "auditor": ALL},
    "audit.read": {"trial_manager": ALL, "auditor": ALL},
}


IDENTITIES = [
    *each_role_alone(LA, OWN_URN, services=[RANDOMISATION, "service:surveys"]),
    Identity("virtual school, no la_code", ("virtual_school",)),
    # Combined-role tokens: the probe's two, and others mixing a wide reader with a scoped writer.
    Identity("auditor + virtual school", ("auditor", "virtual_school"), la_code=LA),
    Identity("evaluator + school", ("evaluator", "school"), urn=OWN_URN),
    Identity("delivery + virtual school", ("delivery", "virtual_school"), la_code=LA),
    Identity("surveys service + school", ("service", "school"), urn=OWN_URN, sub="svc"),
    Identity("other LA's VS + school", ("virtual_school", "school"), la_code=OTHER_LA, urn=OWN_URN),
    Identity("trial manager + auditor", ("trial_manager", "auditor")),
]


INVALID = {"json": {"not_a_field": True}}
EMPTY_FORM = {"files": {"unrelated": ("x.txt", b"x", "text/plain")}}


@dataclass
class Endpoint:
    method: str
    template: str
    action: str
    kind: str  # "school", "la" or "none"
    kw: dict[str, Any] = field(default_factory=dict)
    hidden_code: str | None = None

    @property
    def read(self) -> str | None:
        return {"school": "school.read", "la": "la.read"}.get(self.kind)


S, L = "school-not-found", "local-authority-not-found"
ENDPOINTS = [
    Endpoint("GET", "/schools/{urn}", "school.read", "school", hidden_code=S),
    Endpoint("GET", "/schools/{urn}/history", "school.read", "school", hidden_code=S),
    Endpoint("POST", "/schools/{urn}/nomination", "school.nominate", "school", hidden_code=S),
    Endpoint(
        "POST", "/schools/{urn}/eligibility", "school.assess_eligibility", "school", INVALID, S
    ),
    Endpoint("POST", "/schools/{urn}/consent", "school.consent", "school", EMPTY_FORM, S),
    Endpoint(
        "GET", "/schools/{urn}/consent/form", "school.read_consent_form", "school", hidden_code=S
    ),
    Endpoint("POST", "/schools/{urn}/randomised", "school.record_allocation", "school", INVALID, S),
    Endpoint("POST", "/schools/{urn}/withdrawal", "school.withdraw", "school", INVALID, S),
    Endpoint("PUT", "/schools/{urn}/email", "school.set_email", "school", INVALID, S),
    Endpoint("GET", "/schools/{urn}/staff", "school.read", "school", hidden_code=S),
    Endpoint("POST", "/schools/{urn}/staff", "staff.edit", "school", INVALID, S),
    Endpoint("GET", "/schools/{urn}/staff/{staff_id}", "school.read", "school", hidden_code=S),
    Endpoint("POST", "/schools/{urn}/staff/{staff_id}/consent", "staff.edit", "school", INVALID, S),
    Endpoint(
        "POST", "/schools/{urn}/staff/{staff_id}/withdrawal", "staff.edit", "school", INVALID, S
    ),
    Endpoint(
        "POST",
        "/schools/by-email",
        "school.read",
        "school",
        {"json": {"email": "{email}"}},
        "no-school-with-email",
    ),
    Endpoint("GET", "/local-authorities/{la}", "la.read", "la", hidden_code=L),
    Endpoint("PATCH", "/local-authorities/{la}", "la.update", "la", INVALID, L),
    Endpoint(
        "POST", "/local-authorities/{la}/data-sharing-agreement", "la.sign_dsa", "la", EMPTY_FORM, L
    ),
    Endpoint(
        "GET",
        "/local-authorities/{la}/data-sharing-agreement/document",
        "la.read_dsa_document",
        "la",
        hidden_code=L,
    ),
    Endpoint(
        "PUT", "/local-authorities/{la}/virtual-school", "la.set_virtual_school", "la", INVALID, L
    ),
    Endpoint("GET", "/funnel?la_code={la}", "funnel.read", "la", hidden_code=L),
    Endpoint(
        "POST",
        "/local-authorities",
        "la.register",
        "la",
        {"json": {"la_code": "{la}", "name": "Again", "contact_name": "Pat"}},
    ),
    Endpoint("GET", "/schools", "school.read", "none"),
    Endpoint("POST", "/schools/by-emails", "school.read", "none", INVALID),
    Endpoint("POST", "/staff/by-emails", "staff.lookup", "none", INVALID),
    Endpoint("GET", "/schools/randomisable", "school.list_randomisable", "none"),
    Endpoint("GET", "/local-authorities", "la.read", "none"),
    Endpoint("POST", "/gias/imports", "gias.import", "none", EMPTY_FORM),
    Endpoint("POST", "/gias/email-imports", "gias.import", "none", EMPTY_FORM),
    Endpoint("GET", "/gias/imports", "gias.read_imports", "none"),
    Endpoint("GET", "/gias/imports/{import_id}", "gias.read_imports", "none"),
    Endpoint("GET", "/audit-events", "audit.read", "none"),
]


def _email(urn: int) -> str:
    return f"office@{urn}.sch.uk"


@pytest.fixture
def world(api: Api) -> dict[str, Any]:
    """Two consented schools with consent forms and staff, in two LAs with signed agreements."""
    ids: dict[int, int] = {}
    for urn, la_code in ((OWN_URN, LA), (OTHER_URN, OTHER_LA)):
        api.school_at("consented", urn, la_code=la_code)
        api.ok(
            api.client.post(
                f"/local-authorities/{la_code}/data-sharing-agreement",
                headers=api.tm(),
                data={"signed_on": "2021-05-20", "reference": f"DSA-{la_code}"},
                files={"document": ("dsa.pdf", PDF, "application/pdf")},
            )
        )
        ids[urn] = api.add_staff(urn)["id"]
    register = f"URN,email\n{OWN_URN},{_email(OWN_URN)}\n{OTHER_URN},{_email(OTHER_URN)}\n"
    api.ok(
        api.client.post(
            "/gias/email-imports",
            headers=api.tm(),
            files={"file": ("emails.csv", register.encode(), "text/csv")},
        )
    )
    imports = api.ok(api.client.get("/gias/imports", headers=api.tm()))["data"]
    return {"staff": ids, "import_id": imports[0]["id"]}


def _state(api: Api) -> Any:
    schools = [api.get_school(urn) for urn in (OWN_URN, OTHER_URN)]
    las = api.ok(api.client.get("/local-authorities", headers=api.tm()))["data"]
    audit = api.ok(api.client.get("/audit-events?limit=500", headers=api.tm()))["count"]
    return schools, las, audit


def _fill(value: Any, subs: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return value.format(**subs)
    if isinstance(value, dict):
        return {k: _fill(v, subs) for k, v in value.items()}
    return value


def test_authorisation_matrix(api: Api, world: dict[str, Any]) -> None:
    before = _state(api)
    failures = []
    checked = 0
    for who in IDENTITIES:
        headers = api.role(list(who.roles), **who.claims())
        for endpoint in ENDPOINTS:
            objects: list[Target | None]
            if endpoint.kind == "school":
                objects = [Target(LA, OWN_URN), Target(OTHER_LA, OTHER_URN)]
            elif endpoint.kind == "la":
                objects = [Target(LA), Target(OTHER_LA)]
            else:
                objects = [None]
            for target in objects:
                urn = target.urn if target and target.urn else OWN_URN
                subs = {
                    "urn": urn,
                    "la": target.la_code if target else LA,
                    "staff_id": world["staff"][urn],
                    "import_id": world["import_id"],
                    "email": _email(urn),
                }
                path = endpoint.template.format(**subs)
                resp = api.client.request(
                    endpoint.method, path, headers=headers, **_fill(endpoint.kw, subs)
                )
                want = expected(SPEC, who, endpoint.action, target, read=endpoint.read)
                if want == "hidden" and endpoint.hidden_code is None:
                    want = "forbidden"  # registering a new LA: nothing exists to hide
                got = outcome(resp, endpoint.hidden_code)
                checked += 1
                if got != want:
                    failures.append(
                        f"{who.name}: {endpoint.method} {path} → {resp.status_code} "
                        f"({got}), expected {want}"
                    )
    assert not failures, f"{len(failures)} of {checked} cases disagree:\n" + "\n".join(failures)
    assert checked > 800
    assert _state(api) == before, "a refused (or invalid) request changed something"


def test_the_probes_two_combined_tokens(api: Api, world: dict[str, Any]) -> None:
    """The exact requests that escaped scope before the fix, and that nothing changed."""
    before = _state(api)
    auditor_vs = api.role(["auditor", "virtual_school"], la_code=LA, sub="probe-1")
    resp = api.client.put(
        f"/local-authorities/{OTHER_LA}/virtual-school",
        headers=auditor_vs,
        json={"head_name": "Mallory"},
    )
    assert resp.status_code == 403, resp.text
    evaluator_school = api.role(["evaluator", "school"], urn=OWN_URN, sub="probe-2")
    resp = api.client.post(
        f"/schools/{OTHER_URN}/withdrawal", headers=evaluator_school, json={"reason": "hostile"}
    )
    assert resp.status_code == 403, resp.text
    resp = api.client.get(f"/schools/{OTHER_URN}/consent/form", headers=evaluator_school)
    assert resp.status_code == 403, resp.text
    assert _state(api) == before
    # Each role still does what it may on its own scope.
    own = api.client.put(
        f"/local-authorities/{LA}/virtual-school", headers=auditor_vs, json={"head_name": "Val"}
    )
    assert own.status_code == 200, own.text


def test_lists_are_scoped(api: Api, world: dict[str, Any]) -> None:
    def urns(headers: dict[str, str]) -> list[int]:
        return [s["urn"] for s in api.ok(api.client.get("/schools", headers=headers))["data"]]

    assert urns(api.tm()) == [OWN_URN, OTHER_URN]
    assert urns(api.vs(LA)) == [OWN_URN]
    assert urns(api.vs(OTHER_LA)) == [OTHER_URN]
    assert urns(api.school(OWN_URN)) == [OWN_URN]
    assert urns(api.role("virtual_school")) == []  # a token without its la_code claim
    both = api.role(["virtual_school", "school"], la_code=OTHER_LA, urn=OWN_URN)
    assert urns(both) == [OWN_URN, OTHER_URN]
    las = api.ok(api.client.get("/local-authorities", headers=api.vs(OTHER_LA)))["data"]
    assert [la["la_code"] for la in las] == [OTHER_LA]
    funnel = api.ok(api.client.get("/funnel", headers=api.vs(OTHER_LA)))
    assert [r["la_code"] for r in funnel["local_authorities"]] == [OTHER_LA]


def test_own_scope_downloads_the_documents(api: Api, world: dict[str, Any]) -> None:
    for headers in (api.vs(LA), api.school(OWN_URN)):
        form = api.client.get(f"/schools/{OWN_URN}/consent/form", headers=headers)
        assert form.status_code == 200 and form.content == PDF
        assert form.headers["content-disposition"].startswith("attachment;")
        assert form.headers["x-content-type-options"] == "nosniff"
    resp = api.client.get(
        f"/local-authorities/{LA}/data-sharing-agreement/document", headers=api.vs()
    )
    assert resp.content == PDF and "attachment" in resp.headers["content-disposition"]


def test_anonymous_is_refused(api: Api, world: dict[str, Any]) -> None:
    for endpoint in ENDPOINTS:
        subs = {
            "urn": OWN_URN,
            "la": LA,
            "staff_id": world["staff"][OWN_URN],
            "import_id": world["import_id"],
            "email": _email(OWN_URN),
        }
        resp = api.client.request(
            endpoint.method, endpoint.template.format(**subs), **_fill(endpoint.kw, subs)
        )
        assert resp.status_code == 401, (endpoint.template, resp.text)
