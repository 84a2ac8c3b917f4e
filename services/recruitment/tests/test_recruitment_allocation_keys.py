"""Recording an arm fetches the randomisation service's JWKS with no transaction open.

``POST /schools/{urn}/randomised`` checks the allocation's signed statement against the
randomisation service's public keys, which recruitment fetches over HTTP when its cached copy is
stale or the key id is new. No transaction may be open across a call to another service
(docs/architecture.md): here the JWKS is served by a real loopback HTTP server that, while it
answers, looks at recruitment's database from outside: no connection of the app is checked out
and the school's row is not locked (PostgreSQL: ``FOR UPDATE NOWAIT``; SQLite: the writer lock).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from recruitment.config import Settings
from recruitment.deps import today
from recruitment.main import create_app
from recruitment.models import ServiceModel
from rlc_testkit import AllocationSigner, Keys, wipe
from rlc_testkit.recruitment import RECRUITMENT_DAY, Api, assert_problem

URN = 100001


@dataclass
class JwksServer:
    """The randomisation service's ``/.well-known/jwks.json``, as recruitment fetches it."""

    url: str
    body: bytes
    available: bool = True
    #: Called while each request is being answered; what it returns is kept in ``seen``.
    probe: Callable[[], Any] | None = None
    seen: list[Any] = field(default_factory=list)


@pytest.fixture
def jwks_server(allocation_signer: AllocationSigner) -> Iterator[JwksServer]:
    state: dict[str, JwksServer] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            server = state["server"]
            if server.probe is not None:
                server.seen.append(server.probe())
            status, body = (200, server.body) if server.available else (503, b"{}")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = httpd.server_address[1]
    state["server"] = JwksServer(
        url=f"http://127.0.0.1:{port}/.well-known/jwks.json",
        body=allocation_signer.jwks_file.read_bytes(),
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["server"]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture
def url_api(
    settings: Settings, jwks_server: JwksServer, keys: Keys, allocation_signer: AllocationSigner
) -> Iterator[Api]:
    """An app that fetches the randomisation service's keys from ``jwks_server`` (as deployed),
    not from a file."""
    fetching = settings.model_copy(
        update={"randomisation_jwks_file": None, "randomisation_jwks_url": jwks_server.url}
    )
    app = create_app(fetching)
    app.dependency_overrides[today] = lambda: RECRUITMENT_DAY
    with TestClient(app) as client:
        yield Api(client, keys, allocation_signer)
        wipe(app.state.engine, ServiceModel.metadata)


def row_locked(database_url: str, urn: int) -> bool:
    """Whether another transaction holds the school's row (PostgreSQL) or the database's writer
    lock (SQLite), asked from a separate connection that never waits."""
    if database_url.startswith("sqlite"):
        conn = sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=0)
        conn.isolation_level = None
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            assert "locked" in str(exc), exc
            return True
        else:
            conn.execute("ROLLBACK")
            return False
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(database_url) as pg:
        try:
            pg.execute("SELECT urn FROM school WHERE urn = %s FOR UPDATE NOWAIT", (urn,))
        except psycopg.errors.LockNotAvailable:
            return True
        pg.rollback()
        return False


def audit_count(api: Api) -> int:
    return api.ok(api.client.get("/audit-events?limit=1", headers=api.tm()))["count"]


def test_the_keys_are_fetched_with_no_transaction_open(
    url_api: Api, jwks_server: JwksServer, settings: Settings
) -> None:
    api = url_api
    api.school_at("consented", URN)
    engine = api.client.app.state.engine  # type: ignore[attr-defined]
    # The probe itself must see a lock when there is one (on SQLite, a writer's BEGIN IMMEDIATE).
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        lock = " FOR UPDATE" if postgres else ""
        conn.execute(text(f"SELECT urn FROM school WHERE urn = :urn{lock}"), {"urn": URN})
        assert row_locked(settings.database_url, URN)
    assert not row_locked(settings.database_url, URN)

    jwks_server.probe = lambda: {
        "connections_checked_out": engine.pool.checkedout(),
        "school_row_locked": row_locked(settings.database_url, URN),
    }
    result = api.ok(api.randomised(URN, run_id="run-1", arm="control"))
    assert jwks_server.seen, "the keys were not fetched during the request"
    assert jwks_server.seen == [{"connections_checked_out": 0, "school_row_locked": False}] * len(
        jwks_server.seen
    )
    assert (result["recorded"], result["status"], result["arm"]) == (True, "randomised", "control")
    assert api.history(URN)[-1]["action"] == "school.randomised"


def test_keys_that_cannot_be_fetched_change_nothing_and_say_so(
    url_api: Api, jwks_server: JwksServer
) -> None:
    api = url_api
    api.school_at("consented", URN)
    school, events, audited = api.get_school(URN), api.history(URN), audit_count(api)
    jwks_server.available = False
    resp = api.randomised(URN, run_id="run-1", arm="control")
    problem = assert_problem(resp, 503, "public keys", "nothing was recorded")
    assert problem["type"].endswith("/randomisation-keys-unavailable")
    assert api.get_school(URN) == school
    assert api.history(URN) == events
    assert audit_count(api) == audited
    # Once the keys can be fetched, the same notice (the outbox retries it) is recorded.
    jwks_server.available = True
    again = api.ok(api.randomised(URN, run_id="run-1", arm="control"))
    assert (again["recorded"], again["arm"]) == (True, "control")
    assert audit_count(api) == audited + 1


def test_a_caller_that_may_not_record_an_arm_never_causes_a_fetch(
    url_api: Api, jwks_server: JwksServer
) -> None:
    api = url_api
    api.school_at("consented", URN)
    jwks_server.probe = lambda: "fetched"
    for headers in (api.tm(), api.role("service", sub="service:surveys"), api.school(URN)):
        resp = api.randomised(URN, run_id="run-1", arm="control", headers=headers)
        assert_problem(resp, 403)
    assert jwks_server.seen == []
    assert api.get_school(URN)["status"] == "consented"
