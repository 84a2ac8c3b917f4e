"""Serialising writers on SQLite.

PostgreSQL appends take ``pg_advisory_xact_lock`` (see ``log.service.lock_log``). SQLite has one
writer, but a deferred transaction that read the log head before another writer committed would
fail (or fork the chain) when it writes; opening every transaction with ``BEGIN IMMEDIATE`` makes
the read-the-head-then-append sequence atomic. SQLite is the embedded development backend, so
serialising its transactions costs little.
"""

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from rlc_shared.db import READ_ONLY


def serialise_sqlite_transactions(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _manual_transactions(dbapi_conn: Any, _: Any) -> None:
        # Let SQLAlchemy, not the driver, say when a transaction begins.
        dbapi_conn.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin_immediate(conn: Any) -> None:
        # A read-only request's transaction only reads: WAL lets it run beside the writer.
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
