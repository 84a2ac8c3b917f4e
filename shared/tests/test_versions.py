"""Data versions kept by triggers (``rlc_shared.versions``), on the configured database: every
committed change of a tracked table gives a new token, one per transaction; a rolled-back change
gives none; a result is computed once per token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from rlc_shared.db import make_engine, transaction
from rlc_shared.migrations import downgrade, upgrade
from rlc_shared.versions import VersionedCache, current_token

from .conftest import TEST_APP_DIR


@pytest.fixture
def engine(fresh_database: str) -> Iterator[Engine]:
    engine = make_engine(fresh_database)
    yield engine
    engine.dispose()


def token(engine: Engine, group: str = "notes") -> str | None:
    with Session(engine) as session:
        return current_token(session, group)


def write(engine: Engine, *statements: str) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def test_each_committed_change_is_a_new_token_one_per_transaction(engine: Engine) -> None:
    migrated = token(engine)  # the migration wrote a first one: data already there is cached too
    assert migrated is not None
    write(engine, "INSERT INTO note (text) VALUES ('a')", "INSERT INTO note (text) VALUES ('b')")
    first = token(engine)
    assert first is not None and first != migrated
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:  # two rows written, the token set once, at commit
            assert conn.execute(text("SELECT xid FROM data_version")).scalar() is not None
    write(engine, "UPDATE note SET text = 'c' WHERE text = 'a'")
    second = token(engine)
    write(engine, "DELETE FROM note WHERE text = 'b'")
    third = token(engine)
    assert len({first, second, third}) == 3
    with pytest.raises(RuntimeError), engine.begin() as conn:
        conn.execute(text("INSERT INTO note (text) VALUES ('lost')"))
        raise RuntimeError("rolled back")
    assert token(engine) == third


def test_a_result_is_computed_once_per_version(engine: Engine) -> None:
    cache = VersionedCache("notes")
    computed: list[int] = []

    def notes(session: Session) -> list[str]:
        def compute() -> list[str]:
            computed.append(1)
            return [r[0] for r in session.execute(text("SELECT text FROM note ORDER BY id"))]

        return cache.get_or_compute(session, "all", compute)

    write(engine, "DELETE FROM data_version")
    with transaction(engine) as session:
        assert notes(session) == [] and len(computed) == 1  # no token: not cached
    with transaction(engine) as session:
        assert notes(session) == [] and len(computed) == 2
    write(engine, "INSERT INTO note (text) VALUES ('a')")
    for _ in range(3):
        with transaction(engine) as session:
            assert notes(session) == ["a"]
    assert len(computed) == 3  # once for this version
    write(engine, "INSERT INTO note (text) VALUES ('b')")
    with transaction(engine) as session:
        assert notes(session) == ["a", "b"]
    assert len(computed) == 4


def test_one_request_reads_the_token_once_for_several_results(engine: Engine) -> None:
    cache = VersionedCache("notes")
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with transaction(engine) as session:
        at = cache.at(session)
        assert at.get_or_compute("a", lambda: 1) == 1
        assert at.get_or_compute("b", lambda: 2) == 2
    assert sum("data_version" in s for s in statements) == 1
    with transaction(engine) as session:  # the same version: both cached
        at = cache.at(session)
        assert (at.get_or_compute("a", lambda: -1), at.get_or_compute("b", lambda: -1)) == (1, 2)


def test_the_triggers_go_with_a_downgrade(fresh_database: str) -> None:
    downgrade(TEST_APP_DIR, fresh_database, "0001")
    upgrade(TEST_APP_DIR, fresh_database)
    engine = make_engine(fresh_database)
    try:
        write(engine, "INSERT INTO note (text) VALUES ('a')")
        assert token(engine) is not None
    finally:
        engine.dispose()


def test_dropping_one_group_keeps_the_others(fresh_database: str) -> None:
    engine = make_engine(fresh_database)
    try:
        assert token(engine, "note_count") is not None
        downgrade(TEST_APP_DIR, fresh_database, "0002")
        assert token(engine, "note_count") is None  # its token went with it
        before = token(engine)
        write(engine, "INSERT INTO note (text) VALUES ('a')")
        after = token(engine)
        assert after is not None and after != before  # "notes" still kept by its trigger
        upgrade(TEST_APP_DIR, fresh_database)
        first = token(engine, "note_count")
        write(engine, "INSERT INTO note (text) VALUES ('b')")
        assert token(engine, "note_count") not in (None, first)
    finally:
        engine.dispose()
