"""PostgreSQL connections in the pool: tested before use only after sitting idle, so a request in
steady use costs no extra round trip, and a connection that died while idle (the server
restarted, a firewall dropped it) is replaced before a request sees it."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from rlc_shared import db
from rlc_testkit.plugin import ADMIN_URL

pytestmark = pytest.mark.postgres_only


def backend_pid(engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def terminate(pid: int) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_connection_in_steady_use_is_not_pinged(shared_database: str) -> None:
    engine = db.make_engine(shared_database, pool_size=1, max_overflow=0)
    pings: list[int] = []
    real_ping = engine.dialect.do_ping
    # Count the dialect's pings (the driver call, not our code path, is observed).
    engine.dialect.do_ping = lambda conn: pings.append(1) or real_ping(conn)  # type: ignore[method-assign]
    try:
        first = backend_pid(engine)
        for _ in range(5):
            assert backend_pid(engine) == first  # the same connection, reused
        assert pings == []
    finally:
        engine.dispose()


def test_an_idle_connection_that_died_is_replaced_before_use(
    shared_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)  # every checked-in connection counts as idle
    engine = db.make_engine(shared_database, pool_size=1, max_overflow=0)
    try:
        first = backend_pid(engine)
        terminate(first)
        assert backend_pid(engine) != first  # tested, found dead, replaced: no error
    finally:
        engine.dispose()


def test_a_connection_that_died_in_use_fails_once_then_the_pool_is_renewed(
    shared_database: str,
) -> None:
    engine = db.make_engine(shared_database, pool_size=1, max_overflow=0)
    invalidated: list[int] = []
    event.listen(engine, "invalidate", lambda *a: invalidated.append(1))
    try:
        first = backend_pid(engine)
        terminate(first)
        with pytest.raises(OperationalError) as failed:  # a 503 problem in a request
            backend_pid(engine)
        assert failed.value.connection_invalidated and invalidated
        assert backend_pid(engine) != first
    finally:
        engine.dispose()
