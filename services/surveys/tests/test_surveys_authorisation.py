"""Authorisation as a matrix: identities (single roles and combined-role tokens) × every endpoint
× own and other object. A request is allowed only when ONE role of the token both grants the
action and covers the object.

The expectations come from the specification below (issue 9, item 7), written out here
independently of ``rlc_shared.policy``. Writes are sent with a body that fails validation after
authorisation (so an allowed write answers 422 and changes nothing), and the test checks that
nothing changed at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
from surveys.models import AuditEvent, Export, SurveyResponse, SurveyRound, UnmatchedResponse

LA, OTHER_LA = "202", "370"

#: The specification: action → role → scope. The evaluator manages (a trial manager may also
#: upload an export by hand); the trial manager and the
#: auditor read everything; a Virtual School reads its LA's response rates and non-responders;
#: a school its own response count (not the list of non-responders); services read
#: (analytics); nobody else.
READERS = {"evaluator": ALL, "trial_manager": ALL, "auditor": ALL, "service": ALL}
SPEC: dict[str, dict[str, str]] = {
    "survey.manage": {"evaluator": ALL},
    "survey.upload_export": {"evaluator": ALL, "trial_manager": ALL},
    "survey.read": READERS,
    "survey.read_response_rates": READERS | {"virtual_school": OWN_LA, "school": OWN_SCHOOL},
    "survey.read_non_responders": {
        "evaluator": ALL,
        "trial_manager": ALL,
        "auditor": ALL,
        "virtual_school": OWN_LA,
    },
    "audit.read": {"trial_manager": ALL, "auditor": ALL},
}


def identities(own_urn: int) -> list[Identity]:
    return [
        *each_role_alone(LA, own_urn, services=["service:analytics"]),
        Identity("virtual school, no la_code", ("virtual_school",)),
        Identity("school, no urn", ("school",)),
        Identity("auditor + virtual school", ("auditor", "virtual_school"), la_code=LA),
        Identity("evaluator + school", ("evaluator", "school"), urn=own_urn),
        Identity("delivery + virtual school", ("delivery", "virtual_school"), la_code=LA),
        Identity(
            "other LA's VS + school", ("virtual_school", "school"), la_code=OTHER_LA, urn=own_urn
        ),
        Identity("trial manager + auditor", ("trial_manager", "auditor")),
        Identity("delivery + school", ("delivery", "school"), urn=own_urn),
    ]


INVALID = {"json": {"not_a_field": True}}
NO_FILE = {"files": {"unrelated": ("x.txt", b"x", "text/plain")}}


@dataclass
class Endpoint:
    method: str
    template: str
    action: str
    kind: str = "none"  # "la", "school" or "none"
    kw: dict[str, Any] = field(default_factory=dict)
    hidden_code: str | None = None


RATES = "/rounds/pre/response-rates"
ENDPOINTS = [
    Endpoint("GET", "/rounds", "survey.read"),
    Endpoint("GET", "/rounds/pre", "survey.read"),
    Endpoint("PUT", "/rounds/pre", "survey.manage", kw=INVALID),
    Endpoint("POST", "/rounds/pre/rescore", "survey.manage", kw=INVALID),
    Endpoint("GET", "/exports", "survey.read"),
    Endpoint("GET", "/exports/{export_id}", "survey.read"),
    Endpoint("POST", "/exports", "survey.upload_export", kw=NO_FILE),
    Endpoint("GET", "/unmatched", "survey.read"),
    Endpoint("POST", "/unmatched/{item_id}/resolve", "survey.manage", kw=INVALID),
    Endpoint("POST", "/teachers/withdrawals", "survey.manage", kw=INVALID),
    Endpoint("GET", "/rounds/pre/scales", "survey.read"),
    Endpoint("GET", "/rounds/pre/responses.csv", "survey.read"),
    Endpoint("GET", RATES + "?by=school", "survey.read_response_rates"),
    Endpoint("GET", RATES + "?by=arm", "survey.read_response_rates"),
    Endpoint(
        "GET",
        RATES + "?by=la&la_code={la}",
        "survey.read_response_rates",
        "la",
        hidden_code="local-authority-not-in-trial",
    ),
    Endpoint(
        "GET",
        RATES + "?by=school&urn={urn}",
        "survey.read_response_rates",
        "school",
        hidden_code="school-not-randomised",
    ),
    Endpoint("GET", "/rounds/pre/non-responding-schools", "survey.read_non_responders"),
    Endpoint(
        "GET",
        "/rounds/pre/non-responding-schools?la_code={la}",
        "survey.read_non_responders",
        "la",
        hidden_code="local-authority-not-in-trial",
    ),
    Endpoint("GET", "/audit-events", "audit.read"),
]


def _state(sv: Any) -> tuple[int, ...]:
    return tuple(
        sv.count(model)
        for model in (SurveyRound, Export, SurveyResponse, UnmatchedResponse, AuditEvent)
    )


def test_authorisation_matrix(sv: Any) -> None:
    w = sv.world
    sv.put_round()
    export = sv.ingest(
        sv.fx.csv_export(sv.rows([w["hillside"].email, "who@unknown.sch.uk"]), qualtrics=False)
    )
    item = sv.unmatched()[0]
    own, other = w["hillside"], w["valley"]
    before = _state(sv)
    failures, checked = [], 0
    for who in identities(own.urn):
        headers = sv.as_(list(who.roles), **who.claims())
        for endpoint in ENDPOINTS:
            if endpoint.kind == "school":
                objects: list[Target | None] = [Target(LA, own.urn), Target(OTHER_LA, other.urn)]
            elif endpoint.kind == "la":
                objects = [Target(LA), Target(OTHER_LA)]
            else:
                objects = [None]
            for target in objects:
                subs = {
                    "la": target.la_code if target else LA,
                    "urn": target.urn if target and target.urn else own.urn,
                    "export_id": export["id"],
                    "item_id": item["id"],
                }
                path = endpoint.template.format(**subs)
                resp = sv.client.request(endpoint.method, path, headers=headers, **endpoint.kw)
                want = expected(SPEC, who, endpoint.action, target)
                got = outcome(resp, endpoint.hidden_code)
                checked += 1
                if got != want:
                    failures.append(
                        f"{who.name}: {endpoint.method} {path} → {resp.status_code} ({got}), "
                        f"expected {want}"
                    )
    assert not failures, f"{len(failures)} of {checked} cases disagree:\n" + "\n".join(failures)
    assert checked > 300
    assert _state(sv) == before, "a refused (or invalid) request changed something"


def test_only_the_webhook_answers_without_a_token(sv: Any) -> None:
    sv.put_round()
    for endpoint in ENDPOINTS:
        path = endpoint.template.format(la=LA, urn=710001, export_id=1, item_id=1)
        resp = sv.client.request(endpoint.method, path, **endpoint.kw)
        assert resp.status_code == 401, (endpoint.template, resp.text)
    # The webhook is public, and refuses what is not signed (400, not 401).
    resp = sv.client.post(
        "/webhooks/ipsos", content=b"{}", headers={"content-type": "application/json"}
    )
    assert resp.status_code == 400 and resp.json()["reason"] == "missing-header"
