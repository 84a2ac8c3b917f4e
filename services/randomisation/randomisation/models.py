"""Tables of the randomisation service, on its own metadata."""

from rlc_shared.audit import AuditEventFields
from rlc_shared.db import service_base

ServiceModel = service_base()


class AuditEvent(AuditEventFields, ServiceModel, table=True):
    __tablename__ = "audit_event"
