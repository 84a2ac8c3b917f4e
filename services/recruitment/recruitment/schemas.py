"""Request and response models of the recruitment service's API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from recruitment.models import SchoolStatus
from rlc_shared.limits import StrictModel
from rlc_shared.types import Int, Urn

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
LaCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\d{3}$")]

StaffRole = Literal[
    "designated_teacher",
    "english_subject_lead",
    "maths_subject_lead",
    "year5_teacher",
    "year6_teacher",
    "head_teacher",
]
#: What a teacher's withdrawal can cover; "all" covers every one of them.
WithdrawalScope = Literal[
    "questionnaires", "data_processing", "case_study_interviews", "workshop_observations"
]


class ReadModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- local authorities ------------------------------------------------------------------------


class LocalAuthorityCreate(StrictModel):
    la_code: LaCode = Field(description="the DfE LA code, as GIAS's 'LA (code)', e.g. '202'")
    name: Text
    eoi_on: dt.date | None = Field(None, description="date of the expression of interest")
    contact_name: Text
    contact_email: str | None = Field(None, max_length=320)
    target_schools: Int | None = Field(None, ge=0, le=1000)
    late_override_reason: Reason | None = Field(
        None, description="trial managers only: why a late expression of interest is accepted"
    )


class LocalAuthorityUpdate(StrictModel):
    name: Text | None = None
    target_schools: Int | None = Field(None, ge=0, le=1000)


class VirtualSchoolIn(StrictModel):
    head_name: Text
    contact_email: str | None = Field(None, max_length=320)
    contact_phone: Annotated[str, StringConstraints(max_length=40)] | None = None


class VirtualSchoolPublic(ReadModel):
    la_code: str
    head_name: str
    contact_email: str | None
    contact_phone: str | None
    updated_at: dt.datetime


class LocalAuthorityPublic(ReadModel):
    la_code: str
    name: str
    eoi_on: dt.date
    eoi_contact_name: str
    eoi_contact_email: str | None
    late_override_reason: str | None
    target_schools: int | None
    registered_at: dt.datetime
    registered_by: str
    dsa_signed_on: dt.date | None
    dsa_reference: str | None
    dsa_document_sha256: str | None
    virtual_school: VirtualSchoolPublic | None = None


# --- schools ----------------------------------------------------------------------------------


class SchoolPublic(ReadModel):
    urn: Urn
    la_code: str
    la_name: str
    name: str
    establishment_type: str
    gias_status: str
    phase: str
    low_age: int | None
    high_age: int | None
    pupils: int | None
    percentage_fsm: str | None
    postcode: str | None
    open_date: dt.date | None
    close_date: dt.date | None
    town: str | None
    type_group: str | None
    gias_updated_at: dt.datetime
    status: SchoolStatus | None
    nominated_at: dt.datetime | None
    year56_social_worker_pupils: int | None
    year56_looked_after_pupils: int | None
    eligible: bool | None
    eligibility_reasons: list[str] | None
    eligibility_decided_at: dt.datetime | None
    looked_after_flag: bool
    consent_head_teacher: str | None
    consent_on: dt.date | None
    consent_random_allocation: bool | None
    consent_evaluation: bool | None
    consent_form_sha256: str | None
    randomisation_run_id: str | None
    arm: str | None
    randomised_at: dt.datetime | None
    randomisation_log_index: int | None = None
    randomisation_entry_hash: str | None = None
    withdrawn_on: dt.date | None
    withdrawal_reason: str | None
    withdrawn_from_status: str | None
    gias_email: str | None = None


class SchoolEmailPublic(ReadModel):
    email: str
    valid_from: dt.datetime
    valid_to: dt.datetime | None
    source: str
    set_by: str


class StaffMemberPublic(ReadModel):
    id: int
    urn: int
    name: str
    role: str
    has_email: bool = False
    data_collection_consent: bool
    consented_on: dt.date | None
    withdrawn_on: dt.date | None
    withdrawal_covers: list[str] | None
    withdrawal_reason: str | None
    created_at: dt.datetime


class SchoolRecord(SchoolPublic):
    email_history: list[SchoolEmailPublic] = []
    staff: list[StaffMemberPublic] = []


class SchoolByEmail(SchoolPublic):
    email_match: Literal["current", "historical"]


class RandomisableSchool(ReadModel):
    urn: int
    la_code: str
    la_name: str
    name: str
    phase: str
    establishment_type: str
    looked_after_flag: bool
    pupils: int | None
    percentage_fsm: str | None
    year56_social_worker_pupils: int | None
    year56_looked_after_pupils: int | None


class EligibilityIn(StrictModel):
    year56_social_worker_pupils: Int | None = Field(None, ge=0, le=10000)
    year56_looked_after_pupils: Int | None = Field(None, ge=0, le=10000)


class RandomisedIn(StrictModel):
    """The randomisation service's notice of an allocation, with its signed statement."""

    run_id: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    arm: Literal["intervention", "control"]
    test: bool = False
    statement: Annotated[str, StringConstraints(min_length=1, max_length=8000)] = Field(
        description="the allocation as a compact RS256 JWS signed with a key of the "
        "randomisation service's JWKS (/.well-known/jwks.json)"
    )


class RandomisedOut(BaseModel):
    urn: int
    status: SchoolStatus | None
    arm: str | None
    run_id: str
    test: bool
    #: False for a repeated call of the same run, and for test-mode runs (never recorded).
    recorded: bool


class WithdrawalIn(StrictModel):
    reason: Reason
    withdrawn_on: dt.date | None = Field(None, description="defaults to today")


class EmailIn(StrictModel):
    email: Annotated[str, StringConstraints(min_length=1, max_length=320)]
    reason: Reason | None = None


class EmailLookup(StrictModel):
    email: Annotated[str, StringConstraints(min_length=1, max_length=320)]


Email = Annotated[str, StringConstraints(min_length=1, max_length=320)]


class EmailsLookup(StrictModel):
    emails: list[Email] = Field(min_length=1, max_length=500)


class EmailMatch(BaseModel):
    email: str
    urn: int | None
    match: Literal["current", "historical"] | None
    la_code: str | None = None


class EmailMatches(BaseModel):
    data: list[EmailMatch]


class StaffMatch(BaseModel):
    id: int
    urn: int
    role: str
    data_collection_consent: bool
    withdrawn_on: dt.date | None
    withdrawal_covers: list[str] | None


class StaffEmailMatch(BaseModel):
    email: str
    staff: list[StaffMatch]


class StaffEmailMatches(BaseModel):
    data: list[StaffEmailMatch]


class HistoryEvent(ReadModel):
    id: int
    at: dt.datetime
    actor: str
    actor_roles: str
    action: str
    entity_type: str
    entity_id: str
    reason: str | None
    old: dict | None
    new: dict | None


# --- staff ------------------------------------------------------------------------------------


class StaffMemberCreate(StrictModel):
    name: Text
    role: StaffRole
    email: str | None = Field(
        None, max_length=320, description="only if questionnaires are sent to it"
    )


class StaffConsentIn(StrictModel):
    consented_on: dt.date
    data_collection: Literal[True] = True


class StaffWithdrawalIn(StrictModel):
    reason: Reason | None = None
    covers: list[WithdrawalScope] | Literal["all"]


# --- GIAS imports -----------------------------------------------------------------------------


class ImportPublic(ReadModel):
    id: int
    kind: str
    file_name: str
    sha256: str
    size_bytes: int
    imported_at: dt.datetime
    imported_by: str
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    rejections: list[dict]


# --- funnel -----------------------------------------------------------------------------------


class StageCounts(BaseModel):
    nominated: int = 0
    eligible: int = 0
    ineligible: int = 0
    consented: int = 0
    randomised: int = 0
    withdrawn: int = 0


class StuckCounts(BaseModel):
    #: nominated longer than the threshold with no eligibility decision
    nominated: int = 0
    #: eligible longer than the threshold without consent
    eligible: int = 0


class FunnelRow(BaseModel):
    la_code: str
    name: str
    target_schools: int | None
    dsa_signed: bool
    in_trial: int
    counts: StageCounts
    stuck: StuckCounts


class Funnel(BaseModel):
    today: dt.date
    consent_deadline: dt.date
    days_to_consent_deadline: int
    stuck_after_days: int
    local_authorities: list[FunnelRow]
    overall: FunnelRow
