"""Every endpoint: 401 without a token, 403 for roles not allowed (and nothing written), the
exact expected answer for those allowed."""

from __future__ import annotations

import pytest

from rlc_shared.auth import Role

ALL = {r.value for r in Role}
TM = {"trial_manager"}
RUN_READERS = {"trial_manager", "auditor", "evaluator"}
LOG_READERS = {"trial_manager", "auditor"}

#: (method, path, roles allowed, what an allowed role gets on an empty log)
ENDPOINTS = [
    ("POST", "/schemes", TM, 422),
    ("GET", "/schemes", RUN_READERS, 200),
    ("GET", "/schemes/nope", RUN_READERS, 404),
    ("POST", "/schemes/nope/runs", TM, 404),
    ("GET", "/runs", RUN_READERS, 200),
    ("GET", "/runs/nope", RUN_READERS, 404),
    ("POST", "/runs/nope/freeze", TM, 404),
    ("POST", "/runs/nope/execute", TM, 404),
    ("POST", "/runs/nope/abandon", TM, 404),
    ("POST", "/runs/nope/notify", TM, 404),
    ("GET", "/allocations", ALL, 200),
    ("GET", "/allocations/100001", ALL, 404),
    ("POST", "/allocations/100001/in-error", TM, 422),
    ("GET", "/log", LOG_READERS, 200),
    ("GET", "/log/export", LOG_READERS, 200),
    ("GET", "/log/checkpoint", LOG_READERS, 200),
    ("GET", "/log/proofs/inclusion?index=0", LOG_READERS, 200),
    ("GET", "/log/proofs/consistency?first=0", LOG_READERS, 200),
    ("GET", "/log/verify", LOG_READERS, 200),
    ("GET", "/audit-events", LOG_READERS, 200),
]


@pytest.mark.parametrize(("method", "path", "allowed", "status"), ENDPOINTS)
def test_anonymous_is_401(client, method, path, allowed, status):
    resp = client.request(method, path)
    assert resp.status_code == 401
    assert resp.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(("method", "path", "allowed", "status"), ENDPOINTS)
def test_wrong_roles_are_403_and_write_nothing(client, keys, counts, method, path, allowed, status):
    before = counts()
    for role in sorted(ALL - allowed) + [[]]:
        resp = client.request(
            method, path, headers=keys.headers(role, la_code="202", urn=100001), json={}
        )
        assert resp.status_code == 403, (role, resp.text)
        assert resp.headers["content-type"] == "application/problem+json"
    assert counts() == before


@pytest.mark.parametrize(("method", "path", "allowed", "status"), ENDPOINTS)
def test_allowed_roles_get_the_expected_answer(client, keys, method, path, allowed, status):
    for role in sorted(allowed):
        resp = client.request(
            method, path, headers=keys.headers(role, la_code="202", urn=100001), json={}
        )
        assert resp.status_code == status, (role, resp.text)


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
