"""Recording changes in this service's audit trail (always in the same transaction as the change).

Audit events name teachers only by their pseudonym (``teacher_key``) and school emails only by
their hash: the trail is read by auditors and must not become a copy of the raw exports.
"""

from __future__ import annotations

from rlc_shared.audit import AuditTrail
from surveys.models import AuditEvent

#: The actor of what the parsing worker and the webhook do (no person's token is involved).
WORKER_ACTOR = "surveys-worker"
WEBHOOK_ACTOR = "webhook:ipsos"

audit = AuditTrail(AuditEvent)
