"""Authorisation as a matrix: identities (single roles and combined-role tokens) × every endpoint
× two objects of each kind. A request is allowed only when ONE role of the token grants the
action; every analytics action is granted over everything (``all``), so there is nothing to hide
by scope, and an object the token may not act on is refused (403) before it is looked at.

The expectations come from the specification below, written out here independently of
``rlc_shared.policy``. Writes are sent with a body that fails validation after authorisation (an
allowed write answers 422 and changes nothing); the state is compared at the end. Pupil-level
data (the outcome imports, the stored snapshots) is the evaluator's alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from analytics_driver import Api
from fastapi.testclient import TestClient

from analytics.main import create_app
from analytics.models import ServiceModel
from rlc_shared.db import make_engine
from rlc_testkit import wipe
from rlc_testkit.matrix import ALL, Identity, each_role_alone, expected
from rlc_testkit.trial import pupil_rows, to_csv

READERS = {"evaluator": ALL, "trial_manager": ALL, "auditor": ALL}
#: The specification: action → role → scope.
SPEC: dict[str, dict[str, str]] = {
    "analysis.manage": {"evaluator": ALL},
    "analysis.read": READERS,
    "design.calculate": READERS,
    "audit.read": {"trial_manager": ALL, "auditor": ALL},
}


IDENTITIES = [
    *each_role_alone("202", 100001, services=["service:analytics", "service:randomisation"]),
    Identity("auditor + virtual school", ("auditor", "virtual_school"), la_code="202"),
    Identity("evaluator + school", ("evaluator", "school"), urn=100001),
    Identity("trial manager + auditor", ("trial_manager", "auditor")),
    Identity("delivery + school", ("delivery", "school"), urn=100001),
    Identity("service + virtual school", ("service", "virtual_school"), la_code="202"),
]


INVALID = {"json": {"not_a_field": True}}
EMPTY_FORM = {"files": {"unrelated": ("x.txt", b"x", "text/plain")}}


@dataclass
class Endpoint:
    method: str
    template: str
    action: str
    #: The kind of object in the path ("plan", "import", "analysis", "snapshot") or None.
    kind: str | None = None
    kw: dict[str, Any] = field(default_factory=dict)


ENDPOINTS = [
    Endpoint("POST", "/plans", "analysis.manage", None, INVALID),
    Endpoint("GET", "/plans", "analysis.read"),
    Endpoint("GET", "/plans/{plan}", "analysis.read", "plan"),
    Endpoint("PUT", "/plans/{plan}", "analysis.manage", "plan", INVALID),
    Endpoint("POST", "/plans/{plan}/freeze", "analysis.manage", "plan", INVALID),
    Endpoint("POST", "/outcomes/imports", "analysis.manage", None, EMPTY_FORM),
    Endpoint("GET", "/outcomes/imports", "analysis.manage"),
    Endpoint("GET", "/outcomes/imports/{import}", "analysis.manage", "import"),
    Endpoint("POST", "/analyses", "analysis.manage", None, INVALID),
    Endpoint("GET", "/analyses", "analysis.read"),
    Endpoint("GET", "/analyses/{analysis}", "analysis.read", "analysis"),
    Endpoint("GET", "/snapshots/{snapshot}", "analysis.read", "snapshot"),
    Endpoint("GET", "/snapshots/{snapshot}/content", "analysis.manage", "snapshot"),
    Endpoint("GET", "/report?analysis={analysis}", "analysis.read", "analysis"),
    Endpoint("GET", "/report/tables/impact.csv?analysis={analysis}", "analysis.read", "analysis"),
    Endpoint(
        "GET", "/report/pictures/consort.svg?analysis={analysis}", "analysis.read", "analysis"
    ),
    Endpoint("GET", "/report/pictures/forest.png?analysis={analysis}", "analysis.read", "analysis"),
    Endpoint("POST", "/design/mdes", "design.calculate", None, INVALID),
    Endpoint("POST", "/design/schools", "design.calculate", None, INVALID),
    Endpoint("GET", "/audit-events", "audit.read"),
]


@pytest.fixture(scope="module")
def api(settings, keys, trial) -> Iterator[Api]:
    """One app for the module (the objects below are made once; every test leaves them as they
    were); its tables are emptied at the end."""
    client = TestClient(create_app(settings))
    client.__enter__()
    try:
        yield Api(client, keys, rule_version=trial.rule_version)
    finally:
        client.__exit__(None, None, None)
        engine = make_engine(settings.database_url)
        try:
            wipe(engine, ServiceModel.metadata)
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def world(api: Api, trial) -> dict[str, list[Any]]:
    """Two plans (one frozen), two outcome imports, two finished analyses with snapshots."""
    objects: dict[str, list[Any]] = {"plan": [], "import": [], "analysis": [], "snapshot": []}
    objects["plan"].append(api.frozen_plan()["version"])
    for per_school in (4, 5):
        objects["import"].append(
            api.ok(api.import_outcomes(to_csv(pupil_rows(trial, per_school=per_school))))["id"]
        )
        job, _ = api.analyse()
        objects["analysis"].append(job["id"])
        objects["snapshot"].append(job["snapshot_id"])
    objects["plan"].append(api.register_plan(title="draft")["version"])
    return objects


def _state(api: Api) -> Any:
    ev = api.evaluator()
    plans = api.ok(api.client.get("/plans", headers=ev))
    imports = api.ok(api.client.get("/outcomes/imports", headers=ev))["count"]
    analyses = api.ok(api.client.get("/analyses", headers=ev))["count"]
    audit = api.ok(api.client.get("/audit-events?limit=500", headers=api.headers("auditor")))
    return plans, imports, analyses, audit["count"]


def _outcome(resp: Any) -> str:
    assert resp.status_code not in (401, 500), resp.text
    if resp.status_code == 403:
        return "forbidden"
    assert resp.status_code in (200, 422), resp.text
    return "allowed"


def test_authorisation_matrix(api: Api, world: dict[str, list[Any]]) -> None:
    before = _state(api)
    failures: list[str] = []
    checked = 0
    for who in IDENTITIES:
        headers = api.headers(list(who.roles), **who.claims())
        for endpoint in ENDPOINTS:
            for target in world[endpoint.kind] if endpoint.kind else [None]:
                path = endpoint.template.format(**{endpoint.kind or "_": target})
                resp = api.client.request(endpoint.method, path, headers=headers, **endpoint.kw)
                want, got = expected(SPEC, who, endpoint.action), _outcome(resp)
                checked += 1
                if got != want:
                    failures.append(
                        f"{who.name}: {endpoint.method} {path} → {resp.status_code} ({got}), "
                        f"expected {want}"
                    )
    assert not failures, f"{len(failures)} of {checked} cases disagree:\n" + "\n".join(failures)
    assert checked >= len(IDENTITIES) * len(ENDPOINTS)
    assert _state(api) == before, "a refused (or invalid) request changed something"


def test_refusals_name_the_roles_that_may(api: Api, world: dict[str, list[Any]]) -> None:
    resp = api.client.get("/outcomes/imports", headers=api.headers("trial_manager"))
    assert resp.status_code == 403
    assert "roles that may: evaluator" in resp.json()["detail"]
    resp = api.client.get("/report", headers=api.headers("school", urn=100001))
    assert resp.status_code == 403 and "auditor, evaluator, trial_manager" in resp.json()["detail"]


def test_anonymous_is_refused(api: Api, world: dict[str, list[Any]]) -> None:
    for endpoint in ENDPOINTS:
        target = world[endpoint.kind][0] if endpoint.kind else None
        path = endpoint.template.format(**{endpoint.kind or "_": target})
        resp = api.client.request(endpoint.method, path, **endpoint.kw)
        assert resp.status_code == 401, (path, resp.text)
