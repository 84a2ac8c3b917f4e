"""Recording changes in this service's audit trail (always in the same transaction as the change)."""

from __future__ import annotations

from typing import Any

from recruitment.models import AuditEvent
from rlc_shared.audit import AuditTrail, snapshot

audit = AuditTrail(AuditEvent)


def state(obj: Any, fields: list[str]) -> dict[str, Any]:
    """The audited fields of a row, JSON-ready."""
    return snapshot(obj, fields)


def staff_entity_id(urn: int, staff_id: int | None) -> str:
    """Staff events are keyed ``<urn>/<id>`` so a school's history can include them."""
    return f"{urn}/{staff_id}"
