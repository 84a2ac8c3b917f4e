"""Tables of the analytics service, on its own metadata."""

from sqlmodel import SQLModel

from rlc_shared.audit import AuditEventFields
from rlc_shared.db import service_registry


class ServiceModel(SQLModel, registry=service_registry()):
    """The base of this service's tables, on its own metadata."""


class AuditEvent(AuditEventFields, ServiceModel, table=True):
    __tablename__ = "audit_event"
