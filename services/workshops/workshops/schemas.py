"""Request and response models of the workshops service's API.

Requests are ``StrictModel`` (an unknown field is a 422) with every string bounded and every
choice a ``Literal``; responses say what they return, so the OpenAPI document is the contract.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints, model_validator

from rlc_shared.limits import StrictModel
from rlc_shared.types import Bool, Int, IsoDate, IsoDateTime, Urn

#: One line of text: no control characters (PostgreSQL text cannot even hold NUL).
ONE_LINE = r"^[^\x00-\x1f\x7f]*$"
#: Free text over several lines: tabs and line breaks, no other control characters.
LINES = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=ONE_LINE)
]
Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000, pattern=LINES)
]
Notes = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10000, pattern=LINES)
]
Description = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=500, pattern=ONE_LINE)
]
Reference = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=ONE_LINE)
]
ChecklistKey = Annotated[str, StringConstraints(min_length=1, max_length=60, pattern=r"^[a-z_]+$")]
LaCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\d{3}$")]
MeetingLink = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, max_length=500, pattern=r"^https?://[^\s\x00-\x1f\x7f]+$"
    ),
]
Id = Annotated[int, Strict(), Field(ge=1, le=2**31 - 1)]

StaffRole = Literal[
    "designated_teacher",
    "english_subject_lead",
    "maths_subject_lead",
    "head_teacher",
    "year5_teacher",
    "year6_teacher",
]
AttendeeRole = Literal[
    "designated_teacher",
    "english_subject_lead",
    "maths_subject_lead",
    "head_teacher",
    "year5_teacher",
    "year6_teacher",
    "virtual_school_head",
]
AttendeeKind = Literal["staff", "virtual_school_head"]
SessionKind = Literal["intro", "workshop", "moving_forward"]
SessionKey = Literal[
    "intro",
    "workshop_1",
    "workshop_2",
    "workshop_3",
    "workshop_4",
    "workshop_5",
    "workshop_6",
    "moving_forward",
]
DeliveryMode = Literal["face_to_face", "virtual"]
AttendanceStatus = Literal["present", "partial", "absent"]
AttendanceSource = Literal["manual", "report"]
ParticipantState = Literal["matched", "unmatched", "resolved", "dismissed"]
Platform = Literal["zoom", "teams"]
RuleStatus = Literal["draft", "frozen"]
CountedPer = Literal["person", "school"]
CountedStatus = Literal["present", "partial"]
FidelityRating = Literal["fully", "partially", "not_delivered", "not_applicable"]
Arm = Literal["intervention", "control"]
CaseStudyStatus = Literal["selected", "withdrawn"]
InterviewStatus = Literal["scheduled", "completed", "cancelled", "no_show"]
IncentiveStatus = Literal["owed", "paid", "cancelled"]
CostCategory = Literal[
    "programme_fees", "materials", "travel", "staff_time", "supply_cover", "venue"
]
Recurrence = Literal["one_off", "recurring"]
Money = Annotated[Decimal, Field(ge=0, le=Decimal("10000000"), decimal_places=2)]
Hours = Annotated[Decimal, Field(ge=0, le=Decimal("100000"), decimal_places=2)]


class ReadModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- programme ------------------------------------------------------------------------------


class ProgrammeSessionPublic(ReadModel):
    id: int
    key: str
    position: int
    kind: SessionKind
    number: int | None
    title: str
    mode: DeliveryMode
    planned_on: dt.date
    duration_minutes: int
    audience: list[str]
    facilitator: str | None
    sources: dict[str, str]


class ProgrammePublic(ReadModel):
    id: int
    academic_year: str
    created_at: dt.datetime
    sessions: list[ProgrammeSessionPublic]


class ProgrammeSessionUpdate(StrictModel):
    """A change to the programme's template (cohorts created afterwards get it)."""

    facilitator: Text | None = None
    mode: DeliveryMode | None = None
    planned_on: IsoDate | None = None
    duration_minutes: Int | None = Field(None, ge=15, le=480)
    reason: Reason


# --- cohorts and sessions -------------------------------------------------------------------


class SessionPlan(StrictModel):
    """A cohort's own date or meeting link for one of its sessions, at creation."""

    key: SessionKey
    planned_on: IsoDate | None = None
    meeting_link: MeetingLink | None = None


class CohortCreate(StrictModel):
    name: Text
    la_code: LaCode = Field(description="the DfE LA code of the cohort's local authority")
    meeting_link: MeetingLink | None = Field(
        None, description="the meeting link of every virtual session, unless set per session"
    )
    sessions: list[SessionPlan] = Field(default_factory=list, max_length=8)

    @model_validator(mode="after")
    def _one_plan_per_session(self) -> CohortCreate:
        keys = [plan.key for plan in self.sessions]
        if len(set(keys)) != len(keys):
            raise ValueError("a session is planned twice")
        return self


class CohortPublic(ReadModel):
    id: int
    name: str
    la_code: str
    programme_id: int
    created_at: dt.datetime
    created_by: str
    schools: int = 0
    sessions: int = 0


class SessionPublic(ReadModel):
    id: int
    cohort_id: int
    key: SessionKey
    position: int
    kind: SessionKind
    number: int | None = Field(description="1-6 for workshops, else null")
    title: str
    mode: DeliveryMode
    planned_on: dt.date
    duration_minutes: int
    actual_minutes: int | None
    meeting_link: str | None
    facilitator: str | None


class SessionUpdate(StrictModel):
    """A change to one cohort's session; moving its date needs a reason."""

    planned_on: IsoDate | None = None
    meeting_link: MeetingLink | None = None
    facilitator: Text | None = None
    mode: DeliveryMode | None = None
    actual_minutes: Int | None = Field(
        None, ge=1, le=480, description="how long the session actually lasted"
    )
    reason: Reason | None = None


class EnrolmentCreate(StrictModel):
    urn: Urn


class EnrolmentPublic(ReadModel):
    cohort_id: int
    urn: int
    la_code: str
    school_name: str
    pupils: int | None
    arm: Arm = "intervention"
    run_id: str
    allocated_at: dt.datetime | None
    enrolled_at: dt.datetime
    enrolled_by: str
    attendees: int = 0


class AttendeePublic(ReadModel):
    id: int
    cohort_id: int
    kind: AttendeeKind
    staff_id: int | None
    urn: int | None
    la_code: str
    role: AttendeeRole
    name: str
    active: bool
    synced_at: dt.datetime


class RefreshIn(StrictModel):
    reason: Reason | None = None


class RefreshResult(BaseModel):
    cohort_id: int
    schools: int
    added: int
    updated: int
    deactivated: int


# --- attendance -----------------------------------------------------------------------------


class Who(StrictModel):
    """Names an attendee: by ``attendee_id`` or by recruitment's ``staff_id`` (exactly one)."""

    attendee_id: Id | None = None
    staff_id: Id | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Who:
        if (self.attendee_id is None) == (self.staff_id is None):
            raise ValueError("give exactly one of attendee_id and staff_id")
        return self


class AttendanceEntry(StrictModel):
    """One attendee's attendance, entered by hand.

    ``status`` alone: ``present`` counts the whole session, ``absent`` none of it; ``partial``
    needs ``minutes``. ``minutes`` alone: the status follows the threshold (and changes with it).
    """

    attendee_id: Id | None = None
    staff_id: Id | None = None
    status: AttendanceStatus | None = None
    minutes: float | None = Field(None, ge=0, le=600, allow_inf_nan=False)
    on_behalf_of_attendee_id: Id | None = None
    on_behalf_of_staff_id: Id | None = None

    @model_validator(mode="after")
    def _consistent(self) -> AttendanceEntry:
        if (self.attendee_id is None) == (self.staff_id is None):
            raise ValueError("give exactly one of attendee_id and staff_id")
        if self.on_behalf_of_attendee_id is not None and self.on_behalf_of_staff_id is not None:
            raise ValueError(
                "give at most one of on_behalf_of_attendee_id and on_behalf_of_staff_id"
            )
        if self.status is None and self.minutes is None:
            raise ValueError("give a status, minutes, or both")
        if self.status == "partial" and self.minutes is None:
            raise ValueError("partial attendance needs its minutes")
        if self.status == "absent" and self.minutes:
            raise ValueError("absent attendance has no minutes")
        return self


class AttendanceEntries(StrictModel):
    entries: list[AttendanceEntry] = Field(min_length=1, max_length=500)
    reason: Reason | None = None


class AttendanceRow(BaseModel):
    """One attendee at the session (the contract: ``urn``, ``staff_id``, ``role``, ``minutes``,
    ``status``)."""

    urn: int | None = Field(description="the attendee's school; null for a Virtual School Head")
    staff_id: int | None = Field(
        description="recruitment's staff id; null for a Virtual School Head"
    )
    role: AttendeeRole
    minutes: float = Field(description="time in the meeting, overlapping joins counted once")
    status: AttendanceStatus
    attendee_id: int
    kind: AttendeeKind
    source: AttendanceSource | None = Field(description="null: nothing recorded (absent)")
    status_fixed: bool
    on_behalf_of_attendee_id: int | None
    on_behalf_of_staff_id: int | None
    outside_cohort: bool
    match_method: str | None


class AttendanceList(BaseModel):
    session_id: int
    session_minutes: int = Field(description="what the threshold is applied to")
    threshold: ThresholdPublic
    data: list[AttendanceRow]


class ReportResult(BaseModel):
    """What an upload did: the counts of matched and unmatched attendees."""

    report_id: int
    session_id: int
    duplicate: bool = Field(description="the same file was uploaded before: nothing changed")
    platform: Platform
    layout: str
    date_order: str
    participants: int
    matched: int
    unmatched: int
    attendees_recorded: int = Field(description="attendees with report attendance at the session")
    sha256: str
    warnings: list[str]


class ReportPublic(ReadModel):
    id: int
    session_id: int
    sha256: str
    size_bytes: int
    platform: Platform
    layout: str
    date_order: str
    meeting_started_at: dt.datetime | None
    participants: int
    matched: int
    unmatched: int
    warnings: list[str]
    uploaded_at: dt.datetime
    uploaded_by: str
    retracted_at: dt.datetime | None
    retracted_by: str | None
    retraction_reason: str | None


class RetractionIn(StrictModel):
    reason: Reason


class UnmatchedPublic(BaseModel):
    """A report participant nobody could place: for delivery staff to resolve."""

    id: int
    report_id: int
    session_id: int
    state: ParticipantState
    name: str | None
    email: str | None
    original_name: str | None
    minutes: float
    lines: list[int]
    reason: str | None
    candidate_attendee_ids: list[int]
    attendee_id: int | None


class UnmatchedList(BaseModel):
    session_id: int
    data: list[UnmatchedPublic]


class Resolution(StrictModel):
    """Either the attendee the participant is (``attendee_id`` or ``staff_id``), or
    ``dismiss: true`` (a facilitator, a guest from outside the trial)."""

    attendee_id: Id | None = None
    staff_id: Id | None = None
    dismiss: Bool = False
    remember: Bool = Field(
        True, description="tie the participant's address and name to the attendee for next time"
    )
    reason: Reason | None = None

    @model_validator(mode="after")
    def _one_outcome(self) -> Resolution:
        named = (self.attendee_id is not None) + (self.staff_id is not None)
        if self.dismiss and named:
            raise ValueError("dismiss, or name the attendee, not both")
        if not self.dismiss and named != 1:
            raise ValueError("give exactly one of attendee_id and staff_id, or dismiss: true")
        return self


class ResolutionResult(BaseModel):
    participant: UnmatchedPublic
    attendance: AttendanceRow | None
    aliases_stored: int


class ThresholdIn(StrictModel):
    """``share``: a share of the session in (0, 1]; ``minutes``: minutes attended."""

    kind: Literal["share", "minutes"]
    value: float = Field(gt=0, le=480, allow_inf_nan=False)

    @model_validator(mode="after")
    def _share_at_most_one(self) -> ThresholdIn:
        if self.kind == "share" and self.value > 1:
            raise ValueError("a share of the session is at most 1 (100%)")
        return self


class ThresholdChange(ThresholdIn):
    reason: Reason


class ThresholdPublic(BaseModel):
    kind: Literal["share", "minutes"]
    value: float
    description: str
    set_at: dt.datetime | None
    set_by: str | None


class ThresholdResult(BaseModel):
    threshold: ThresholdPublic
    reclassified: int = Field(description="attendance rows whose status changed")


# --- compliance rule and dosage -------------------------------------------------------------


class ComplianceRuleIn(StrictModel):
    """The rule's choices; anything left out takes the protocol's default (see
    ``workshops.compliance.ComplianceRule``). The threshold defaults to the one in force."""

    qualifying_roles: list[StaffRole] | None = Field(None, min_length=1, max_length=6)
    counted_sessions: list[SessionKey] | None = Field(None, min_length=1, max_length=8)
    minimum: Int | None = Field(None, ge=1, le=8)
    counted_per: CountedPer | None = None
    stand_ins_count: Bool | None = None
    counted_statuses: list[CountedStatus] | None = Field(None, min_length=1, max_length=2)
    attendance_threshold: ThresholdIn | None = None


class RuleCreate(StrictModel):
    rule: ComplianceRuleIn = Field(default_factory=ComplianceRuleIn)
    note: Reason | None = None


class RuleFreeze(StrictModel):
    reason: Reason | None = None


class RulePublic(BaseModel):
    version: int
    status: RuleStatus
    rule: dict[str, object]
    fingerprint: str
    canonical_json: str
    note: str | None
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime
    frozen_at: dt.datetime | None
    frozen_by: str | None


class DosagePublic(BaseModel):
    """One school's dosage under a named rule version (the contract: ``urn``,
    ``workshops_attended``, ``sessions_attended``, ``minutes``, ``complier``, ``rule_version``)."""

    urn: int
    workshops_attended: int = Field(
        description="of the six workshops, how many at least one of the school's staff attended "
        "(present by the rule's threshold)"
    )
    sessions_attended: int = Field(description="the same over all eight sessions")
    minutes: float
    complier: bool
    rule_version: int
    rule_fingerprint: str
    rule_frozen: bool
    reason: str
    la_code: str
    cohort_id: int
    sessions_by_role: dict[str, int]
    minutes_by_session: dict[str, float]
    best_person_sessions: int
    best_person_role: str | None
    school_sessions: int
    stand_in_sessions: int


# --- observations ---------------------------------------------------------------------------


class ChecklistItem(BaseModel):
    key: str
    text: str


class Checklist(BaseModel):
    ratings: list[FidelityRating]
    items: list[ChecklistItem]


class ObservationCreate(StrictModel):
    observer: Text
    observed_on: IsoDate | None = Field(None, description="defaults to the session's date")
    ratings: dict[ChecklistKey, FidelityRating] = Field(min_length=1, max_length=30)
    notes: Notes | None = None


class ObservationPublic(ReadModel):
    id: int
    session_id: int
    observer: str
    observed_on: dt.date
    ratings: dict[str, FidelityRating]
    notes: str | None
    fidelity_score: float | None = Field(
        description="fully = 1, partially = 0.5, not delivered = 0, averaged over rated items "
        "(not applicable left out); null if none applies"
    )
    recorded_at: dt.datetime
    recorded_by: str


# --- case studies, interviews, incentives ---------------------------------------------------


class CaseStudyCreate(StrictModel):
    urn: Urn
    reason: Reason | None = None


class IncentivePublic(BaseModel):
    id: int
    case_study_id: int
    urn: int
    amount: Decimal
    status: IncentiveStatus
    paid_on: dt.date | None
    payment_reference: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class CaseStudyPublic(BaseModel):
    id: int
    urn: int
    la_code: str
    arm: Arm
    run_id: str
    status: CaseStudyStatus
    reason: str | None
    selected_at: dt.datetime
    selected_by: str
    withdrawn_at: dt.datetime | None
    interviews: int
    incentive: IncentivePublic | None


class CaseStudyWithdrawal(StrictModel):
    reason: Reason


class ArmCounts(BaseModel):
    intervention: int
    control: int


class CaseStudySummary(BaseModel):
    """The case-study schools against the protocol's target (14 in the programme's documents)."""

    target: int = Field(description="how many case-study schools the protocol selects")
    target_source: str = Field(
        description="where the target comes from: the programme's documents, or the setting "
        "WORKSHOPS_CASE_STUDY_TARGET"
    )
    selected: int = Field(description="case studies taking part now (withdrawn ones not counted)")
    remaining: int = Field(description="how many more may be selected (0 at the target)")
    withdrawn: int
    by_arm: ArmCounts = Field(description="the selected case studies by arm")
    control_with_incentive: int = Field(
        description="how many control schools the documents expect among them (those owed the "
        "incentive); reported, not enforced"
    )


class InterviewCreate(StrictModel):
    role: StaffRole | None = Field(None, description="defaults to the staff member's role")
    staff_id: Id | None = None
    scheduled_at: IsoDateTime
    duration_minutes: Int = Field(60, ge=45, le=60)
    status: InterviewStatus = "scheduled"

    @model_validator(mode="after")
    def _role_or_staff(self) -> InterviewCreate:
        if self.role is None and self.staff_id is None:
            raise ValueError("give the interviewee's role or staff_id")
        return self


class InterviewUpdate(StrictModel):
    scheduled_at: IsoDateTime | None = None
    duration_minutes: Int | None = Field(None, ge=45, le=60)
    status: InterviewStatus | None = None
    reason: Reason | None = None


class InterviewPublic(ReadModel):
    id: int
    case_study_id: int
    role: StaffRole
    staff_id: int | None
    scheduled_at: dt.datetime
    duration_minutes: int
    status: InterviewStatus
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime


class IncentiveUpdate(StrictModel):
    status: IncentiveStatus | None = None
    paid_on: IsoDate | None = None
    payment_reference: Reference | None = None
    amount: Money | None = None
    reason: Reason


# --- costs ----------------------------------------------------------------------------------


class CostItemCreate(StrictModel):
    """An ``amount``, or ``hours`` and a ``rate`` (pounds an hour); ``urn`` for one enrolled
    school's cost, none for a programme-wide one."""

    category: CostCategory
    recurrence: Recurrence
    amount: Money | None = None
    hours: Hours | None = None
    rate: Money | None = None
    urn: Urn | None = None
    description: Description = ""
    incurred_on: IsoDate | None = None

    @model_validator(mode="after")
    def _amount_or_time(self) -> CostItemCreate:
        timed = self.hours is not None or self.rate is not None
        if self.amount is not None and timed:
            raise ValueError("give an amount, or hours and a rate, not both")
        if self.amount is None and (self.hours is None or self.rate is None):
            raise ValueError("give an amount, or both hours and a rate")
        return self


class CostItemUpdate(StrictModel):
    category: CostCategory | None = None
    recurrence: Recurrence | None = None
    amount: Money | None = None
    hours: Hours | None = None
    rate: Money | None = None
    description: Description | None = None
    incurred_on: IsoDate | None = None
    reason: Reason


class CostItemPublic(BaseModel):
    """A cost item as analytics reads it; money as decimal strings in pounds."""

    id: int
    category: CostCategory
    recurrence: Recurrence
    amount: Decimal | None
    hours: Decimal | None
    rate: Decimal | None
    cost: Decimal = Field(description="amount, or hours × rate rounded half up to the penny")
    urn: int | None = Field(description="null: programme-wide")
    pupils: int | None = Field(description="the school's pupils on roll (GIAS, via recruitment)")
    la_code: str | None
    description: str
    incurred_on: dt.date | None
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime


AttendanceList.model_rebuild()
