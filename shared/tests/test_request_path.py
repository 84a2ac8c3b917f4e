"""The request path's guarantees (security probe findings 3, 4, 6, 7, 9): authentication before the
body, 415 for the wrong content type, readable JSON errors, tampered cursors, safe request ids,
secrets kept out of logs, and an OpenAPI document that lists every error response."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from rlc_shared.db import make_engine
from rlc_shared.logging import JsonFormatter, redact
from rlc_testkit import Keys

from .conftest import make_app


def problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    return resp.json()


# --- 4. authentication before the body ---------------------------------------------------------


def _asgi_post(app: Any, headers: list[tuple[bytes, bytes]]) -> tuple[int, int, bytes]:
    """POST through the raw ASGI interface; returns (status, body chunks read, response body)."""
    reads = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"x" * 65536, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/nominations",
        "raw_path": b"/nominations",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], reads, body


def test_an_anonymous_upload_is_refused_before_its_body_is_read(client: TestClient) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"157286400")]
    status, reads, body = _asgi_post(client.app, headers)
    assert status == 401 and reads == 0
    assert "Authentication required" in json.loads(body)["detail"]


def test_malformed_json_without_a_token_is_401_not_422(client: TestClient) -> None:
    resp = client.post(
        "/nominations", content=b'{"urn": ', headers={"Content-Type": "application/json"}
    )
    problem(resp, 401)


# --- 6. messages and content types -------------------------------------------------------------


def test_truncated_json_says_what_and_where(client: TestClient, keys: Keys) -> None:
    resp = client.post(
        "/nominations",
        content=b'{"urn": 100001, "note": "abc',
        headers={**keys.headers(), "Content-Type": "application/json"},
    )
    detail = problem(resp, 422)["detail"]
    assert "not valid JSON" in detail and "at character" in detail
    assert not detail.startswith("30:")


def test_json_sent_as_text_plain_is_415(client: TestClient, keys: Keys) -> None:
    resp = client.post(
        "/nominations",
        content=b'{"urn": 100001}',
        headers={**keys.headers(), "Content-Type": "text/plain"},
    )
    body = problem(resp, 415)
    assert "application/json" in body["detail"] and "text/plain" in body["detail"]
    no_type = client.post("/nominations", content=b'{"urn": 100001}', headers=keys.headers())
    problem(no_type, 415)
    ok = client.post(
        "/nominations",
        content=b'{"urn": 100001}',
        headers={**keys.headers(), "Content-Type": "application/json; charset=utf-8"},
    )
    assert ok.status_code == 200, ok.text


def test_strict_numbers_in_bodies(client: TestClient, keys: Keys) -> None:
    for bad in (False, "100001", 100001.5):
        problem(client.post("/nominations", json={"urn": bad}, headers=keys.headers()), 422)


# --- 3. tampered cursors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ['"abc"', "{}", "[]", "true", str(2**70), "-99999999999", "1.5", "null"]
)
def test_tampered_cursor_is_400(client: TestClient, keys: Keys, value: str) -> None:
    cursor = base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")
    body = problem(client.get(f"/audit-events?cursor={cursor}", headers=keys.headers()), 400)
    assert "cursor" in body["detail"]


# --- 7. request ids and logs -------------------------------------------------------------------


def test_unsafe_request_id_is_replaced(
    client: TestClient, keys: Keys, tmp_path: Path, shared_database: str
) -> None:
    resp = client.get("/healthz", headers={"X-Request-ID": "<script>alert(1)</script>"})
    assert resp.headers["x-request-id"] != "<script>alert(1)</script>"
    assert len(resp.headers["x-request-id"]) == 32
    for unsafe in ("a b", "x" * 65, "id;drop"):
        assert client.get("/healthz", headers={"X-Request-ID": unsafe}).headers["x-request-id"] != (
            unsafe
        )
    dev = make_app(keys, tmp_path / "dev", database_url=shared_database)
    with TestClient(dev, raise_server_exceptions=False) as c:
        boom = c.get("/boom", headers={**keys.headers(), "X-Request-ID": "<b>x</b>"})
        body = problem(boom, 500)
        assert "<b>" not in boom.text
        assert boom.headers["x-request-id"] == body["request_id"]
        kept = c.get("/boom", headers={**keys.headers(), "X-Request-ID": "support-42"})
        assert kept.headers["x-request-id"] == "support-42" == kept.json()["request_id"]


def test_every_response_says_nosniff(client: TestClient, keys: Keys) -> None:
    assert client.get("/healthz").headers["x-content-type-options"] == "nosniff"
    assert client.get("/whoami").headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("raw", "secret"),
    [
        ("admin@localhost wrote", "admin@localhost"),
        ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ("POST /token client_secret=s3cr3t&grant_type=client_credentials", "s3cr3t"),
        ('{"password": "hunter2"}', "hunter2"),
        ("url ?token=abc.def", "abc.def"),
    ],
)
def test_redaction_of_what_the_probe_found(raw: str, secret: str) -> None:
    assert secret not in redact(raw)


def test_tracebacks_do_not_log_bound_values(
    fresh_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither the statement's bound values nor the database's own account of the row (on
    PostgreSQL: "DETAIL: Key (name)=(...) already exists") reach the log."""
    engine = make_engine(fresh_database)
    searched = "".join(["Hill", "side"])  # not a literal: tracebacks quote source lines
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE school_name (name VARCHAR(100) UNIQUE)"))
        conn.execute(text("INSERT INTO school_name VALUES (:n)"), {"n": searched})
    with caplog.at_level(logging.ERROR):
        for statement in (
            "SELECT * FROM no_such_table WHERE name = :n",
            "INSERT INTO school_name VALUES (:n)",
        ):
            try:
                with engine.begin() as conn:
                    conn.execute(text(statement), {"n": searched})
            except Exception:  # noqa: BLE001
                logging.getLogger("rlc.test").exception("query failed")
    engine.dispose()
    logged = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert "no_such_table" in logged and "school_name" in logged
    assert "Hillside" not in logged


def test_a_concurrent_duplicate_is_a_409_problem_that_names_no_value(
    keys: Keys, tmp_path: Path, fresh_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A unique constraint that fires (two requests writing the same thing at once) is a 409
    problem, and its log line names the constraint, never the row."""
    from fastapi import APIRouter

    from rlc_shared.app import create_service_app

    from .conftest import TEST_APP_DIR, DemoSettings

    engine = make_engine(fresh_database)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE school_name (name VARCHAR(100) UNIQUE)"))
    searched = "".join(["Hill", "side"])
    router = APIRouter()

    @router.post("/names")
    def add() -> dict:
        """Insert the same name each time."""
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO school_name VALUES (:n)"), {"n": searched})
        return {"ok": True}

    settings = DemoSettings(
        database_url=fresh_database, jwks_file=str(keys.jwks_file), storage_dir=str(tmp_path)
    )
    app = create_service_app(
        settings=settings, title="t", description="", service_dir=TEST_APP_DIR, routers=[router]
    )
    errors = logging.getLogger("rlc.errors")
    with TestClient(app) as c:
        # The app's start-up replaced the root handlers: listen on the handler's own logger.
        errors.addHandler(caplog.handler)
        try:
            assert c.post("/names", headers=keys.headers()).status_code == 200
            body = problem(c.post("/names", headers=keys.headers()), 409)
        finally:
            errors.removeHandler(caplog.handler)
    assert body["type"].endswith("/concurrent-change") and searched not in str(body)
    logged = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert "integrity error" in logged and searched not in logged
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM school_name")).scalar() == 1
    engine.dispose()


# --- 9. the OpenAPI document lists the errors --------------------------------------------------


def test_openapi_documents_problem_responses(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert "Problem" in doc["components"]["schemas"]
    operations = [
        (path, method, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    assert operations
    for path, method, op in operations:
        responses = op["responses"]
        expected = {"400", "404", "413", "422", "502", "503"}
        if path not in ("/healthz", "/readyz"):
            expected |= {"401", "403"}
        if method != "get":
            expected.add("409")
        if "requestBody" in op:
            expected.add("415")
        assert expected <= responses.keys(), (path, method, sorted(responses))
        for status in expected:
            assert list(responses[status]["content"]) == ["application/problem+json"], (
                path,
                status,
            )


def test_nul_characters_are_refused_not_stored(client: TestClient, keys: Keys) -> None:
    """PostgreSQL cannot store NUL: a body, path or query holding one is a 4xx, never a 500."""
    resp = client.post(
        "/nominations", json={"urn": 100001, "note": "a\x00b"}, headers=keys.headers()
    )
    assert "NUL" in problem(resp, 422)["errors"][0]["message"]
    resp = client.get("/whoami?x=%00", headers=keys.headers())
    assert "NUL" in problem(resp, 400)["detail"]
