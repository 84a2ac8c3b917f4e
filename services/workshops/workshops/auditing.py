"""Recording changes in this service's audit trail (always in the same transaction as the change).

Names and addresses never go into an event: attendees are named by id, participants by report
and line. ``audit_many`` records a batch in one statement: an upload changes a whole session's
attendance at once.
"""

from __future__ import annotations

from typing import Any

from rlc_shared.audit import AuditTrail, snapshot
from workshops.models import AuditEvent

audit = AuditTrail(AuditEvent)
audit_many = audit.many


def state(obj: Any, fields: list[str]) -> dict[str, Any]:
    """The audited fields of a row, JSON-ready."""
    return snapshot(obj, fields)
