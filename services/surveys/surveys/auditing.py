"""Recording changes in this service's audit trail (always in the same transaction as the change).

Audit events name teachers only by their pseudonym (``teacher_key``) and school emails only by
their hash: the trail is read by auditors and must not become a copy of the raw exports.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from rlc_shared.audit import record
from surveys.models import AuditEvent

#: The actor of what the parsing worker and the webhook do (no person's token is involved).
WORKER_ACTOR = "surveys-worker"
WEBHOOK_ACTOR = "webhook:ipsos"


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
    diff: bool = True,
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
        diff=diff,
    )
