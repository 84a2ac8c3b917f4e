"""Serialising writers on SQLite (the embedded development backend).

The parsing worker writes a chunk while requests read and write; a deferred SQLite transaction
that read before another writer committed cannot then write (SQLITE_BUSY_SNAPSHOT, at once, not
after the busy timeout). Opening every transaction with ``BEGIN IMMEDIATE`` makes each one wait
its turn instead. PostgreSQL needs nothing: rows are locked where it matters (``FOR UPDATE``).
"""

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


def serialise_sqlite_transactions(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _manual_transactions(dbapi_conn: Any, _: Any) -> None:
        # Let SQLAlchemy, not the driver, say when a transaction begins.
        dbapi_conn.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin_immediate(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
