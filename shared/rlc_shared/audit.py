"""The audit trail: who changed what, when, why, with old and new values.

Each service has its own ``audit_event`` table (in its own database): build it with
``class AuditEvent(AuditEventFields, ServiceModel, table=True)``, bind it once with
``audit = AuditTrail(AuditEvent)`` and record through ``audit(session, ...)`` (or
``audit.many``), inside the same transaction as the change, so the trail and the data never
disagree.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, insert
from sqlmodel import Field, Session, SQLModel, select

from rlc_shared.logging import request_id
from rlc_shared.pagination import Page, PageParams, paginate


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class AuditEventFields(SQLModel):
    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(default_factory=utcnow, index=True)
    actor: str = Field(max_length=200)
    actor_roles: str = Field(default="", max_length=300)
    action: str = Field(max_length=100, index=True)
    entity_type: str = Field(max_length=60)
    entity_id: str = Field(max_length=100, index=True)
    reason: str | None = Field(default=None, max_length=2000)
    old: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    new: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    request_id: str | None = Field(default=None, max_length=64)


def jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def snapshot(obj: Any, fields: list[str] | None = None) -> dict[str, Any]:
    """The audited state of a model: its columns (or ``fields``), JSON-ready."""
    data = obj.model_dump() if hasattr(obj, "model_dump") else dict(obj)
    if fields is not None:
        data = {k: data.get(k) for k in fields}
    return jsonable(data)


def changes(old: dict[str, Any] | None, new: dict[str, Any] | None) -> tuple[dict, dict]:
    """Only the fields that changed, as (old, new)."""
    old, new = old or {}, new or {}
    keys = [k for k in {**old, **new} if old.get(k) != new.get(k)]
    return {k: old.get(k) for k in keys if k in old}, {k: new.get(k) for k in keys if k in new}


def actor_fields(actor: Any) -> dict[str, Any]:
    """The who of an audit event: ``actor``, ``actor_roles`` and ``request_id``.

    ``actor`` is a Principal, or a plain string for system actions. Bulk writers (such as an
    import that inserts audit rows in batches) use this to fill the same columns as
    :func:`record`.
    """
    roles = getattr(actor, "roles", None)
    return {
        "actor": getattr(actor, "sub", None) or str(actor),
        "actor_roles": ",".join(sorted(roles)) if roles else "",
        "request_id": request_id.get(),
    }


def _event(
    who: dict[str, Any],
    *,
    action: str,
    entity_type: str,
    entity_id: Any,
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
    reason: str | None,
    diff: bool,
) -> dict[str, Any] | None:
    """One event's columns, or None when ``diff`` finds that nothing changed."""
    if diff and old is not None and new is not None:
        old, new = changes(old, new)
        if not old and not new:
            return None
    return {
        **who,
        "action": action,
        "entity_type": entity_type,
        "entity_id": str(entity_id),
        "reason": reason,
        "old": jsonable(old) if old is not None else None,
        "new": jsonable(new) if new is not None else None,
    }


def record(
    session: Session,
    model: type[AuditEventFields],
    *,
    actor: Any,
    action: str,
    entity_type: str,
    entity_id: Any,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
    reason: str | None = None,
    diff: bool = True,
) -> AuditEventFields | None:
    """Add one audit event to the session (committed with the change it describes).

    ``actor`` is a Principal (or a plain string for system actions). With ``diff`` only changed
    fields are kept; a change that changes nothing records nothing and returns None.
    """
    values = _event(
        actor_fields(actor),
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        old=old,
        new=new,
        reason=reason,
        diff=diff,
    )
    if values is None:
        return None
    event = model(**values)
    session.add(event)
    return event


#: One event of a batch: ``(entity_id, old, new)``.
Change = tuple[Any, dict[str, Any] | None, dict[str, Any] | None]


def record_many(
    session: Session,
    model: type[AuditEventFields],
    *,
    actor: Any,
    action: str,
    entity_type: str,
    events: Iterable[Change],
    reason: str | None = None,
) -> int:
    """One event per ``(entity_id, old, new)`` that changes something (only changed fields kept),
    inserted in one statement: an upload can change hundreds of rows at once, and one ORM object
    per event would cost more than the change. Returns how many events were recorded."""
    who = {**actor_fields(actor), "at": utcnow()}
    rows = []
    for entity_id, old, new in events:
        values = _event(
            who,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            old=old,
            new=new,
            reason=reason,
            diff=True,
        )
        if values is not None:
            rows.append(values)
    if rows:
        session.execute(insert(model), rows)
    return len(rows)


class AuditTrail:
    """One service's audit trail: its ``AuditEvent`` model bound once (``audit =
    AuditTrail(AuditEvent)`` in the service's ``auditing.py``), so a call site says only what
    happened and no service writes its own copy of :func:`record`'s signature."""

    def __init__(self, model: type[AuditEventFields]) -> None:
        self.model = model

    def __call__(
        self,
        session: Session,
        *,
        actor: Any,
        action: str,
        entity_type: str,
        entity_id: Any,
        old: dict[str, Any] | None = None,
        new: dict[str, Any] | None = None,
        reason: str | None = None,
        diff: bool = True,
    ) -> AuditEventFields | None:
        """Record one event (see :func:`record`)."""
        return record(
            session,
            self.model,
            actor=actor,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            old=old,
            new=new,
            reason=reason,
            diff=diff,
        )

    def many(
        self,
        session: Session,
        *,
        actor: Any,
        action: str,
        entity_type: str,
        events: Iterable[Change],
        reason: str | None = None,
    ) -> int:
        """Record a batch of events in one statement (see :func:`record_many`)."""
        return record_many(
            session,
            self.model,
            actor=actor,
            action=action,
            entity_type=entity_type,
            events=events,
            reason=reason,
        )


def list_events(
    session: Session,
    model: type[AuditEventFields],
    *,
    page: PageParams,
    entity_type: str | None = None,
    entity_id: str | None = None,
    action: str | None = None,
) -> Page[dict[str, Any]]:
    """A page of the service's audit trail, oldest first, filtered by entity or action."""
    stmt = select(model)
    if entity_type:
        stmt = stmt.where(model.entity_type == entity_type)
    if entity_id:
        stmt = stmt.where(model.entity_id == entity_id)
    if action:
        stmt = stmt.where(model.action == action)
    rows, count, cursor = paginate(session, stmt, key=model.id, params=page)
    return Page(data=[r.model_dump(mode="json") for r in rows], count=count, next_cursor=cursor)
