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

from surveys.models import AuditEvent, Export, SurveyResponse, SurveyRound, UnmatchedResponse

ALL, OWN_LA, OWN_SCHOOL = "all", "own_la", "own_school"
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


@dataclass(frozen=True)
class Identity:
    name: str
    roles: tuple[str, ...]
    la_code: str | None = None
    urn: int | None = None
    sub: str | None = None


def identities(own_urn: int) -> list[Identity]:
    return [
        Identity("trial_manager", ("trial_manager",)),
        Identity("evaluator", ("evaluator",)),
        Identity("delivery", ("delivery",)),
        Identity("auditor", ("auditor",)),
        Identity("analytics service", ("service",), sub="service:analytics"),
        Identity("virtual school", ("virtual_school",), la_code=LA),
        Identity("school", ("school",), urn=own_urn),
        Identity("no roles", ()),
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


@dataclass(frozen=True)
class Target:
    la_code: str
    urn: int | None = None


def _covers(scope: str, who: Identity, target: Target) -> bool:
    if scope == ALL:
        return True
    if scope == OWN_LA:
        return who.la_code is not None and who.la_code == target.la_code
    return who.urn is not None and target.urn is not None and who.urn == target.urn


def expected(who: Identity, action: str, target: Target | None) -> str:
    scopes = [SPEC[action][r] for r in who.roles if r in SPEC[action]]
    if not scopes:
        return "forbidden"
    if target is None or any(_covers(s, who, target) for s in scopes):
        return "allowed"
    return "hidden"


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


def _outcome(resp: Any, endpoint: Endpoint) -> str:
    if resp.status_code == 403:
        return "forbidden"
    if resp.status_code == 404 and resp.json().get("type", "").endswith(f"/{endpoint.hidden_code}"):
        return "hidden"
    assert resp.status_code not in (401, 500), resp.text
    return "allowed"


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
        claims: dict[str, Any] = {"sub": who.sub or f"matrix-{who.name}"}
        if who.la_code:
            claims["la_code"] = who.la_code
        if who.urn:
            claims["urn"] = who.urn
        headers = sv.as_(list(who.roles), **claims)
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
                want = expected(who, endpoint.action, target)
                got = _outcome(resp, endpoint)
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
