"""No endpoint other than the first page, health, docs and published public keys answers without
a token."""

import re

import pytest
from fastapi.testclient import TestClient

from rlc_cli import services
from rlc_testkit import api_routes

PUBLIC = {
    "/",
    "/healthz",
    "/readyz",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/openapi.json",
    "/.well-known/jwks.json",
    "/webhooks/ipsos",  # signed with Standard Webhooks instead of a bearer token
}


@pytest.mark.parametrize("name", [s.name for s in services.SERVICES])
def test_every_route_needs_a_token(name: str, migrated_database, keys, tmp_path) -> None:
    import importlib

    settings = importlib.import_module(f"{name}.config").Settings(
        database_url=migrated_database(name),
        jwks_file=str(keys.jwks_file),
        storage_dir=str(tmp_path),
    )
    app = importlib.import_module(f"{name}.main").create_app(settings)
    checked = 0
    with TestClient(app) as client:
        for route_path, methods in api_routes(app):
            if route_path in PUBLIC:
                continue
            path = re.sub(r"\{[^}]+\}", "1", route_path)
            for method in methods - {"HEAD", "OPTIONS"}:
                resp = client.request(method, path)
                assert resp.status_code == 401, (
                    f"{name} {method} {route_path} answered {resp.status_code} without a token"
                )
                assert resp.headers["content-type"] == "application/problem+json"
                checked += 1
    assert checked >= 1, f"{name} exposes no authenticated route"
    assert {"/healthz", "/readyz"} <= {p for p, _ in api_routes(app)}
