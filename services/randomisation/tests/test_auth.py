"""Every endpoint: 401 without a token, 403 for roles not allowed, through for those allowed."""

from __future__ import annotations

import pytest

from rlc_shared.auth import Role

ALL = {r.value for r in Role}
TM = {"trial_manager"}
RUN_READERS = {"trial_manager", "auditor", "evaluator"}
LOG_READERS = {"trial_manager", "auditor"}

ENDPOINTS = [
    ("POST", "/schemes", TM),
    ("GET", "/schemes", RUN_READERS),
    ("GET", "/schemes/nope", RUN_READERS),
    ("POST", "/schemes/nope/runs", TM),
    ("GET", "/runs", RUN_READERS),
    ("GET", "/runs/nope", RUN_READERS),
    ("POST", "/runs/nope/freeze", TM),
    ("POST", "/runs/nope/execute", TM),
    ("POST", "/runs/nope/abandon", TM),
    ("POST", "/runs/nope/notify", TM),
    ("GET", "/allocations", ALL),
    ("GET", "/allocations/1", ALL),
    ("POST", "/allocations/1/in-error", TM),
    ("GET", "/log", LOG_READERS),
    ("GET", "/log/export", LOG_READERS),
    ("GET", "/log/checkpoint", LOG_READERS),
    ("GET", "/log/proofs/inclusion?index=0", LOG_READERS),
    ("GET", "/log/proofs/consistency?first=0", LOG_READERS),
    ("GET", "/log/verify", LOG_READERS),
    ("GET", "/audit-events", LOG_READERS),
]


@pytest.mark.parametrize(("method", "path", "allowed"), ENDPOINTS)
def test_anonymous_is_401(client, method, path, allowed):
    resp = client.request(method, path)
    assert resp.status_code == 401
    assert resp.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(("method", "path", "allowed"), ENDPOINTS)
def test_wrong_roles_are_403(client, keys, method, path, allowed):
    for role in sorted(ALL - allowed) + [[]]:
        resp = client.request(method, path, headers=keys.headers(role, la_code="E1", urn=1))
        assert resp.status_code == 403, (role, resp.text)
        assert resp.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("method", "path", "allowed"), [e for e in ENDPOINTS if e[0] == "GET" and e[2] != ALL]
)
def test_allowed_roles_get_through(client, keys, method, path, allowed):
    for role in sorted(allowed):
        resp = client.request(method, path, headers=keys.headers(role))
        assert resp.status_code not in (401, 403), (role, resp.text)


def test_expired_and_foreign_tokens_are_401(client, keys):
    expired = keys.headers("auditor", ttl_seconds=-120)
    assert client.get("/log", headers=expired).status_code == 401
    foreign = keys.headers("auditor", audience="someone-else")
    assert client.get("/log", headers=foreign).status_code == 401


def test_jwks_is_public(client):
    resp = client.get("/.well-known/jwks.json")
    assert resp.status_code == 200
    (key,) = resp.json()["keys"]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["kid"].startswith("rand-")
    assert "d" not in key  # never the private half
