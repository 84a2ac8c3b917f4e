"""Every operation of every service documents the errors it can answer as problem+json, so that
partners' generated clients handle them: 400/404/413/422/502/503 everywhere, 401/403 wherever a
token is needed, 409 on writes, 415 wherever a body is read."""

import importlib

import pytest
from fastapi.testclient import TestClient

from rlc_cli import services

PUBLIC = {"/", "/healthz", "/readyz", "/.well-known/jwks.json", "/webhooks/ipsos"}
PROBLEM = "application/problem+json"


@pytest.mark.parametrize("name", [s.name for s in services.SERVICES])
def test_every_operation_documents_its_problem_responses(
    name: str, migrated_database, keys, tmp_path
) -> None:
    settings = importlib.import_module(f"{name}.config").Settings(
        database_url=migrated_database(name),
        jwks_file=str(keys.jwks_file),
        storage_dir=str(tmp_path),
    )
    app = importlib.import_module(f"{name}.main").create_app(settings)
    with TestClient(app) as client:
        doc = client.get("/openapi.json").json()
    assert doc["components"]["schemas"]["Problem"]["properties"].keys() >= {
        "type",
        "title",
        "status",
        "detail",
    }
    checked = 0
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            expected = {"400", "404", "413", "422", "502", "503"}
            if path not in PUBLIC:
                expected |= {"401", "403"}
            if method != "get":
                expected.add("409")
            if "requestBody" in op:
                expected.add("415")
            responses = op["responses"]
            assert expected <= responses.keys(), (name, method, path, sorted(responses))
            for status in expected:
                content = responses[status].get("content", {})
                assert list(content) == [PROBLEM], (name, method, path, status)
                assert content[PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}
            checked += 1
    assert checked >= 5, name
