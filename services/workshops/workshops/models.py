"""Tables of the workshops service, on its own metadata.

Singular snake_case table names, ``*_at`` timestamps in UTC, ``*_on`` calendar dates. Statuses and
kinds are plain strings (portable across PostgreSQL and SQLite); their values are the ``Literal``
types of :mod:`workshops.schemas`. Money is whole pence and hours are hundredths of an hour
(integers), so no penny is lost to a float on either database.

Personal data kept here, and why: an attendee's ``name`` (matching a report's display names to
the schools' staff needs it) and, for participants of an uploaded report that nobody could place,
their display name and address (delivery staff must see them to resolve the review list; both are
cleared once the participant is resolved or dismissed). Staff email addresses are never stored:
reports are matched by asking the recruitment service who holds each address. Aliases are stored
as SHA-256 digests of their key. None of it is ever logged or written to the audit trail.
"""

import datetime as dt
from typing import Any

from sqlalchemy import JSON, UniqueConstraint
from sqlmodel import Field, SQLModel

from rlc_shared.audit import AuditEventFields, utcnow
from rlc_shared.db import service_registry
from rlc_shared.versions import DataVersionFields


class ServiceModel(SQLModel, registry=service_registry()):
    """The base of this service's tables, on its own metadata."""


class AuditEvent(AuditEventFields, ServiceModel, table=True):
    __tablename__ = "audit_event"


class DataVersion(DataVersionFields, ServiceModel, table=True):
    """The token of the attendance data (kept by triggers; see ``rlc_shared.versions``)."""

    __tablename__ = "data_version"


# --- programme and cohorts ------------------------------------------------------------------


class Programme(ServiceModel, table=True):
    """The programme as delivered this year, created from the published schedule."""

    __tablename__ = "programme"

    id: int | None = Field(default=None, primary_key=True)
    academic_year: str = Field(max_length=7, unique=True)
    created_at: dt.datetime = Field(default_factory=utcnow)


class ProgrammeSession(ServiceModel, table=True):
    """One of the programme's eight sessions as planned: the template of every cohort's."""

    __tablename__ = "programme_session"
    __table_args__ = (UniqueConstraint("programme_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    programme_id: int = Field(foreign_key="programme.id", index=True)
    key: str = Field(max_length=20)
    position: int
    kind: str = Field(max_length=20)
    number: int | None = None
    title: str = Field(max_length=300)
    mode: str = Field(max_length=20)
    planned_on: dt.date
    duration_minutes: int
    audience: list[str] = Field(default_factory=list, sa_type=JSON)
    facilitator: str | None = Field(default=None, max_length=200)
    #: Where each fact of the schedule comes from (the programme's documents).
    sources: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class Cohort(ServiceModel, table=True):
    """A group of schools taking the programme together, typically one local authority's."""

    __tablename__ = "cohort"
    __table_args__ = (UniqueConstraint("programme_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    programme_id: int = Field(foreign_key="programme.id", index=True)
    name: str = Field(max_length=200)
    la_code: str = Field(max_length=10, index=True)
    created_at: dt.datetime = Field(default_factory=utcnow)
    created_by: str = Field(max_length=200)


class CohortSession(ServiceModel, table=True):
    """A cohort's sitting of one programme session, with its own date and meeting link."""

    __tablename__ = "cohort_session"
    __table_args__ = (UniqueConstraint("cohort_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    cohort_id: int = Field(foreign_key="cohort.id", index=True)
    programme_session_id: int = Field(foreign_key="programme_session.id")
    key: str = Field(max_length=20)
    position: int
    kind: str = Field(max_length=20)
    number: int | None = None
    title: str = Field(max_length=300)
    mode: str = Field(max_length=20)
    planned_on: dt.date
    duration_minutes: int
    #: How long the session actually lasted, when delivery staff record it; attendance is
    #: classified against this when set, else against ``duration_minutes``.
    actual_minutes: int | None = None
    meeting_link: str | None = Field(default=None, max_length=500)
    facilitator: str | None = Field(default=None, max_length=200)


class Enrolment(ServiceModel, table=True):
    """An intervention school in a cohort (a school is in one cohort at most)."""

    __tablename__ = "enrolment"

    id: int | None = Field(default=None, primary_key=True)
    cohort_id: int = Field(foreign_key="cohort.id", index=True)
    urn: int = Field(unique=True)
    la_code: str = Field(max_length=10, index=True)
    school_name: str = Field(max_length=300)
    #: The school's pupils on roll (GIAS, from recruitment), for costs per pupil.
    pupils: int | None = None
    #: The live allocation the contamination guard saw.
    run_id: str = Field(max_length=100)
    allocated_at: dt.datetime | None = None
    enrolled_at: dt.datetime = Field(default_factory=utcnow)
    enrolled_by: str = Field(max_length=200)
    refreshed_at: dt.datetime = Field(default_factory=utcnow)


class Attendee(ServiceModel, table=True):
    """Someone who may attend a cohort's sessions: a member of an enrolled school's staff (from
    recruitment, ``staff_id`` its id there) or the local authority's Virtual School Head."""

    __tablename__ = "attendee"

    id: int | None = Field(default=None, primary_key=True)
    cohort_id: int = Field(foreign_key="cohort.id", index=True)
    kind: str = Field(max_length=30)
    staff_id: int | None = Field(default=None, unique=True)
    urn: int | None = Field(default=None, index=True)
    la_code: str = Field(max_length=10, index=True)
    role: str = Field(max_length=40)
    #: Personal data: only kept to match report display names; never logged or audited.
    name: str = Field(max_length=200)
    #: False once recruitment no longer lists the person (attendance already recorded stays).
    active: bool = True
    synced_at: dt.datetime = Field(default_factory=utcnow)


class AttendeeAlias(ServiceModel, table=True):
    """A display name or address a reviewer tied to an attendee, stored as the SHA-256 of its
    ``alias_key`` (``email:<address>`` / ``name:<normalised name>``), never as the text."""

    __tablename__ = "attendee_alias"

    id: int | None = Field(default=None, primary_key=True)
    key_sha256: str = Field(max_length=64, unique=True)
    kind: str = Field(max_length=10)
    attendee_id: int = Field(foreign_key="attendee.id", index=True)
    created_at: dt.datetime = Field(default_factory=utcnow)
    created_by: str = Field(max_length=200)


# --- attendance -----------------------------------------------------------------------------


class Attendance(ServiceModel, table=True):
    """One attendee at one session: status and minutes, entered by hand or from reports."""

    __tablename__ = "attendance"
    __table_args__ = (UniqueConstraint("session_id", "attendee_id"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="cohort_session.id", index=True)
    attendee_id: int = Field(foreign_key="attendee.id", index=True)
    status: str = Field(max_length=10)
    minutes: float = 0.0
    #: True when a person set the status; otherwise it follows the threshold.
    status_fixed: bool = False
    on_behalf_of_id: int | None = Field(default=None, foreign_key="attendee.id")
    source: str = Field(max_length=10)
    #: Matched by address to someone of a school in another cohort.
    outside_cohort: bool = False
    match_method: str | None = Field(default=None, max_length=30)
    recorded_at: dt.datetime = Field(default_factory=utcnow)
    recorded_by: str = Field(max_length=200)


class AttendanceReport(ServiceModel, table=True):
    """An uploaded Zoom or Teams attendance export (the file itself is in object storage)."""

    __tablename__ = "attendance_report"
    __table_args__ = (UniqueConstraint("session_id", "sha256"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="cohort_session.id", index=True)
    sha256: str = Field(max_length=64, index=True)
    storage_key: str = Field(max_length=300)
    size_bytes: int
    platform: str = Field(max_length=10)
    layout: str = Field(max_length=30)
    date_order: str = Field(max_length=20)
    meeting_started_at: dt.datetime | None = None
    participants: int = 0
    matched: int = 0
    unmatched: int = 0
    warnings: list[str] = Field(default_factory=list, sa_type=JSON)
    uploaded_at: dt.datetime = Field(default_factory=utcnow)
    uploaded_by: str = Field(max_length=200)
    retracted_at: dt.datetime | None = None
    retracted_by: str | None = Field(default=None, max_length=200)
    retraction_reason: str | None = Field(default=None, max_length=2000)


class ReportParticipant(ServiceModel, table=True):
    """One participant of an uploaded report: their time in the meeting and whom they are."""

    __tablename__ = "report_participant"

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="attendance_report.id", index=True)
    session_id: int = Field(foreign_key="cohort_session.id", index=True)
    position: int
    #: ``matched``, ``unmatched`` (on the review list), ``resolved`` or ``dismissed``.
    state: str = Field(max_length=10, index=True)
    attendee_id: int | None = Field(default=None, foreign_key="attendee.id", index=True)
    match_method: str | None = Field(default=None, max_length=30)
    outside_cohort: bool = False
    #: Personal data for the review list only: set while unmatched, cleared once resolved.
    name: str | None = Field(default=None, max_length=300)
    email: str | None = Field(default=None, max_length=320)
    original_name: str | None = Field(default=None, max_length=300)
    reason: str | None = Field(default=None, max_length=500)
    candidate_ids: list[int] = Field(default_factory=list, sa_type=JSON)
    lines: list[int] = Field(default_factory=list, sa_type=JSON)
    #: [[joined, left], ...] as UTC ISO date-times, waiting-room time left out.
    intervals: list[list[str]] = Field(default_factory=list, sa_type=JSON)
    minutes: float = 0.0
    resolved_at: dt.datetime | None = None
    resolved_by: str | None = Field(default=None, max_length=200)


class ThresholdSetting(ServiceModel, table=True):
    """The attendance threshold in force from ``set_at`` (the latest row is the current one)."""

    __tablename__ = "threshold_setting"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=10)
    value: float
    set_at: dt.datetime = Field(default_factory=utcnow)
    set_by: str = Field(max_length=200)
    reason: str | None = Field(default=None, max_length=2000)


class ComplianceRuleVersion(ServiceModel, table=True):
    """One version of the evaluator's compliance rule: a draft until frozen, then never changed."""

    __tablename__ = "compliance_rule"

    id: int | None = Field(default=None, primary_key=True)
    version: int = Field(unique=True)
    rule: dict[str, Any] = Field(sa_type=JSON)
    fingerprint: str = Field(max_length=80)
    status: str = Field(max_length=10)
    note: str | None = Field(default=None, max_length=2000)
    created_at: dt.datetime = Field(default_factory=utcnow)
    created_by: str = Field(max_length=200)
    updated_at: dt.datetime = Field(default_factory=utcnow)
    frozen_at: dt.datetime | None = None
    frozen_by: str | None = Field(default=None, max_length=200)


# --- implementation and process evaluation --------------------------------------------------


class Observation(ServiceModel, table=True):
    """An observation of one session against the fidelity checklist."""

    __tablename__ = "observation"

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="cohort_session.id", index=True)
    observer: str = Field(max_length=200)
    observed_on: dt.date
    ratings: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    notes: str | None = Field(default=None, max_length=10000)
    fidelity_score: float | None = None
    recorded_at: dt.datetime = Field(default_factory=utcnow)
    recorded_by: str = Field(max_length=200)


class CaseStudy(ServiceModel, table=True):
    """A school the evaluator selected for a case study (either arm)."""

    __tablename__ = "case_study"

    id: int | None = Field(default=None, primary_key=True)
    urn: int = Field(unique=True)
    la_code: str = Field(max_length=10, index=True)
    arm: str = Field(max_length=20)
    run_id: str = Field(max_length=100)
    status: str = Field(max_length=20)
    reason: str | None = Field(default=None, max_length=2000)
    selected_at: dt.datetime = Field(default_factory=utcnow)
    selected_by: str = Field(max_length=200)
    withdrawn_at: dt.datetime | None = None


class Interview(ServiceModel, table=True):
    """A case-study interview with one member of a school's staff (45-60 minutes)."""

    __tablename__ = "interview"

    id: int | None = Field(default=None, primary_key=True)
    case_study_id: int = Field(foreign_key="case_study.id", index=True)
    role: str = Field(max_length=40)
    staff_id: int | None = None
    scheduled_at: dt.datetime
    duration_minutes: int
    status: str = Field(max_length=20)
    created_at: dt.datetime = Field(default_factory=utcnow)
    created_by: str = Field(max_length=200)
    updated_at: dt.datetime = Field(default_factory=utcnow)


class Incentive(ServiceModel, table=True):
    """The incentive owed to a control-group case-study school, and whether it was paid."""

    __tablename__ = "incentive"

    id: int | None = Field(default=None, primary_key=True)
    case_study_id: int = Field(foreign_key="case_study.id", unique=True)
    urn: int = Field(index=True)
    amount_pence: int
    status: str = Field(max_length=10)
    paid_on: dt.date | None = None
    payment_reference: str | None = Field(default=None, max_length=100)
    created_at: dt.datetime = Field(default_factory=utcnow)
    updated_at: dt.datetime = Field(default_factory=utcnow)


class CostItem(ServiceModel, table=True):
    """One cost of delivering the programme: an amount, or hours × a rate; one school's or
    programme-wide (``urn`` None)."""

    __tablename__ = "cost_item"

    id: int | None = Field(default=None, primary_key=True)
    category: str = Field(max_length=20, index=True)
    recurrence: str = Field(max_length=10)
    amount_pence: int | None = None
    hours_hundredths: int | None = None
    rate_pence: int | None = None
    urn: int | None = Field(default=None, index=True)
    description: str = Field(default="", max_length=500)
    incurred_on: dt.date | None = None
    created_at: dt.datetime = Field(default_factory=utcnow)
    created_by: str = Field(max_length=200)
    updated_at: dt.datetime = Field(default_factory=utcnow)
