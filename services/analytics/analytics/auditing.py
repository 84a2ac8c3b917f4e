"""Recording changes in this service's audit trail (always in the same transaction as the change)."""

from __future__ import annotations

from analytics.models import AuditEvent
from rlc_shared.audit import AuditTrail

audit = AuditTrail(AuditEvent)
