"""``AuditTrail``: one service's audit model bound once; single events and batches record the same
columns, keep only what changed, and record nothing for a change that changes nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import Session, select

from rlc_shared.audit import AuditTrail
from rlc_shared.auth import Principal
from rlc_shared.db import make_engine
from rlc_shared.logging import request_id

from .conftest import TEST_MODELS

AuditEvent = TEST_MODELS.AuditEvent
audit = AuditTrail(AuditEvent)


@pytest.fixture
def session(fresh_database: str) -> Iterator[Session]:
    engine = make_engine(fresh_database)
    with Session(engine) as s:
        yield s
    engine.dispose()


def _events(session: Session) -> list[dict[str, Any]]:
    rows = session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()
    return [r.model_dump(exclude={"id", "at"}) for r in rows]


def test_one_event_names_the_actor_and_keeps_only_what_changed(session: Session) -> None:
    manager = Principal(sub="tm-1", roles=frozenset({"trial_manager", "auditor"}))
    token = request_id.set("req-1")
    try:
        event = audit(
            session,
            actor=manager,
            action="school.withdrawn",
            entity_type="school",
            entity_id=100001,
            old={"status": "consented", "arm": "control"},
            new={"status": "withdrawn", "arm": "control"},
            reason="moved away",
        )
    finally:
        request_id.reset(token)
    session.commit()
    assert event is not None and event.id is not None
    assert _events(session) == [
        {
            "actor": "tm-1",
            "actor_roles": "auditor,trial_manager",
            "action": "school.withdrawn",
            "entity_type": "school",
            "entity_id": "100001",
            "reason": "moved away",
            "old": {"status": "consented"},
            "new": {"status": "withdrawn"},
            "request_id": "req-1",
        }
    ]


def test_a_change_that_changes_nothing_is_not_recorded_unless_asked(session: Session) -> None:
    same = {"title": "Pre", "opens_on": dt.date(2021, 9, 1)}
    assert (
        audit(session, actor="x", action="a", entity_type="t", entity_id=1, old=same, new=same)
        is None
    )
    kept = audit(
        session, actor="x", action="a", entity_type="t", entity_id=1, old=same, new=same, diff=False
    )
    session.commit()
    assert kept is not None
    [event] = _events(session)
    assert event["old"] == event["new"] == {"title": "Pre", "opens_on": "2021-09-01"}


def test_a_batch_records_the_same_columns_in_one_statement(session: Session) -> None:
    audit(
        session,
        actor="delivery-1",
        action="attendance.recorded",
        entity_type="attendance",
        entity_id="s1/7",
        old={"minutes": 10},
        new={"minutes": 90},
    )
    single = _events(session)[0]
    count = audit.many(
        session,
        actor="delivery-1",
        action="attendance.recorded",
        entity_type="attendance",
        events=[
            ("s1/8", {"minutes": 10}, {"minutes": 90}),
            ("s1/9", {"minutes": 30}, {"minutes": 30}),  # unchanged: no event
            ("s1/10", None, {"minutes": 45}),
        ],
    )
    session.commit()
    assert count == 2
    batch = _events(session)[1:]
    assert batch[0] == single | {"entity_id": "s1/8"}
    assert [(e["entity_id"], e["old"], e["new"]) for e in batch] == [
        ("s1/8", {"minutes": 10}, {"minutes": 90}),
        ("s1/10", None, {"minutes": 45}),
    ]
    times = session.exec(select(AuditEvent.at).where(AuditEvent.id > 1)).all()
    assert len(set(times)) == 1  # one moment for the whole batch


def test_an_empty_batch_inserts_nothing(session: Session) -> None:
    same = {"minutes": 5}
    assert (
        audit.many(session, actor="x", action="a", entity_type="t", events=[(1, same, same)]) == 0
    )
    assert audit.many(session, actor="x", action="a", entity_type="t", events=[]) == 0
    session.commit()
    assert _events(session) == []
