"""Tables of the surveys service, on its own metadata.

Singular snake_case table names, ``*_at`` timestamps in UTC, ``*_on`` for calendar dates;
statuses and kinds are plain strings whose values are the enums below.

Personal data: no table holds a teacher's email or name, nor a school email as written. A
teacher is ``teacher_key`` (an HMAC of their email, or of their response id), a school email
``email_hash`` (an HMAC of the normalised address) with, in the unmatched queue only, its
domain and a redacted display (``j***@school.sch.uk``) so a person can resolve it. The raw
export, which holds everything, stays in object storage (content-addressed by its SHA-256).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from rlc_shared.audit import AuditEventFields, utcnow
from rlc_shared.db import service_registry
from rlc_shared.versions import DataVersionFields


class RoundName(StrEnum):
    pre = "pre"
    post = "post"


class ExportStatus(StrEnum):
    received = "received"
    parsing = "parsing"
    done = "done"
    failed = "failed"


class LinkKind(StrEnum):
    """How a response was linked to its school."""

    exact = "exact"  # the school's current GIAS email
    historical = "historical"  # an earlier GIAS email of the school
    domain = "domain"  # the only trial school using the address's domain
    manual = "manual"  # an evaluator assigned the URN (the unmatched queue)


class UnmatchedStatus(StrEnum):
    open = "open"
    resolved = "resolved"


class ServiceModel(SQLModel, registry=service_registry()):
    """The base of this service's tables, on its own metadata."""


class AuditEvent(AuditEventFields, ServiceModel, table=True):
    __tablename__ = "audit_event"


class DataVersion(DataVersionFields, ServiceModel, table=True):
    """The tokens of the responses and of the rounds (kept by triggers; see
    ``rlc_shared.versions``)."""

    __tablename__ = "data_version"


class SurveyRound(ServiceModel, table=True):
    """A questionnaire round (``pre`` in October, ``post`` in May) and its current codebook."""

    __tablename__ = "survey_round"

    name: str = Field(primary_key=True, max_length=10)
    survey_id: str = Field(max_length=200)
    opens_on: dt.date
    closes_on: dt.date
    #: The current codebook's version number (its row in codebook_version).
    codebook_version: int
    created_at: dt.datetime = Field(default_factory=utcnow)
    updated_at: dt.datetime = Field(default_factory=utcnow)
    updated_by: str = Field(max_length=200)


class CodebookVersion(ServiceModel, table=True):
    """One version of a round's codebook. Frozen once an export was parsed with it: a change
    after that is a new version, and re-scoring the round's exports is a separate request."""

    __tablename__ = "codebook_version"
    __table_args__ = (UniqueConstraint("round", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    round: str = Field(foreign_key="survey_round.name", index=True, max_length=10)
    version: int
    codebook: dict[str, Any] = Field(sa_type=JSON)
    fingerprint: str = Field(max_length=64)
    created_at: dt.datetime = Field(default_factory=utcnow)
    created_by: str = Field(max_length=200)
    frozen_at: dt.datetime | None = None


class Export(ServiceModel, table=True):
    """One survey export as received (by webhook or by hand) and what parsing made of it.

    ``status`` moves received → parsing → done | failed. ``claimed_by``/``heartbeat_at`` are the
    worker's claim: an export parsing without a heartbeat for a while is taken over by another
    worker, which resumes after ``progress_row`` (every chunk is committed with its counts).
    """

    __tablename__ = "export"
    __table_args__ = (
        # One original per content: a second export of the same bytes is a duplicate of it.
        Index(
            "uq_export_original_content",
            "content_sha256",
            unique=True,
            postgresql_where=text("duplicate_of IS NULL"),
            sqlite_where=text("duplicate_of IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    round: str = Field(index=True, max_length=10)
    survey_id: str | None = Field(default=None, max_length=200)
    source: str = Field(max_length=20)  # "webhook" or "upload"
    webhook_id: str | None = Field(default=None, unique=True, max_length=256)
    file_name: str = Field(max_length=255)
    declared_format: str | None = Field(default=None, max_length=10)
    format: str | None = Field(default=None, max_length=10)
    content_sha256: str = Field(index=True, max_length=64)
    size_bytes: int
    storage_key: str = Field(max_length=300)
    status: str = Field(index=True, max_length=20)
    duplicate_of: int | None = Field(default=None, foreign_key="export.id")
    received_at: dt.datetime = Field(default_factory=utcnow)
    received_by: str = Field(max_length=200)
    codebook_version_id: int | None = Field(default=None, foreign_key="codebook_version.id")

    claimed_by: str | None = Field(default=None, max_length=100)
    heartbeat_at: dt.datetime | None = None
    retry_at: dt.datetime | None = None
    attempts: int = 0
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    progress_row: int = 0
    last_error: str | None = Field(default=None, max_length=2000)

    rows: int = 0  # responses read from the file
    linked: int = 0
    unmatched: int = 0
    withdrawn: int = 0  # responses of teachers who withdrew: not kept
    skipped: int = 0  # responses without a response id, or repeated within the export
    links_exact: int = 0
    links_historical: int = 0
    links_domain: int = 0
    links_manual: int = 0
    rows_rejected: int = 0
    error_count: int = 0
    errors: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    warnings: list[str] = Field(default_factory=list, sa_type=JSON)


class SurveyResponse(ServiceModel, table=True):
    """One respondent's answers, keyed by the export's own response id within the round (a later
    export with the same response id updates the row: nothing is counted twice)."""

    __tablename__ = "survey_response"
    __table_args__ = (
        UniqueConstraint("round", "response_id"),
        Index("ix_survey_response_round_urn", "round", "urn"),
    )

    id: int | None = Field(default=None, primary_key=True)
    round: str = Field(max_length=10)
    response_id: str = Field(max_length=200)
    export_id: int = Field(foreign_key="export.id")
    row: int
    # No single-column indexes here: every one costs a third more per row written, and the
    # lookups by teacher, email or export (a withdrawal, a resolution, an export's counts) are
    # rare and scan a round's few thousand responses quickly.
    teacher_key: str = Field(max_length=64)
    teacher_key_source: str = Field(max_length=10)  # "email" or "id"
    school_email_hash: str | None = Field(default=None, max_length=64)
    urn: int | None = None
    la_code: str | None = Field(default=None, max_length=10)
    link_kind: str | None = Field(default=None, max_length=12)
    role: str | None = Field(default=None, max_length=200)
    codebook_version_id: int = Field(foreign_key="codebook_version.id")
    knowledge: float | None = None
    attitudes: float | None = None
    use: float | None = None
    #: The usable reverse-coded answers to every item of ``codebook_version_id``'s codebook
    #: (scales in the order knowledge, attitudes, use; items in codebook order), as
    #: little-endian float64, NaN where not usable (``surveys.scoring.packing``): what
    #: Cronbach's alpha is computed from, read back for 100,000 responses at numpy speed.
    items: bytes = Field(default=b"", sa_type=LargeBinary)
    updated_at: dt.datetime = Field(default_factory=utcnow)


class UnmatchedResponse(ServiceModel, table=True):
    """A response that could not be linked to a school, waiting for an evaluator's decision."""

    __tablename__ = "unmatched_response"

    id: int | None = Field(default=None, primary_key=True)
    response_pk: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("survey_response.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        )
    )
    round: str = Field(index=True, max_length=10)
    export_id: int = Field(foreign_key="export.id", index=True)
    row: int
    response_id: str = Field(max_length=200)
    email_hash: str | None = Field(default=None, index=True, max_length=64)
    email_domain: str | None = Field(default=None, max_length=255)
    email_display: str | None = Field(default=None, max_length=320)
    reason: str = Field(max_length=40)
    detail: str = Field(max_length=500)
    status: str = Field(index=True, max_length=10)
    resolved_urn: int | None = None
    resolved_at: dt.datetime | None = None
    resolved_by: str | None = Field(default=None, max_length=200)
    resolution_reason: str | None = Field(default=None, max_length=2000)
    created_at: dt.datetime = Field(default_factory=utcnow)
    updated_at: dt.datetime = Field(default_factory=utcnow)


class ManualLink(ServiceModel, table=True):
    """An evaluator's decision that a school email belongs to a school: applied to every
    response with that email, in this and later exports and rounds."""

    __tablename__ = "manual_link"

    email_hash: str = Field(primary_key=True, max_length=64)
    urn: int
    la_code: str | None = Field(default=None, max_length=10)
    reason: str = Field(max_length=2000)
    set_by: str = Field(max_length=200)
    set_at: dt.datetime = Field(default_factory=utcnow)


class TeacherWithdrawal(ServiceModel, table=True):
    """A teacher whose parsed responses were deleted on request: later exports leave them out."""

    __tablename__ = "teacher_withdrawal"

    teacher_key: str = Field(primary_key=True, max_length=64)
    requested_at: dt.datetime = Field(default_factory=utcnow)
    requested_by: str = Field(max_length=200)
    reason: str = Field(max_length=2000)
    responses_deleted: int = 0


class TeacherStaff(ServiceModel, table=True):
    """A recruitment staff record a teacher's respondent email matched when their responses
    were parsed: the withdrawal check asks recruitment about that school's staff again later,
    so a teacher who withdraws after their answers were parsed is left out too.

    The record is named by a keyed hash of its id (``Pseudonymiser.staff_record``), never the
    id itself: this table, with the responses, must not lead to the person in recruitment.
    """

    __tablename__ = "teacher_staff"

    teacher_key: str = Field(primary_key=True, max_length=64)
    staff_hash: str = Field(primary_key=True, max_length=64)
    #: The staff record's school in recruitment (whose staff list the check reads).
    urn: int
    found_at: dt.datetime = Field(default_factory=utcnow)
