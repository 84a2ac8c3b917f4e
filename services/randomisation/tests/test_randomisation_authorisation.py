"""Authorisation as a matrix: identities (single roles and combined-role tokens) × every endpoint
× own and other object. A request is allowed only when ONE role of the token both grants the
action and covers the object.

The expectations come from the specification below, written out here independently of
``rlc_shared.policy``: the trial manager defines, freezes, executes, abandons and notifies runs
and alone sees test-mode allocations and flags one made in error; the evaluator and the auditor
read schemes and runs; the trial manager and the auditor read the log, its proofs and
checkpoints, and the audit trail; a school's executed live allocation is read by the trial team
and services, by its LA's Virtual School and by the school itself; the JWKS is public.

Writes are sent so that, when allowed, they still change nothing (a body that fails validation
after authorisation, or a run in the wrong state), and every write is followed by a check that
no row of any table changed. Another school's allocation is answered exactly as a missing one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from randomisation.models import ServiceModel
from rlc_testkit import Keys, api_routes
from rlc_testkit.matrix import (
    ALL,
    OWN_LA,
    OWN_SCHOOL,
    Identity,
    Target,
    each_role_alone,
    expected,
    grants,
)

LA, OTHER_LA = "E09000001", "E09000002"
OWN_URN, PEER_URN, OTHER_URN = 310001, 310002, 320001
MISSING_URN = 999999
LA_OF = {OWN_URN: LA, PEER_URN: LA, OTHER_URN: OTHER_LA}

#: The specification: action → role → scope.
SCHOOL_READERS = {
    "trial_manager": ALL,
    "evaluator": ALL,
    "delivery": ALL,
    "auditor": ALL,
    "service": ALL,
    "virtual_school": OWN_LA,
    "school": OWN_SCHOOL,
}
SPEC: dict[str, dict[str, str]] = {
    "randomisation.read": {"trial_manager": ALL, "evaluator": ALL, "auditor": ALL},
    "randomisation.manage": {"trial_manager": ALL},
    "allocation.read": SCHOOL_READERS,
    "allocation.read_test": {"trial_manager": ALL},
    "allocation.mark_in_error": {"trial_manager": ALL},
    "log.read": {"trial_manager": ALL, "auditor": ALL},
    "audit.read": {"trial_manager": ALL, "auditor": ALL},
}


IDENTITIES = [
    *each_role_alone(LA, OWN_URN, services=["service:randomisation", "service:analytics"]),
    Identity("virtual school, no la_code", ("virtual_school",)),
    Identity("school, no urn", ("school",)),
    # Combined-role tokens: a wide reader with a scoped role, two scoped roles, two wide ones.
    Identity("auditor + virtual school", ("auditor", "virtual_school"), la_code=LA),
    Identity("evaluator + school", ("evaluator", "school"), urn=OWN_URN),
    Identity("auditor + school", ("auditor", "school"), urn=OWN_URN),
    Identity("delivery + virtual school", ("delivery", "virtual_school"), la_code=LA),
    Identity("service + school", ("service", "school"), urn=OWN_URN, sub="svc"),
    Identity("school + own LA's VS", ("school", "virtual_school"), la_code=LA, urn=OWN_URN),
    Identity("school + other LA's VS", ("school", "virtual_school"), la_code=OTHER_LA, urn=OWN_URN),
    Identity("trial manager + auditor", ("trial_manager", "auditor")),
    Identity("evaluator + auditor", ("evaluator", "auditor")),
]


def visible_urns(who: Identity, la_code: str | None) -> list[int]:
    """The allocated schools a list shows this token (optionally of one LA): those one of its
    roles granting ``allocation.read`` covers."""
    return sorted(
        urn
        for urn, la in LA_OF.items()
        if (la_code is None or la == la_code)
        and grants(SPEC, who, "allocation.read", Target(la, urn))
    )


INVALID = {"json": {"not_a_field": True}}
R, M, A = "randomisation.read", "randomisation.manage", "allocation.read"
TEST = ("allocation.read", "allocation.read_test")
L, AUDIT = "log.read", "audit.read"


@dataclass
class Endpoint:
    method: str
    template: str
    #: Every action the request needs (the first scoped on the object); () for a public route.
    actions: tuple[str, ...]
    kind: str = "none"  # "school" (own and other school), "la" (own and other LA) or "none"
    kw: dict[str, Any] = field(default_factory=dict)
    hidden_code: str | None = None
    #: A list of allocations: which rows each token must see ("live" or "test").
    lists: str | None = None


NOT_ALLOCATED = "allocation-not-found"
ENDPOINTS = [
    Endpoint("POST", "/schemes", (M,), kw=INVALID),
    Endpoint("GET", "/schemes", (R,)),
    Endpoint("GET", "/schemes/{scheme_id}", (R,)),
    Endpoint("POST", "/schemes/{scheme_id}/runs", (M,), kw=INVALID),
    Endpoint("GET", "/runs", (R,)),
    Endpoint("GET", "/runs?scheme_id={scheme_id}", (R,)),
    Endpoint("GET", "/runs/{run_id}", (R,)),
    # Allowed, these answer 409 (wrong state) or 422 before anything changes or is called.
    Endpoint("POST", "/runs/{run_id}/freeze", (M,)),
    Endpoint("POST", "/runs/{draft_run_id}/execute", (M,), kw=INVALID),
    Endpoint("POST", "/runs/{draft_run_id}/abandon", (M,), kw=INVALID),
    Endpoint("POST", "/runs/{draft_run_id}/notify", (M,)),
    Endpoint("GET", "/allocations", (A,), lists="live"),
    Endpoint("GET", "/allocations?la_code={la}", (A,), "la", lists="live"),
    Endpoint("GET", "/allocations?run_id={run_id}", (A,), lists="live"),
    Endpoint("GET", "/allocations?test=true", TEST, lists="test"),
    Endpoint("GET", "/allocations?test=true&la_code={la}", TEST, "la", lists="test"),
    Endpoint("GET", "/allocations/{urn}", (A,), "school", hidden_code=NOT_ALLOCATED),
    Endpoint("GET", "/allocations/{urn}?test=true", TEST, "school", hidden_code=NOT_ALLOCATED),
    Endpoint("POST", "/allocations/{urn}/in-error", ("allocation.mark_in_error",), "school", INVALID),
    Endpoint("GET", "/log", (L,)),
    Endpoint("GET", "/log/export", (L,)),
    Endpoint("GET", "/log/checkpoint", (L,)),
    Endpoint("GET", "/log/proofs/inclusion?index=0", (L,)),
    Endpoint("GET", "/log/proofs/consistency?first=1", (L,)),
    Endpoint("GET", "/log/verify", (L,)),
    Endpoint("GET", "/audit-events", (AUDIT,)),
    Endpoint("GET", "/.well-known/jwks.json", ()),
]  # fmt: skip


@pytest.fixture
def world(client: TestClient, keys: Keys, freeze: Callable[..., None]) -> dict[str, Any]:
    """A live and a test scheme, each with a run executed over three schools in two LAs (own
    school, a peer in its LA, another LA's school), and a draft run."""
    tm = keys.headers("trial_manager")
    items = [
        {"urn": urn, "la_code": la, "name": f"School {urn}", "phase": "Primary"}
        for urn, la in LA_OF.items()
    ]
    ids: dict[str, str] = {}
    for mode in ("live", "test"):
        scheme = client.post("/schemes", json={"name": mode, "test": mode == "test"}, headers=tm)
        assert scheme.status_code == 201, scheme.text
        run = client.post(f"/schemes/{scheme.json()['id']}/runs", headers=tm)
        assert run.status_code == 201, run.text
        freeze(run.json()["id"], items)
        executed = client.post(f"/runs/{run.json()['id']}/execute", headers=tm)
        assert executed.status_code == 200, executed.text
        ids[f"{mode}_scheme"], ids[f"{mode}_run"] = scheme.json()["id"], run.json()["id"]
    draft = client.post(f"/schemes/{ids['live_scheme']}/runs", headers=tm)
    assert draft.status_code == 201, draft.text
    return {
        "scheme_id": ids["live_scheme"],
        "run_id": ids["live_run"],
        "draft_run_id": draft.json()["id"],
    }


def _state(engine: Any) -> dict[str, list[Any]]:
    """Every row of every table of the service."""
    with Session(engine) as session:
        rows = {
            table.name: sorted(map(tuple, session.execute(select(table)).all()), key=repr)
            for table in ServiceModel.metadata.sorted_tables
        }
        session.commit()
    return rows


def _same_as_missing(resp: Any, missing: Any, urn: int) -> bool:
    """Whether a refused object is answered exactly as one that was never allocated."""
    if missing.status_code != 404:
        return False
    got, never = resp.json(), missing.json()
    got["detail"] = got["detail"].replace(str(urn), "X")
    never["detail"] = never["detail"].replace(str(MISSING_URN), "X")
    got["instance"] = never["instance"] = None
    return got == never


def _outcome(resp: Any, endpoint: Endpoint, missing: Callable[[], Any], urn: int) -> str:
    assert resp.status_code not in (401, 500), resp.text
    if resp.status_code == 403:
        assert resp.headers["content-type"].startswith("application/problem+json")
        return "forbidden"
    if resp.status_code == 404 and resp.json().get("type", "").endswith(f"/{endpoint.hidden_code}"):
        return "hidden" if _same_as_missing(resp, missing(), urn) else "hidden, but not as missing"
    return "allowed"


def test_every_route_is_in_the_matrix(client: TestClient) -> None:
    def normal(method: str, path: str) -> tuple[str, str]:
        return method, re.sub(r"\{[^}]+\}", "{}", path.partition("?")[0])

    covered = {normal(e.method, e.template) for e in ENDPOINTS}
    served = set()
    for path, methods in api_routes(client.app):
        if path in {"/", "/healthz", "/readyz", "/docs", "/docs/oauth2-redirect", "/redoc"}:
            continue
        if path == "/openapi.json":
            continue
        for method in methods - {"HEAD", "OPTIONS"}:
            served.add(normal(method, path))
    assert served == covered
    assert {a for e in ENDPOINTS for a in e.actions} == set(SPEC)


def test_authorisation_matrix(
    client: TestClient, keys: Keys, world: dict[str, Any], engine: Any
) -> None:
    initial = before = _state(engine)
    failures: list[str] = []
    checked = 0
    for who in IDENTITIES:
        headers = keys.headers(list(who.roles), **who.claims())
        for endpoint in ENDPOINTS:
            objects: list[Target | None]
            if endpoint.kind == "school":
                objects = [Target(LA, OWN_URN), Target(OTHER_LA, OTHER_URN)]
            elif endpoint.kind == "la":
                objects = [Target(LA), Target(OTHER_LA)]
            else:
                objects = [None]
            for target in objects:
                subs = world | {
                    "urn": target.urn if target and target.urn else OWN_URN,
                    "la": target.la_code if target else LA,
                }
                path = endpoint.template.format(**subs)
                resp = client.request(endpoint.method, path, headers=headers, **endpoint.kw)
                checked += 1

                def missing(
                    endpoint: Endpoint = endpoint, subs: dict = subs, headers: dict = headers
                ) -> Any:
                    never = endpoint.template.format(**(subs | {"urn": MISSING_URN}))
                    return client.request(endpoint.method, never, headers=headers, **endpoint.kw)

                want = expected(
                    SPEC, who, endpoint.actions, target if endpoint.hidden_code else None
                )
                got = _outcome(resp, endpoint, missing, subs["urn"])
                where = f"{who.name}: {endpoint.method} {path} → {resp.status_code}"
                if got != want:
                    failures.append(f"{where} ({got}), expected {want}")
                elif got == "allowed" and endpoint.lists:
                    la_code = target.la_code if target else None
                    urns = sorted(a["urn"] for a in resp.json()["data"])
                    assert all(a["test"] == (endpoint.lists == "test") for a in resp.json()["data"])
                    if urns != visible_urns(who, la_code):
                        failures.append(
                            f"{where} listed {urns}, expected {visible_urns(who, la_code)}"
                        )
                if endpoint.method != "GET" and _state(engine) != before:
                    failures.append(f"{where} changed the database")
                    before = _state(engine)
    assert not failures, f"{len(failures)} of {checked} cases disagree:\n" + "\n".join(failures)
    per_identity = sum(1 if e.kind == "none" else 2 for e in ENDPOINTS)
    assert checked == len(IDENTITIES) * per_identity > 600
    assert _state(engine) == initial, "a refused (or invalid) request changed something"


def test_allowed_writes_reach_the_domain_and_refused_ones_are_not_looked_at(
    client: TestClient, keys: Keys, world: dict[str, Any], engine: Any
) -> None:
    """An allowed trial manager's write answers the domain's own 409/422 (the run's state, the
    body), never 403/404; the combined tokens of the probe are refused with 403, state unchanged."""
    before = _state(engine)
    tm = keys.headers("trial_manager")
    run, draft = world["run_id"], world["draft_run_id"]
    assert client.post(f"/runs/{run}/freeze", headers=tm).status_code == 409
    assert client.post(f"/runs/{draft}/notify", headers=tm).status_code == 409
    assert client.post(f"/runs/{draft}/abandon", headers=tm, json={}).status_code == 422
    for roles, claims in (
        (["auditor", "virtual_school"], {"la_code": LA}),
        (["evaluator", "school"], {"urn": OWN_URN}),
        (["school", "virtual_school"], {"la_code": LA, "urn": OWN_URN}),
        (["delivery", "service"], {"sub": "service:randomisation"}),
    ):
        headers = keys.headers(roles, **claims)
        for method, path, body in (
            ("POST", f"/allocations/{OWN_URN}/in-error", {"reason": "hostile"}),
            ("POST", f"/runs/{draft}/abandon", {"reason": "hostile"}),
            ("POST", f"/runs/{draft}/execute", None),
            ("POST", "/schemes", {"name": "hostile"}),
        ):
            resp = client.request(method, path, headers=headers, json=body)
            assert resp.status_code == 403, (roles, path, resp.text)
        test_read = client.get(f"/allocations/{OWN_URN}?test=true", headers=headers)
        assert test_read.status_code == 403, (roles, test_read.text)
    assert _state(engine) == before


def test_anonymous_is_refused(client: TestClient, world: dict[str, Any]) -> None:
    for endpoint in ENDPOINTS:
        path = endpoint.template.format(**(world | {"urn": OWN_URN, "la": LA}))
        resp = client.request(endpoint.method, path, **endpoint.kw)
        if endpoint.actions:
            assert resp.status_code == 401, (path, resp.text)
        else:
            assert resp.status_code == 200, (path, resp.text)
