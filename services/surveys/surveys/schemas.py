"""Request and response models of the surveys service's API.

The paths and fields partners are written against (issue 9's contract) are marked; more fields
are welcome and are added beside them.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from rlc_shared.limits import StrictModel
from rlc_shared.types import IsoDate, Urn
from surveys.formats import EXPORT_FORMATS, ExportFormat
from surveys.models import ExportStatus, RoundName, UnmatchedStatus
from surveys.scoring import Codebook, ScaleName
from surveys.text import LINES, ONE_LINE

Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000, pattern=LINES)
]
SurveyId = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=ONE_LINE)
]
FileName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255, pattern=ONE_LINE)
]


# --- rounds ---------------------------------------------------------------------------------


class RoundIn(StrictModel):
    """``PUT /rounds/{round}`` (contract)."""

    survey_id: SurveyId = Field(description="the survey platform's id of this round's survey")
    opens_on: IsoDate
    closes_on: IsoDate
    codebook: Codebook

    @field_validator("closes_on")
    @classmethod
    def _after_opening(cls, closes_on: dt.date, info: ValidationInfo) -> dt.date:
        opens_on = info.data.get("opens_on")
        if opens_on is not None and closes_on < opens_on:
            raise ValueError("must not be before opens_on")
        return closes_on


class CodebookVersionPublic(BaseModel):
    version: int
    fingerprint: str
    created_at: dt.datetime
    created_by: str
    frozen_at: dt.datetime | None = Field(
        description="when an export was first parsed with it (then a change is a new version)"
    )


class RoundPublic(BaseModel):
    round: RoundName
    survey_id: str
    opens_on: dt.date
    closes_on: dt.date
    codebook: dict[str, Any]
    codebook_version: int
    codebook_fingerprint: str
    codebook_frozen: bool
    codebook_versions: list[CodebookVersionPublic]
    updated_at: dt.datetime
    updated_by: str
    #: PUT only: whether anything changed (the same round and codebook again change nothing).
    changed: bool | None = None


class RoundsPublic(BaseModel):
    data: list[RoundPublic]
    count: int


class RescoreIn(StrictModel):
    reason: Reason = Field(description="why the round's exports are scored again")


class RescoreOut(BaseModel):
    round: RoundName
    codebook_version: int
    #: The exports queued to be parsed and scored again with the current codebook.
    exports: list[int]


# --- exports --------------------------------------------------------------------------------


class Links(BaseModel):
    """How the export's responses were linked (contract)."""

    exact: int
    historical: int
    domain: int
    manual: int


class ExportProblem(BaseModel):
    """A problem with the file (``row`` None) or with one of its rows."""

    row: int | None = None
    column: str | None = None
    problem: str
    rejected: bool = False
    #: A missing column: the columns wanted (a list: any one would do) and those found.
    missing: list[str | list[str]] | None = None
    found: list[str] | None = None


class ExportPublic(BaseModel):
    """``GET /exports/{id}`` (contract: id, round, status, rows, linked, unmatched,
    duplicate_of, links, errors)."""

    id: int
    round: str
    status: ExportStatus
    rows: int
    linked: int
    unmatched: int
    duplicate_of: int | None
    links: Links
    errors: list[ExportProblem]
    withdrawn: int = Field(description="responses of teachers who withdrew: left out, not kept")
    skipped: int = Field(description="responses without a response id or repeated in the file")
    rows_rejected: int
    error_count: int = Field(description="every problem found (errors lists the first ones)")
    warnings: list[str]
    survey_id: str | None
    source: Literal["webhook", "upload"]
    file_name: str
    declared_format: str | None
    format: str | None
    size_bytes: int
    content_sha256: str
    received_at: dt.datetime
    received_by: str
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    attempts: int
    codebook_version: int | None
    note: str | None = Field(
        None, description="why an export is waiting, or what went wrong last and is retried"
    )
    status_url: str


class WebhookAccepted(BaseModel):
    """``POST /webhooks/ipsos`` → 202 (contract: id, status_url)."""

    id: int
    status_url: str
    status: ExportStatus
    duplicate_of: int | None


# --- the webhook's body ---------------------------------------------------------------------


class WebhookObject(StrictModel):
    key: Annotated[str, StringConstraints(min_length=1, max_length=1024, pattern=ONE_LINE)] = Field(
        description="the export's key in the evaluator bucket configured for this service"
    )


class WebhookFile(StrictModel):
    name: FileName
    format: ExportFormat = Field(description="one of " + ", ".join(EXPORT_FORMATS))
    content_base64: str | None = Field(
        None, description="the export itself, base64 (bounded by the webhook's size limit)"
    )
    object: WebhookObject | None = Field(
        None, description="or where the export lies in the evaluator bucket"
    )


class WebhookData(BaseModel):
    # Fields the platform adds beyond these are ignored: the envelope is the sender's, signed,
    # and nothing in it is assigned to a record except what is read here.
    model_config = ConfigDict(extra="ignore")

    round: RoundName
    survey_id: SurveyId
    file: WebhookFile
    object: WebhookObject | None = Field(None, description="as file.object")

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        sources = [
            self.file.content_base64 is not None,
            self.file.object is not None,
            self.object is not None,
        ]
        if sum(sources) != 1:
            raise ValueError(
                "give the export exactly one way: file.content_base64 (inline) or "
                "file.object.key (in the evaluator bucket)"
            )
        return self

    @property
    def object_key(self) -> str | None:
        found = self.file.object or self.object
        return found.key if found is not None else None


class WebhookEvent(BaseModel):
    """The Standard Webhooks payload the survey platform sends (contract)."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["survey.export.ready"]
    data: WebhookData


WEBHOOK_BODY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "data"],
    "properties": {
        "type": {"type": "string", "enum": ["survey.export.ready"]},
        "data": {
            "type": "object",
            "required": ["round", "survey_id", "file"],
            "properties": {
                "round": {"type": "string", "enum": [r.value for r in RoundName]},
                "survey_id": {"type": "string", "minLength": 1, "maxLength": 200},
                "file": {
                    "type": "object",
                    "required": ["name", "format"],
                    "properties": {
                        "name": {"type": "string", "minLength": 1, "maxLength": 255},
                        "format": {"type": "string", "enum": list(EXPORT_FORMATS)},
                        "content_base64": {"type": "string", "format": "byte"},
                        "object": {
                            "type": "object",
                            "required": ["key"],
                            "properties": {"key": {"type": "string", "maxLength": 1024}},
                        },
                    },
                },
            },
        },
    },
}


# --- the unmatched queue --------------------------------------------------------------------


class UnmatchedPublic(BaseModel):
    """``GET /unmatched`` items (contract: id, export_id). No email as written: its domain and
    a redacted display (``j***@school.sch.uk``) are what a person resolves it from."""

    id: int
    export_id: int
    round: RoundName
    row: int = Field(description="the row of the response in its export (as a person sees it)")
    response_id: str = Field(description="the survey platform's id of the response")
    email_domain: str | None
    email_display: str | None
    reason: str
    detail: str
    status: UnmatchedStatus
    resolved_urn: int | None
    resolved_at: dt.datetime | None
    resolved_by: str | None
    resolution_reason: str | None
    created_at: dt.datetime


class ResolveIn(StrictModel):
    """``POST /unmatched/{id}/resolve`` (contract)."""

    urn: Urn
    reason: Reason


class ResolveOut(UnmatchedPublic):
    #: Responses now linked to the school: this one and every other with the same school
    #: email, in any round (later exports with that email are linked the same way).
    responses_linked: int
    #: Other open items resolved with it (the same school email).
    also_resolved: list[int]


# --- teachers -------------------------------------------------------------------------------


class WithdrawalIn(StrictModel):
    """Delete a teacher's parsed responses. The address (or id) is hashed and discarded."""

    email: (
        Annotated[str, StringConstraints(min_length=3, max_length=320, pattern=ONE_LINE)] | None
    ) = Field(None, description="the teacher's email as their responses gave it")
    respondent_id: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = Field(
        None, description="or the respondent id, where the export has no teacher email"
    )
    reason: Reason

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.email is None) == (self.respondent_id is None):
            raise ValueError("give exactly one of email and respondent_id")
        return self


class WithdrawalOut(BaseModel):
    teacher_key: str
    responses_deleted: int
    requested_at: dt.datetime


# --- results --------------------------------------------------------------------------------


class ScaleRow(BaseModel):
    """One scale of a round (contract: scale, n, mean, sd, alpha)."""

    scale: ScaleName
    n: int
    mean: float | None
    sd: float | None
    alpha: float | None
    items: int
    complete_cases: int = Field(description="respondents who answered every item: alpha's n")


class ScalesOut(BaseModel):
    round: RoundName
    codebook_version: int
    data: list[ScaleRow]
    #: Linked responses scored with an earlier codebook version: re-score the round to count them.
    responses_on_other_codebooks: int


class RateRow(BaseModel):
    """Response rate of a group of randomised schools (contract: arm | la_code | urn, schools,
    responding_schools, responses, rate)."""

    arm: str | None = None
    la_code: str | None = None
    urn: int | None = None
    schools: int
    responding_schools: int
    responses: int
    rate: float = Field(description="responding_schools / schools")


class RatesOut(BaseModel):
    round: RoundName
    by: Literal["arm", "la", "school"]
    data: list[RateRow]


class NonRespondingSchool(BaseModel):
    urn: int
    la_code: str | None
    arm: str
    name: str | None


class NonRespondingOut(BaseModel):
    round: RoundName
    data: list[NonRespondingSchool]
    count: int
