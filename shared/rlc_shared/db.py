"""Engines and sessions for SQLite (the embedded default) and PostgreSQL (psycopg 3).

Each service keeps its own metadata: its models derive from a SQLModel base bound to
:func:`service_registry`, so five services in one process never mix tables.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import MetaData, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import registry
from sqlmodel import Session, create_engine

log = logging.getLogger("rlc.db")

# Explicit constraint names, so migrations are stable across PostgreSQL and SQLite.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def service_registry() -> registry:
    """A fresh registry (and metadata) for one service's tables: the base of its models is
    ``class ServiceModel(SQLModel, registry=service_registry())``."""
    return registry(metadata=MetaData(naming_convention=NAMING_CONVENTION))


def normalise_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use the psycopg 3 driver for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


#: Execution option of a read-only request's session: on SQLite its transactions begin as a plain,
#: deferred BEGIN beside the one writer.
READ_ONLY = "rlc_read_only"


def make_engine(url: str, **kw: Any) -> Engine:
    url = normalise_url(url)
    # Errors and logs never carry bound values (a school's name searched, an email looked up).
    kw.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kw)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            # WAL with NORMAL: a commit does not wait for fsync (a checkpoint does); the database
            # cannot be corrupted, a power cut may lose the last commits (the dev backend).
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()
            # Let SQLAlchemy, not the driver, say when a transaction begins (below).
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # SQLite has one writer. A deferred transaction that read and then writes fails at
            # once with "database is locked" if another writer got in between (no waiting: it
            # would deadlock), so writers take the lock up front and wait their turn (BEGIN
            # IMMEDIATE, up to the 30 s timeout). A read-only request's transaction only reads,
            # and WAL lets it run beside the writer.
            if conn.get_execution_options().get(READ_ONLY):
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    engine = create_engine(url, **kw)
    _ping_when_idle(engine)
    return engine


#: A pooled PostgreSQL connection unused for this long is tested before it is handed out.
IDLE_PING_SECONDS = 10.0


def _ping_when_idle(engine: Engine) -> None:
    """Test a pooled connection at checkout only when it has been idle a while.

    SQLAlchemy's ``pool_pre_ping`` tests every checkout: a round trip to the server on every
    request, a third of a small read's cost. A connection in steady use is known to be alive; one
    that sat idle (the server restarted, a firewall dropped it) is tested, and if dead replaced
    before the request sees it. A connection that dies while in use fails that request (a 503
    problem) and SQLAlchemy then discards the whole pool, so the next request connects afresh.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except Exception:  # noqa: BLE001 - any failure means the connection is gone
            alive = False
        if not alive:
            # The pool's documented way to say "discard this one and hand out another".
            raise DisconnectionError("a pooled connection idle since a while is dead")


def read_only(engine: Engine) -> Engine:
    """The engine for read-only requests. SQLite: transactions begin as a plain, deferred BEGIN
    beside the one writer. PostgreSQL: autocommit, so a read costs no BEGIN and no COMMIT round
    trip; each statement reads committed data, as it would in a READ COMMITTED transaction."""
    options: dict[str, Any] = {READ_ONLY: True}
    if engine.dialect.name == "postgresql":
        options["isolation_level"] = "AUTOCOMMIT"
    return engine.execution_options(**options)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def ping(engine: Engine) -> None:
    with read_only(engine).connect() as conn:
        conn.execute(text("SELECT 1"))


def on_rollback(session: Session, undo: Callable[[], None]) -> None:
    """Run ``undo`` if this session's transaction is rolled back instead of committed.

    For what a transaction cannot undo itself: a document put in object storage before the row
    that names it is committed is deleted again when the commit fails.
    """
    session.info.setdefault("on_rollback", []).append(undo)


def _run_undo(session: Session) -> None:
    for undo in reversed(session.info.pop("on_rollback", [])):
        try:
            undo()
        except Exception:  # noqa: BLE001 - one failed clean-up must not hide the others
            log.exception("an undo step after a rollback failed")


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: commits when the block ends, rolls back (and undoes) if it raises.

    Service functions never commit. A request's work is committed by :data:`SessionDep`; work
    outside a request (a worker) or a request that must call another service in between (no
    transaction may stay open across an HTTP call) uses short ``transaction()`` blocks instead.
    """
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
            session.info.pop("on_rollback", None)
        except BaseException:
            session.rollback()
            _run_undo(session)
            raise


_READ_METHODS = frozenset({"GET", "HEAD"})


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request: commits when the endpoint returns, rolls back if it raises.

    Services never commit; this is the one place a request's changes become durable. ``async``
    on purpose: creating a session does no I/O, and a plain ``def`` dependency costs two hops
    through the thread pool (enter and exit), most of a small read's time. The commit runs on
    the event loop: a short write (SQLite WAL without fsync, or one PostgreSQL round trip).
    """
    engine: Engine = request.app.state.engine
    if request.method not in _READ_METHODS:
        with transaction(engine) as session:
            yield session
        return
    with transaction(request.app.state.read_engine) as session:
        # A read's session is on the read-only engine (on PostgreSQL, autocommit: a write there
        # would not be one unit of work). Writing from a GET is a bug: say so loudly.
        event.listen(session, "before_flush", _refuse_write)
        yield session


def _refuse_write(session: Session, *_: Any) -> None:
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("a read-only (GET) request tried to write; writes belong to POST/PUT")


# scope="function": commit before the response is sent, so a failed commit is a 500, not a lost 200.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


class Transactions:
    """For a request that calls another service: short units of work instead of one session."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __call__(self) -> AbstractContextManager[Session]:
        return transaction(self.engine)


async def get_transactions(request: Request) -> Transactions:
    return Transactions(request.app.state.engine)


TransactionsDep = Annotated[Transactions, Depends(get_transactions)]
