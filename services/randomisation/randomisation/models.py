"""Tables of the randomisation service, on its own metadata."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from rlc_shared.audit import AuditEventFields, utcnow
from rlc_shared.db import service_registry
from rlc_shared.versions import DataVersionFields


class ServiceModel(SQLModel, registry=service_registry()):
    """The base of this service's tables, on its own metadata."""


class AuditEvent(AuditEventFields, ServiceModel, table=True):
    __tablename__ = "audit_event"


class DataVersion(DataVersionFields, ServiceModel, table=True):
    """The token of the log (kept by a trigger; see ``rlc_shared.versions``)."""

    __tablename__ = "data_version"


class RunStatus(StrEnum):
    draft = "draft"
    frozen = "frozen"
    executed = "executed"
    abandoned = "abandoned"


class NotificationStatus(StrEnum):
    pending = "pending"
    acknowledged = "acknowledged"
    refused = "refused"


class Scheme(ServiceModel, table=True):
    """A randomisation scheme: arms, ratio, stratification, live or test."""

    __tablename__ = "scheme"

    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    arms: list[str] = Field(sa_column=Column(JSON, nullable=False))
    ratio: str = Field(default="1:1", max_length=20)
    strata_attributes: list[str] = Field(sa_column=Column(JSON, nullable=False))
    algorithm: str = Field(max_length=60)
    test: bool = Field(default=False)
    created_at: dt.datetime = Field(default_factory=utcnow)
    created_by: str = Field(max_length=200)


class Run(ServiceModel, table=True):
    """One batch of schools: draft, then frozen, then executed (or abandoned)."""

    __tablename__ = "run"

    id: str = Field(primary_key=True, max_length=40)
    scheme_id: str = Field(foreign_key="scheme.id", index=True, max_length=40)
    label: str = Field(max_length=200)
    test: bool = Field(default=False)
    status: str = Field(default=RunStatus.draft, max_length=20, index=True)
    created_at: dt.datetime = Field(default_factory=utcnow)
    created_by: str = Field(max_length=200)
    frozen_at: dt.datetime | None = None
    frozen_entry_index: int | None = None
    school_count: int | None = None
    list_sha256: str | None = Field(default=None, max_length=64)
    executed_at: dt.datetime | None = None
    executed_entry_index: int | None = None
    abandoned_at: dt.datetime | None = None
    abandon_reason: str | None = Field(default=None, max_length=2000)


class RunSchool(ServiceModel, table=True):
    """A school in a run's frozen list, with the attributes the allocation table keeps."""

    __tablename__ = "run_school"
    __table_args__ = (UniqueConstraint("run_id", "urn"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="run.id", index=True, max_length=40)
    urn: int = Field(index=True)
    stratum: str = Field(max_length=500)
    la_code: str | None = Field(default=None, max_length=20)


class Allocation(ServiceModel, table=True):
    """A school's arm. Never deleted or changed; an error is flagged, not corrected."""

    __tablename__ = "allocation"
    # One allocation per school per namespace: "live" (every live scheme), or "test:<scheme_id>"
    # (each test scheme its own, so rehearsals can be repeated): a second is impossible.
    __table_args__ = (UniqueConstraint("urn", "namespace"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="run.id", index=True, max_length=40)
    urn: int = Field(index=True)
    arm: str = Field(max_length=20)
    stratum: str = Field(max_length=500)
    la_code: str | None = Field(default=None, max_length=20, index=True)
    namespace: str = Field(max_length=60)
    test: bool = Field(default=False)
    allocated_at: dt.datetime = Field(default_factory=utcnow)
    in_error: bool = Field(default=False)
    in_error_reason: str | None = Field(default=None, max_length=2000)
    in_error_at: dt.datetime | None = None
    in_error_by: str | None = Field(default=None, max_length=200)


class Notification(ServiceModel, table=True):
    """Outbox: tell recruitment a school is randomised, until it acknowledges."""

    __tablename__ = "notification"
    __table_args__ = (UniqueConstraint("run_id", "urn"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="run.id", index=True, max_length=40)
    urn: int
    arm: str = Field(max_length=20)
    test: bool = Field(default=False)
    status: str = Field(default=NotificationStatus.pending, max_length=20, index=True)
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, max_length=2000)
    next_attempt_at: dt.datetime = Field(default_factory=utcnow)
    created_at: dt.datetime = Field(default_factory=utcnow)
    completed_at: dt.datetime | None = None


class LogEntry(ServiceModel, table=True):
    """The append-only log: the exact canonical bytes of each entry, and its Merkle leaf hash.

    PostgreSQL triggers refuse UPDATE, DELETE and TRUNCATE; the app only ever inserts.
    """

    __tablename__ = "log_entry"

    # The entry's ``index``: the primary key makes it unique, so the chain cannot fork.
    entry_index: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    entry_type: str = Field(max_length=60, index=True)
    run_id: str | None = Field(default=None, max_length=40, index=True)
    test: bool = Field(default=False)
    logged_at: dt.datetime = Field(index=True)
    actor: str = Field(max_length=200)
    entry_hash: str = Field(max_length=64, unique=True)
    leaf_hash: str = Field(max_length=64)
    canonical: str = Field(sa_column=Column(Text, nullable=False))


class SigningKey(ServiceModel, table=True):
    """Every key that has signed checkpoints, so old checkpoints stay verifiable after rotation."""

    __tablename__ = "signing_key"

    kid: str = Field(primary_key=True, max_length=64)
    public_jwk: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    registered_at: dt.datetime = Field(default_factory=utcnow)
