"""One error shape: problem+json for domain, validation, routing, size and unexpected errors."""

from pathlib import Path

from fastapi.testclient import TestClient

from rlc_testkit import Keys

from .conftest import make_app


def is_problem(resp, status: int) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    body = resp.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    return body


def test_domain_error_is_problem(client: TestClient, keys: Keys) -> None:
    body = is_problem(client.post("/conflict", headers=keys.headers()), 409)
    assert body["detail"] == "The run has already been executed; runs execute once."
    assert body["run_id"] == "r1"
    assert body["instance"] == "/conflict"


def test_unknown_field_refused(client: TestClient, keys: Keys) -> None:
    body = is_problem(
        client.post(
            "/nominations", json={"urn": 100001, "arm": "intervention"}, headers=keys.headers()
        ),
        422,
    )
    assert body["errors"] == [{"field": "arm", "message": "Extra inputs are not permitted"}]


def test_validation_error_does_not_echo_values(client: TestClient, keys: Keys) -> None:
    body = is_problem(
        client.post("/nominations", json={"urn": "head@school.example"}, headers=keys.headers()),
        422,
    )
    assert "head@school.example" not in str(body)
    assert body["errors"][0]["field"] == "urn"


def test_malformed_json(client: TestClient, keys: Keys) -> None:
    resp = client.post(
        "/nominations",
        content=b"{not json",
        headers={**keys.headers(), "Content-Type": "application/json"},
    )
    is_problem(resp, 422)


def test_unknown_route_and_method(client: TestClient, keys: Keys) -> None:
    assert (
        "no endpoint" in is_problem(client.get("/nowhere", headers=keys.headers()), 404)["detail"]
    )
    is_problem(client.delete("/whoami", headers=keys.headers()), 405)


def test_body_too_large_announced(client: TestClient, keys: Keys) -> None:
    body = is_problem(client.post("/nominations", content=b"x" * 5000, headers=keys.headers()), 413)
    assert "1,024 bytes" in body["detail"]


def test_body_too_large_streamed(client: TestClient, keys: Keys) -> None:
    def chunks():
        for _ in range(10):
            yield b"y" * 500

    resp = client.post("/nominations", content=chunks(), headers=keys.headers())
    is_problem(resp, 413)


def test_unexpected_error_hides_internals_in_production(
    keys: Keys, tmp_path: Path, shared_database: str
) -> None:
    app = make_app(
        keys,
        tmp_path,
        environment="production",
        jwt_issuer="https://login.example",
        database_url="postgresql://u@h/db",
    )
    assert app.docs_url is None and app.openapi_url is None
    dev = make_app(keys, tmp_path / "dev", database_url=shared_database)
    with TestClient(dev, raise_server_exceptions=False) as c:
        body = is_problem(c.get("/boom", headers=keys.headers()), 500)
        assert "secret internals" not in str(body)
        assert "Traceback" not in str(body)
        assert body["exception"] == "RuntimeError"  # development only
    assert dev.docs_url == "/docs"


def test_request_id_echoed(client: TestClient) -> None:
    resp = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert resp.headers["x-request-id"] == "abc-123"
    assert len(client.get("/healthz").headers["x-request-id"]) == 32


def test_readyz(client: TestClient) -> None:
    assert client.get("/readyz").json() == {"status": "ready"}


def test_readyz_not_migrated(keys: Keys, tmp_path: Path, database_factory) -> None:
    from rlc_shared.app import create_service_app

    from .conftest import TEST_APP_DIR, DemoSettings

    settings = DemoSettings(
        database_url=database_factory.create("sharedtest_empty"),
        jwks_file=str(keys.jwks_file),
        storage_dir=str(tmp_path),
    )
    app = create_service_app(
        settings=settings, title="t", description="", service_dir=TEST_APP_DIR, routers=[]
    )
    with TestClient(app) as c:
        assert "rlc migrate" in is_problem(c.get("/readyz"), 503)["detail"]


def test_cors_production_allowlist(keys: Keys, tmp_path: Path, shared_database: str) -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="CORS"):
        make_app(
            keys,
            tmp_path,
            environment="production",
            jwt_issuer="https://login.example",
            database_url="postgresql://u@h/db",
            cors_origins=["*"],
        )
    with pytest.raises(ValidationError, match="PostgreSQL"):
        make_app(
            keys,
            tmp_path,
            environment="production",
            jwt_issuer="https://login.example",
            database_url=f"sqlite:///{tmp_path / 'x.db'}",
        )
    with pytest.raises(ValidationError, match="dev token issuer"):
        make_app(keys, tmp_path, environment="production", database_url="postgresql://u@h/db")
    dev = make_app(
        keys, tmp_path, database_url=shared_database, cors_origins=["https://spa.example"]
    )
    with TestClient(dev) as c:
        ok = c.get("/healthz", headers={"Origin": "https://spa.example"})
        assert ok.headers["access-control-allow-origin"] == "https://spa.example"
        other = c.get("/healthz", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_page_size_capped(keys: Keys, tmp_path: Path, fresh_database: str) -> None:
    from rlc_shared.audit_api import audit_router

    from .conftest import TEST_APP_DIR, TEST_MODELS, DemoSettings

    AuditEvent = TEST_MODELS.AuditEvent

    url = fresh_database
    settings = DemoSettings(
        database_url=url, jwks_file=str(keys.jwks_file), storage_dir=str(tmp_path), max_page_size=3
    )
    from sqlmodel import Session

    from rlc_shared.app import create_service_app
    from rlc_shared.audit import record

    app = create_service_app(
        settings=settings,
        title="t",
        description="",
        service_dir=TEST_APP_DIR,
        routers=[audit_router(AuditEvent)],
    )
    with TestClient(app) as c:
        with Session(app.state.engine) as s:
            for i in range(7):
                record(
                    s,
                    AuditEvent,
                    actor="tester",
                    action="round.created",
                    entity_type="round",
                    entity_id=i,
                    new={"i": i},
                )
            s.commit()
        first = c.get("/audit-events?limit=100", headers=keys.headers("auditor")).json()
        assert len(first["data"]) == 3 and first["count"] == 7
        second = c.get(
            f"/audit-events?limit=100&cursor={first['next_cursor']}",
            headers=keys.headers("auditor"),
        ).json()
        assert [e["entity_id"] for e in second["data"]] == ["3", "4", "5"]
        is_problem(c.get("/audit-events?cursor=%%%", headers=keys.headers("auditor")), 400)
