"""Serialising writers on SQLite (the embedded development backend).

The parsing worker writes a chunk while requests read and write; a deferred SQLite transaction
that read before another writer committed cannot then write (SQLITE_BUSY_SNAPSHOT, at once, not
after the busy timeout). Opening every transaction with ``BEGIN IMMEDIATE`` makes each one wait
its turn instead; a read-only request's session (``rlc_shared.db.READ_ONLY``) only reads, and
WAL lets it run beside the writer with a plain ``BEGIN``. PostgreSQL needs nothing: rows are
locked where it matters (``FOR UPDATE``).
"""

from sqlalchemy.engine import Engine


def serialise_sqlite_transactions(engine: Engine) -> None:
    """Nothing left to do: ``rlc_shared.db.make_engine`` now begins every SQLite write
    transaction with BEGIN IMMEDIATE (and read-only ones with BEGIN) for every service."""
