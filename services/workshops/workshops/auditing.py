"""Recording changes in this service's audit trail (always in the same transaction as the change).

Names and addresses never go into an event: attendees are named by id, participants by report
and line.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session

from rlc_shared.audit import actor_fields, changes, jsonable, record, snapshot, utcnow
from workshops.models import AuditEvent


def audit(
    session: Session,
    *,
    actor: Any,
    action: str,
    entity_type: str,
    entity_id: Any,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
    reason: str | None = None,
) -> None:
    record(
        session,
        AuditEvent,
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        old=old,
        new=new,
        reason=reason,
    )


def audit_many(
    session: Session,
    *,
    actor: Any,
    action: str,
    entity_type: str,
    events: Iterable[tuple[Any, dict[str, Any] | None, dict[str, Any] | None]],
    reason: str | None = None,
) -> int:
    """One event per ``(entity_id, old, new)`` (only changed fields kept), inserted in one
    statement: an upload changes a whole session's attendance at once."""
    who = actor_fields(actor)
    at = utcnow()
    rows = []
    for entity_id, old, new in events:
        if old is not None and new is not None:
            old, new = changes(old, new)
            if not old and not new:
                continue
        rows.append(
            {
                **who,
                "at": at,
                "action": action,
                "entity_type": entity_type,
                "entity_id": str(entity_id),
                "reason": reason,
                "old": jsonable(old) if old is not None else None,
                "new": jsonable(new) if new is not None else None,
            }
        )
    if rows:
        session.execute(insert(AuditEvent), rows)
    return len(rows)


def state(obj: Any, fields: list[str]) -> dict[str, Any]:
    """The audited fields of a row, JSON-ready."""
    return snapshot(obj, fields)
