"""The shared library's test app's one table: an audit trail, on its own metadata."""

from sqlmodel import SQLModel

from rlc_shared.audit import AuditEventFields
from rlc_shared.db import service_registry


class ServiceModel(SQLModel, registry=service_registry()):
    """The base of the test app's tables."""


class AuditEvent(AuditEventFields, ServiceModel, table=True):
    __tablename__ = "audit_event"
