"""Data versions: a token that changes whenever a group of tables changes, so that a costly read
(a page of dosage computed from attendance, response counts per school) is computed once per
version of its data, not once per request, in every process of a service alike.

The token is kept by database triggers, not by the code that writes, so no write path can forget
it: each table of a group gets a trigger that, in the writing transaction, replaces the group's
row in ``data_version`` with a new random token. A reader reads the token in the same snapshot as
the data it computes from; a result cached under a token is therefore exactly the result for that
token's data. (A counter or the newest audit id would not do on PostgreSQL: ids are handed out
before commits, which may come in another order.)

- SQLite: row triggers set the token (SQLite has one writer at a time).
- PostgreSQL: deferred constraint triggers run at commit, and set the token once per transaction
  (a transaction-local setting remembers it), so the row lock on ``data_version`` is taken last
  and held only while the writer commits: it orders writers without ever being part of a deadlock,
  and a bulk load of many rows costs one token.

The migration that sets up a group writes its first token. No row (``data_version`` emptied, as
tests do between cases) means no token, and then nothing is cached until the next write.

In a service: ``class DataVersion(DataVersionFields, ServiceModel, table=True)``, a migration
calling :func:`create_data_version` with the group's tables, and a :class:`VersionedCache`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar

from sqlalchemy import BigInteger, text
from sqlmodel import Field, Session, SQLModel

T = TypeVar("T")
TABLE = "data_version"


class DataVersionFields(SQLModel):
    name: str = Field(primary_key=True, max_length=60)
    token: str = Field(max_length=64)
    #: PostgreSQL: the transaction that last set the token (one change per transaction).
    xid: int | None = Field(default=None, sa_type=BigInteger)


#: A new random token, in each dialect's SQL.
_RANDOM_TOKEN = {
    "postgresql": "md5(random()::text || clock_timestamp()::text)",
    "sqlite": "lower(hex(randomblob(16)))",
}

_PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION rlc_data_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    mark text := 'rlc.data_version_' || TG_ARGV[0];
    tx text := txid_current()::text;
BEGIN
    -- Once per transaction: a bulk load queues a row event per row, the first one sets the token.
    IF current_setting(mark, true) IS NOT DISTINCT FROM tx THEN
        RETURN NULL;
    END IF;
    PERFORM set_config(mark, tx, true);
    INSERT INTO {TABLE} (name, token, xid)
    VALUES (TG_ARGV[0], {_RANDOM_TOKEN["postgresql"]}, tx::bigint)
    ON CONFLICT (name) DO UPDATE SET token = EXCLUDED.token, xid = EXCLUDED.xid;
    RETURN NULL;
END $$
"""


def _trigger(group: str, table: str, event: str = "") -> str:
    return f"rlc_dv_{group}_{table}{'_' + event.lower() if event else ''}"


def create_data_version_table(op: Any) -> None:
    """In a migration: the ``data_version`` table (the columns of :class:`DataVersionFields`)."""
    import sqlalchemy as sa

    op.create_table(
        TABLE,
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("xid", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f(f"pk_{TABLE}")),
    )


def create_data_version(op: Any, *, group: str, tables: Sequence[str]) -> None:
    """In a migration (after ``data_version`` exists): keep ``group``'s token by triggers on
    ``tables``."""
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(_PG_FUNCTION)
        for table in tables:
            op.execute(
                f"CREATE CONSTRAINT TRIGGER {_trigger(group, table)} "
                f"AFTER INSERT OR UPDATE OR DELETE ON {table} DEFERRABLE INITIALLY DEFERRED "
                f"FOR EACH ROW EXECUTE FUNCTION rlc_data_version_bump('{group}')"
            )
    elif dialect == "sqlite":
        for table in tables:
            for event in ("INSERT", "UPDATE", "DELETE"):
                # No conflict clause: inside a trigger SQLite applies the firing statement's own
                # (an upsert's, say) instead. An update, else an insert of the missing row.
                op.execute(
                    f"CREATE TRIGGER {_trigger(group, table, event)} AFTER {event} ON {table} "
                    f"BEGIN UPDATE {TABLE} SET token = {_RANDOM_TOKEN[dialect]} "
                    f"WHERE name = '{group}'; INSERT INTO {TABLE} (name, token) "
                    f"SELECT '{group}', {_RANDOM_TOKEN[dialect]} WHERE NOT EXISTS "
                    f"(SELECT 1 FROM {TABLE} WHERE name = '{group}'); END"
                )
    else:  # pragma: no cover - the platform runs on these two
        raise NotImplementedError(dialect)
    # A first token now, so that data written before this migration is cached too.
    op.execute(f"INSERT INTO {TABLE} (name, token) VALUES ('{group}', {_RANDOM_TOKEN[dialect]})")


def drop_data_version(op: Any, *, group: str, tables: Sequence[str]) -> None:
    """In a migration's downgrade: stop keeping ``group``'s token (other groups keep theirs)."""
    dialect = op.get_bind().dialect.name
    for table in tables:
        if dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {_trigger(group, table)} ON {table}")
        else:
            for event in ("INSERT", "UPDATE", "DELETE"):
                op.execute(f"DROP TRIGGER IF EXISTS {_trigger(group, table, event)}")
    op.execute(f"DELETE FROM {TABLE} WHERE name = '{group}'")
    if dialect == "postgresql":
        # The function is shared by every group: dropped with the last trigger that uses it.
        op.execute(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_trigger t JOIN pg_proc p "
            "ON p.oid = t.tgfoid WHERE p.proname = 'rlc_data_version_bump') THEN "
            "DROP FUNCTION IF EXISTS rlc_data_version_bump(); END IF; END $$"
        )


_TOKEN_OF = text(f"SELECT token FROM {TABLE} WHERE name = :name")


def current_token(session: Session, group: str) -> str | None:
    """The group's token as this session's snapshot sees it (None: nothing to cache under).

    Read on the session's connection, past the ORM's execution machinery (no objects are
    loaded): this query runs on every cached read."""
    row = session.connection().execute(_TOKEN_OF, {"name": group}).first()
    return None if row is None else str(row[0])


class VersionedCache:
    """Results computed from one version of a group's data, the most recently used first.

    ``get_or_compute(session, key, compute)`` reads the token in the session's snapshot and
    returns the result cached under (token, key), computing it with ``compute()`` (from the same
    session, so from that same version) when there is none. ``at(session)`` reads the token once
    for several results of one request. Results must not be changed by their callers (cache
    immutable values, or copies)."""

    def __init__(self, group: str, *, size: int = 512) -> None:
        self.group = group
        self._size = size
        self._lock = threading.Lock()
        self._results: OrderedDict[tuple[str, Hashable], Any] = OrderedDict()

    def at(self, session: Session) -> CachedVersion:
        """The cache at the version the session sees now (one query for the token)."""
        return CachedVersion(self, current_token(session, self.group))

    def get_or_compute(self, session: Session, key: Hashable, compute: Callable[[], T]) -> T:
        return self.at(session).get_or_compute(key, compute)

    def _get_or_compute(self, token: str | None, key: Hashable, compute: Callable[[], T]) -> T:
        if token is None:
            return compute()
        entry = (token, key)
        with self._lock:
            if entry in self._results:
                self._results.move_to_end(entry)
                return self._results[entry]  # type: ignore[no-any-return]
        result = compute()
        with self._lock:
            self._results[entry] = result
            while len(self._results) > self._size:
                self._results.popitem(last=False)
        return result


class CachedVersion:
    """A :class:`VersionedCache` at one token: what a request computes from one version."""

    def __init__(self, cache: VersionedCache, token: str | None) -> None:
        self.cache = cache
        self.token = token

    def get_or_compute(self, key: Hashable, compute: Callable[[], T]) -> T:
        return self.cache._get_or_compute(self.token, key, compute)
