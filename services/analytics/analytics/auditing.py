"""Recording changes in this service's audit trail (always in the same transaction as the change)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from analytics.models import AuditEvent
from rlc_shared.audit import record


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
