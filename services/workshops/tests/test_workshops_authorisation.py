"""Authorisation as a matrix: identities (single roles and combined-role tokens) × every endpoint
× own and other object. A request is allowed only when ONE role of the token both grants the
action and covers the object.

The expectations come from the specification below (issue 10, item 7), written out here
independently of ``rlc_shared.policy``: delivery manages the programme, cohorts, sessions and
attendance; the evaluator reads everything and manages observations, case studies, incentives,
costs and the compliance rule; trial managers and auditors read; a school sees its own
attendance, a Virtual School its LA's, and each the cohorts and sessions that attendance belongs
to (``workshop.read_attendance``: a school the cohort it is enrolled in, a Virtual School its LA's
cohorts; any other cohort or session is answered as missing). Writes are sent with a body that fails validation after
authorisation (an allowed write answers 422 and changes nothing); the state is compared at the
end.
"""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass, field
from typing import Any

import pytest

from rlc_testkit import api_routes
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

h = sys.modules["workshops_tests_helpers"]
LA, OTHER_LA = "202", "370"
READERS = {"delivery": ALL, "evaluator": ALL, "trial_manager": ALL, "auditor": ALL, "service": ALL}

#: The specification: action → role → scope.
SPEC: dict[str, dict[str, str]] = {
    "workshop.manage": {"delivery": ALL},
    "workshop.read": READERS,
    "workshop.read_attendance": READERS | {"virtual_school": OWN_LA, "school": OWN_SCHOOL},
    "evaluation.manage": {"evaluator": ALL},
    "audit.read": {"trial_manager": ALL, "auditor": ALL},
}


def identities(own_urn: int) -> list[Identity]:
    """The tokens of the matrix; ``own_urn`` is the school enrolled in the own LA's cohort."""
    return [
        *each_role_alone(LA, own_urn, services=["service:analytics"]),
        Identity("virtual school, no la_code", ("virtual_school",)),
        Identity("auditor + virtual school", ("auditor", "virtual_school"), la_code=LA),
        Identity("evaluator + school", ("evaluator", "school"), urn=own_urn),
        Identity("delivery + virtual school", ("delivery", "virtual_school"), la_code=LA),
        Identity("delivery + evaluator", ("delivery", "evaluator")),
        Identity("service + school", ("service", "school"), urn=own_urn, sub="svc"),
        Identity(
            "other LA's VS + school", ("virtual_school", "school"), la_code=OTHER_LA, urn=own_urn
        ),
        Identity("trial manager + auditor", ("trial_manager", "auditor")),
    ]


INVALID = {"json": {"not_a_field": True}}
EMPTY_FORM = {"files": {"unrelated": ("x.txt", b"x", "text/plain")}}


@dataclass
class Endpoint:
    method: str
    template: str
    action: str
    kind: str  # "cohort", "session", "school" (own/other objects) or "none"
    kw: dict[str, Any] = field(default_factory=dict)
    hidden_code: str | None = None


C, S, E = "cohort-not-found", "session-not-found", "school-not-enrolled"
R, M, X = "workshop.read", "workshop.manage", "evaluation.manage"
RA = "workshop.read_attendance"
ENDPOINTS = [
    Endpoint("GET", "/programme", R, "none"),
    Endpoint("PATCH", "/programme/sessions/{programme_session_id}", M, "none", INVALID),
    Endpoint("POST", "/cohorts", M, "none", INVALID),
    Endpoint("GET", "/cohorts", RA, "none"),
    Endpoint("GET", "/cohorts/{cohort_id}", RA, "cohort", hidden_code=C),
    Endpoint("GET", "/cohorts/{cohort_id}/sessions", RA, "cohort", hidden_code=C),
    Endpoint("POST", "/cohorts/{cohort_id}/schools", M, "cohort", INVALID, C),
    Endpoint("GET", "/cohorts/{cohort_id}/schools", R, "cohort", hidden_code=C),
    Endpoint("GET", "/cohorts/{cohort_id}/attendees", R, "cohort", hidden_code=C),
    Endpoint("POST", "/cohorts/{cohort_id}/attendees/refresh", M, "cohort", INVALID, C),
    Endpoint("GET", "/sessions/{session_id}", RA, "session", hidden_code=S),
    Endpoint("PATCH", "/sessions/{session_id}", M, "session", INVALID, S),
    Endpoint("GET", "/sessions/{session_id}/attendance", RA, "session", hidden_code=S),
    Endpoint("POST", "/sessions/{session_id}/attendance", M, "session", INVALID, S),
    Endpoint("POST", "/sessions/{session_id}/attendance-reports", M, "session", EMPTY_FORM, S),
    Endpoint("GET", "/sessions/{session_id}/attendance-reports", R, "session", hidden_code=S),
    Endpoint("GET", "/sessions/{session_id}/attendance/unmatched", R, "session", hidden_code=S),
    Endpoint("POST", "/sessions/{own_session_id}/attendance/unmatched/{participant_id}", M, "none", INVALID),
    Endpoint("GET", "/attendance-reports/{report_id}", R, "none"),
    Endpoint("GET", "/attendance-reports/{report_id}/file", R, "none"),
    Endpoint("POST", "/attendance-reports/{report_id}/retraction", M, "none", INVALID),
    Endpoint("GET", "/attendance-threshold", R, "none"),
    Endpoint("PUT", "/attendance-threshold", M, "none", INVALID),
    Endpoint("GET", "/dosage", RA, "none"),
    Endpoint("GET", "/dosage/{urn}", RA, "school", hidden_code=E),
    Endpoint("GET", "/compliance-rules", R, "none"),
    Endpoint("POST", "/compliance-rules", X, "none", INVALID),
    Endpoint("GET", "/compliance-rules/{version}", R, "none"),
    Endpoint("PUT", "/compliance-rules/{draft_version}", X, "none", INVALID),
    Endpoint("POST", "/compliance-rules/{draft_version}/freeze", X, "none", INVALID),
    Endpoint("GET", "/fidelity-checklist", R, "none"),
    Endpoint("POST", "/sessions/{session_id}/observations", X, "session", INVALID, S),
    Endpoint("GET", "/observations", R, "none"),
    Endpoint("GET", "/observations/{observation_id}", R, "none"),
    Endpoint("POST", "/case-studies", X, "none", INVALID),
    Endpoint("GET", "/case-studies", R, "none"),
    Endpoint("GET", "/case-studies/summary", R, "none"),
    Endpoint("GET", "/case-studies/{case_study_id}", R, "none"),
    Endpoint("POST", "/case-studies/{case_study_id}/withdrawal", X, "none", INVALID),
    Endpoint("POST", "/case-studies/{case_study_id}/interviews", X, "none", INVALID),
    Endpoint("GET", "/case-studies/{case_study_id}/interviews", R, "none"),
    Endpoint("PATCH", "/interviews/{interview_id}", X, "none", INVALID),
    Endpoint("GET", "/incentives", R, "none"),
    Endpoint("GET", "/incentives/{incentive_id}", R, "none"),
    Endpoint("PATCH", "/incentives/{incentive_id}", X, "none", INVALID),
    Endpoint("POST", "/costs", X, "none", INVALID),
    Endpoint("GET", "/costs", R, "none"),
    Endpoint("GET", "/costs/{cost_id}", R, "none"),
    Endpoint("PATCH", "/costs/{cost_id}", X, "none", INVALID),
    Endpoint("GET", "/audit-events", "audit.read", "none"),
]  # fmt: skip


@pytest.fixture
def trial(api: Any) -> dict[str, Any]:
    """Two cohorts (own LA with the own school, other LA with another), a report with someone
    on the review list, an observation, a control case study with an interview and incentive, a
    cost, a frozen rule and a draft."""
    world = api.world
    own_urn, other_urn = world.intervention(LA)[0], world.intervention(OTHER_LA)[0]
    own, other = api.cohort(LA), api.cohort(OTHER_LA)
    assert api.enrol(own["id"], own_urn).status_code == 201
    assert api.enrol(other["id"], other_urn).status_code == 201
    own_sessions, other_sessions = api.sessions(own["id"]), api.sessions(other["id"])
    member = world.member(own_urn, "designated_teacher")
    day = dt.date(2021, 11, 15)
    report = api.ok(api.upload(
        own_sessions["workshop_1"]["id"],
        h.zoom_file(
            [h.Joined(member.name, member.email, h.at(day, 16), 150), h.Joined("Visitor", None, h.at(day, 16), 20)],
            day=day,
        ),
    ))  # fmt: skip
    (participant,) = api.unmatched(own_sessions["workshop_1"]["id"])
    observation = api.ok(
        api.client.post(
            f"/sessions/{own_sessions['workshop_1']['id']}/observations",
            headers=api.evaluator(),
            json={"observer": "o", "ratings": {"time_kept": "fully"}},
        )
    )
    study = api.ok(
        api.client.post(
            "/case-studies", headers=api.evaluator(), json={"urn": world.control(LA)[0]}
        )
    )
    interview = api.ok(
        api.client.post(
            f"/case-studies/{study['id']}/interviews",
            headers=api.evaluator(),
            json={"role": "head_teacher", "scheduled_at": "2022-03-01T10:00:00Z"},
        )
    )
    cost = api.ok(
        api.client.post(
            "/costs",
            headers=api.evaluator(),
            json={"category": "venue", "recurrence": "one_off", "amount": "300"},
        )
    )
    rule = api.frozen_rule()
    draft = api.ok(api.client.post("/compliance-rules", headers=api.evaluator()))
    programme = api.ok(api.client.get("/programme", headers=api.delivery()))
    return {
        "own_urn": own_urn,
        "other_urn": other_urn,
        "cohorts": {LA: own["id"], OTHER_LA: other["id"]},
        "sessions": {LA: own_sessions["workshop_1"]["id"], OTHER_LA: other_sessions["workshop_1"]["id"]},
        "subs": {
            "programme_session_id": programme["sessions"][0]["id"],
            "own_session_id": own_sessions["workshop_1"]["id"],
            "participant_id": participant["id"],
            "report_id": report["report_id"],
            "version": rule["version"],
            "draft_version": draft["version"],
            "observation_id": observation["id"],
            "case_study_id": study["id"],
            "interview_id": interview["id"],
            "incentive_id": study["incentive"]["id"],
            "cost_id": cost["id"],
        },
    }  # fmt: skip


def _state(api: Any, trial: dict[str, Any]) -> Any:
    d = api.delivery()
    return (
        api.attendance(trial["sessions"][LA]),
        api.unmatched(trial["sessions"][LA]),
        api.ok(api.client.get("/cohorts", headers=d)),
        api.ok(api.client.get("/compliance-rules", headers=d)),
        api.ok(api.client.get("/costs", headers=d)),
        api.ok(api.client.get("/case-studies", headers=d)),
        api.ok(api.client.get("/attendance-threshold", headers=d)),
        api.ok(api.client.get("/audit-events", headers=api.tm(), params={"limit": 1}))["count"],
    )


def test_every_route_is_in_the_matrix(client: Any) -> None:
    covered = {
        (e.method, e.template.replace("{own_session_id}", "{session_id}")) for e in ENDPOINTS
    }
    served = set()
    for path, methods in api_routes(client.app):
        if path in {
            "/",
            "/healthz",
            "/readyz",
            "/docs",
            "/docs/oauth2-redirect",
            "/redoc",
            "/openapi.json",
        }:
            continue
        for method in methods - {"HEAD", "OPTIONS"}:
            served.add((method, path))

    def normal(route: tuple[str, str]) -> tuple[str, str]:
        import re

        return route[0], re.sub(r"\{[^}]+\}", "{}", route[1])

    assert {normal(r) for r in served} == {normal(r) for r in covered}


def test_authorisation_matrix(api: Any, trial: dict[str, Any]) -> None:
    before = _state(api, trial)
    own_urn = trial["own_urn"]
    failures, checked = [], 0
    for who in identities(own_urn):
        headers = api.role(list(who.roles), **who.claims())
        for endpoint in ENDPOINTS:
            objects: list[Target | None]
            if endpoint.kind in ("cohort", "session"):
                objects = [Target(LA, own_urn), Target(OTHER_LA)]
            elif endpoint.kind == "school":
                objects = [Target(LA, own_urn), Target(OTHER_LA, trial["other_urn"])]
            else:
                objects = [None]
            for target in objects:
                la = target.la_code if target else LA
                subs = trial["subs"] | {
                    "cohort_id": trial["cohorts"][la],
                    "session_id": trial["sessions"][la],
                    "urn": target.urn if target and target.urn else own_urn,
                }
                path = endpoint.template.format(**subs)
                resp = api.client.request(endpoint.method, path, headers=headers, **endpoint.kw)
                want = expected(SPEC, who, endpoint.action, target)
                got = outcome(resp, endpoint.hidden_code)
                checked += 1
                if got != want:
                    failures.append(
                        f"{who.name}: {endpoint.method} {path} → {resp.status_code} ({got}), "
                        f"expected {want}"
                    )
    assert not failures, f"{len(failures)} of {checked} cases disagree:\n" + "\n".join(failures)
    assert checked > 900
    assert _state(api, trial) == before, "a refused (or invalid) request changed something"


def test_anonymous_is_refused(api: Any, trial: dict[str, Any]) -> None:
    for endpoint in ENDPOINTS:
        subs = trial["subs"] | {
            "cohort_id": trial["cohorts"][LA], "session_id": trial["sessions"][LA], "urn": trial["own_urn"]
        }  # fmt: skip
        resp = api.client.request(endpoint.method, endpoint.template.format(**subs), **endpoint.kw)
        assert resp.status_code == 401, (endpoint.template, resp.text)


def test_lists_are_scoped(api: Any, trial: dict[str, Any]) -> None:
    own, other = trial["own_urn"], trial["other_urn"]

    def urns(headers: dict[str, str]) -> list[int]:
        return [r["urn"] for r in api.ok(api.client.get("/dosage", headers=headers))["data"]]

    assert urns(api.evaluator()) == sorted([own, other])
    assert urns(api.vs(LA)) == [own] and urns(api.vs(OTHER_LA)) == [other]
    assert urns(api.school(own)) == [own]
    assert urns(api.role("virtual_school")) == []
    both = api.role(["virtual_school", "school"], la_code=OTHER_LA, urn=own)
    assert urns(both) == sorted([own, other])
    rows = api.attendance(trial["sessions"][LA], headers=api.school(own))
    assert {r["urn"] for r in rows} == {own}

    def cohorts(headers: dict[str, str]) -> list[int]:
        return [c["id"] for c in api.ok(api.client.get("/cohorts", headers=headers))["data"]]

    mine, theirs = trial["cohorts"][LA], trial["cohorts"][OTHER_LA]
    assert cohorts(api.evaluator()) == cohorts(api.delivery()) == [mine, theirs]
    assert cohorts(api.vs(LA)) == [mine] and cohorts(api.vs(OTHER_LA)) == [theirs]
    assert cohorts(api.school(own)) == [mine] and cohorts(api.school(other)) == [theirs]
    assert cohorts(api.school(api.world.control(LA)[0])) == []  # enrolled nowhere
    assert cohorts(api.role("virtual_school")) == []
    assert cohorts(both) == [mine, theirs]
