"""The shared library's test app's tables, on its own metadata: an audit trail, and a table of
notes whose changes are tracked by a data version."""

from sqlmodel import Field, SQLModel

from rlc_shared.audit import AuditEventFields
from rlc_shared.db import service_registry
from rlc_shared.versions import DataVersionFields


class ServiceModel(SQLModel, registry=service_registry()):
    """The base of the test app's tables."""


class AuditEvent(AuditEventFields, ServiceModel, table=True):
    __tablename__ = "audit_event"


class DataVersion(DataVersionFields, ServiceModel, table=True):
    __tablename__ = "data_version"


class Note(ServiceModel, table=True):
    __tablename__ = "note"

    id: int | None = Field(default=None, primary_key=True)
    text: str = Field(max_length=200)
