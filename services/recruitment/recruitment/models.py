"""Tables of the recruitment service, on its own metadata.

Singular snake_case table names, ``*_at`` timestamps in UTC, ``*_on`` for calendar dates. Statuses
are stored as plain strings (portable across PostgreSQL and SQLite); their values are
:class:`SchoolStatus`, and the transitions between them live in ``recruitment.schools.service``.
"""

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON
from sqlmodel import Field, SQLModel

from rlc_shared.audit import AuditEventFields, utcnow
from rlc_shared.db import service_registry
from rlc_shared.versions import DataVersionFields


class SchoolStatus(StrEnum):
    """A school's progress through the trial (no status: a GIAS school not nominated)."""

    nominated = "nominated"
    eligible = "eligible"
    ineligible = "ineligible"
    consented = "consented"
    randomised = "randomised"
    withdrawn = "withdrawn"


class ServiceModel(SQLModel, registry=service_registry()):
    """The base of this service's tables, on its own metadata."""


class AuditEvent(AuditEventFields, ServiceModel, table=True):
    __tablename__ = "audit_event"


class DataVersion(DataVersionFields, ServiceModel, table=True):
    """The token of the schools' data (kept by triggers; see ``rlc_shared.versions``)."""

    __tablename__ = "data_version"


class LocalAuthority(ServiceModel, table=True):
    """A local authority that expressed interest, keyed by its DfE LA code (GIAS "LA (code)")."""

    __tablename__ = "local_authority"

    la_code: str = Field(primary_key=True, max_length=10)
    name: str = Field(max_length=200)
    eoi_on: dt.date
    eoi_contact_name: str = Field(max_length=200)
    eoi_contact_email: str | None = Field(default=None, max_length=320)
    #: Why a trial manager accepted an expression of interest after the deadline.
    late_override_reason: str | None = Field(default=None, max_length=2000)
    target_schools: int | None = None
    registered_at: dt.datetime = Field(default_factory=utcnow)
    registered_by: str = Field(max_length=200)
    dsa_signed_on: dt.date | None = None
    dsa_reference: str | None = Field(default=None, max_length=100)
    dsa_document_key: str | None = Field(default=None, max_length=300)
    dsa_document_sha256: str | None = Field(default=None, max_length=64)
    dsa_content_type: str | None = Field(default=None, max_length=100)


class VirtualSchool(ServiceModel, table=True):
    """The one Virtual School that acts for a local authority."""

    __tablename__ = "virtual_school"

    id: int | None = Field(default=None, primary_key=True)
    la_code: str = Field(foreign_key="local_authority.la_code", unique=True, max_length=10)
    head_name: str = Field(max_length=200)
    contact_email: str | None = Field(default=None, max_length=320)
    contact_phone: str | None = Field(default=None, max_length=40)
    updated_at: dt.datetime = Field(default_factory=utcnow)


class School(ServiceModel, table=True):
    """An establishment from GIAS and, once nominated, its progress through the trial."""

    __tablename__ = "school"

    urn: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    # GIAS attributes, kept current by each import. Unbounded text: GIAS decides their length.
    la_code: str = Field(index=True)
    la_name: str
    name: str = Field(index=True)
    establishment_type: str
    gias_status: str
    phase: str
    low_age: int | None = None
    high_age: int | None = None
    pupils: int | None = None
    # Kept as GIAS wrote it ("3.4"), so re-imports compare exactly.
    percentage_fsm: str | None = Field(default=None, max_length=10)
    postcode: str | None = None
    open_date: dt.date | None = None
    close_date: dt.date | None = None
    town: str | None = None
    type_group: str | None = None
    gias_import_id: int | None = Field(default=None, foreign_key="gias_import.id")
    gias_updated_at: dt.datetime = Field(default_factory=utcnow)

    # The trial. status None: not (yet) nominated.
    status: str | None = Field(default=None, max_length=20, index=True)
    nominated_at: dt.datetime | None = None
    nominated_by: str | None = Field(default=None, max_length=200)
    year56_social_worker_pupils: int | None = None
    year56_looked_after_pupils: int | None = None
    #: The last eligibility decision (None: not assessed); kept when the school moves on.
    eligible: bool | None = Field(default=None, index=True)
    eligibility_decided_at: dt.datetime | None = None
    eligibility_reasons: list[str] | None = Field(default=None, sa_type=JSON)
    looked_after_flag: bool = False
    consent_head_teacher: str | None = Field(default=None, max_length=200)
    consent_on: dt.date | None = None
    consent_random_allocation: bool | None = None
    consent_evaluation: bool | None = None
    consent_form_key: str | None = Field(default=None, max_length=300)
    consent_form_sha256: str | None = Field(default=None, max_length=64)
    consent_form_content_type: str | None = Field(default=None, max_length=100)
    consented_at: dt.datetime | None = None
    randomisation_run_id: str | None = Field(default=None, max_length=100)
    arm: str | None = Field(default=None, max_length=20)
    randomised_at: dt.datetime | None = None
    #: The randomisation log's run.executed entry that holds the allocation (from its signed
    #: statement), so an auditor can find it.
    randomisation_log_index: int | None = None
    randomisation_entry_hash: str | None = Field(default=None, max_length=64)
    withdrawn_on: dt.date | None = None
    withdrawal_reason: str | None = Field(default=None, max_length=2000)
    withdrawn_from_status: str | None = Field(default=None, max_length=20)


class SchoolEmail(ServiceModel, table=True):
    """A school's GIAS email: the current one has ``valid_to`` None, earlier ones keep their dates."""

    __tablename__ = "school_email"

    id: int | None = Field(default=None, primary_key=True)
    urn: int = Field(foreign_key="school.urn", index=True)
    email: str = Field(max_length=320)
    #: The normalised address case-folded: what lookups compare.
    email_key: str = Field(max_length=320, index=True)
    valid_from: dt.datetime = Field(default_factory=utcnow)
    valid_to: dt.datetime | None = None
    source: str = Field(max_length=60)
    set_by: str = Field(max_length=200)


class StaffMember(ServiceModel, table=True):
    """A member of a school's staff in the trial and their consent to data collection."""

    __tablename__ = "staff_member"

    id: int | None = Field(default=None, primary_key=True)
    urn: int = Field(foreign_key="school.urn", index=True)
    name: str = Field(max_length=200)
    role: str = Field(max_length=40)
    #: Personal data: only kept because questionnaires are sent to it; never logged or audited.
    email: str | None = Field(default=None, max_length=320)
    data_collection_consent: bool = False
    consented_on: dt.date | None = None
    withdrawn_on: dt.date | None = None
    withdrawal_covers: list[str] | None = Field(default=None, sa_type=JSON)
    withdrawal_reason: str | None = Field(default=None, max_length=2000)
    created_at: dt.datetime = Field(default_factory=utcnow)


class GiasImport(ServiceModel, table=True):
    """One import of a GIAS establishment extract or email register, and what it did."""

    __tablename__ = "gias_import"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)
    file_name: str = Field(max_length=255)
    sha256: str = Field(max_length=64, index=True)
    size_bytes: int
    storage_key: str | None = Field(default=None, max_length=300)
    imported_at: dt.datetime = Field(default_factory=utcnow)
    imported_by: str = Field(max_length=200)
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejections: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
