"""Request and response models of the analytics service's API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from rlc_shared.limits import StrictModel
from rlc_shared.types import Bool, Int

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Notes = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]

#: The pupil outcomes a plan can name: KS2 reading and maths scaled scores.
PupilOutcome = Literal["ks2_reading", "ks2_maths"]
#: Covariates of the ITT model besides the arm: the stratum (LA) as fixed effects, KS1 prior
#: attainment, and the background columns of the outcomes file.
Covariate = Literal["la", "ks1_prior", "fsm", "sex", "sen"]
#: ``all``: every CIN or LAC pupil (the trial's population, CIN and LAC together); ``cin``,
#: ``lac``: each group (a pupil can be in both); ``cin_and_lac``: pupils who are both.
Subgroup = Literal["all", "cin", "lac", "cin_and_lac"]
TeacherScale = Literal["knowledge", "attitudes", "use"]
#: Which of fit_crt's four Hedges (2007) effect sizes is the headline.
EffectSizeConvention = Literal[
    "total_unconditional", "total_conditional", "within_unconditional", "within_conditional"
]


def _default_covariates() -> list[Covariate]:
    return ["la", "ks1_prior"]


def _default_subgroups() -> list[Subgroup]:
    return ["all", "cin", "lac"]


def _default_scales() -> list[TeacherScale]:
    return ["knowledge", "attitudes", "use"]


class ReadModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- plans ------------------------------------------------------------------------------------


class PlanContent(StrictModel):
    """The statistical analysis plan, as the evaluator registers it before any outcome arrives."""

    title: Title
    outcomes: list[PupilOutcome] = Field(
        min_length=1, max_length=2, description="the pupil outcomes analysed (ITT and CACE)"
    )
    covariates: list[Covariate] = Field(
        default_factory=_default_covariates,
        max_length=5,
        description="besides the arm: 'la' (the stratum, as fixed effects), 'ks1_prior', "
        "'fsm', 'sex', 'sen'",
    )
    subgroups: list[Subgroup] = Field(
        default_factory=_default_subgroups, min_length=1, max_length=4
    )
    teacher_outcomes: list[TeacherScale] = Field(default_factory=_default_scales, max_length=3)
    compliance_rule_version: Int | None = Field(
        None,
        ge=1,
        le=2**31 - 1,
        description="the version of the workshops service's frozen compliance rule that the "
        "CACE and the CONSORT receipt boxes use; none: no CACE is planned",
    )
    effect_size_convention: EffectSizeConvention = Field(
        "total_unconditional",
        description="the headline effect size (the EEF's: Hedges' g on the total variance of "
        "the unconditional model)",
    )
    notes: Notes | None = None

    @model_validator(mode="after")
    def _no_repeats(self) -> PlanContent:
        for name in ("outcomes", "covariates", "subgroups", "teacher_outcomes"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ValueError(f"{name} lists a value more than once")
        return self


class FreezeIn(StrictModel):
    reason: Reason | None = None


class PlanPublic(ReadModel):
    version: int
    status: Literal["draft", "frozen"]
    content: PlanContent
    fingerprint: str = Field(description="SHA-256 of the plan's canonical JSON")
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime
    frozen_at: dt.datetime | None
    frozen_by: str | None


# --- outcome imports --------------------------------------------------------------------------


class ProblemExample(BaseModel):
    row: int = Field(description="the row's number in the file, counting from 1 after the header")
    urn: int | None = None
    pupil_id: str | None = None
    column: str | None = None
    value: str | None = None


class ImportProblem(BaseModel):
    kind: str
    count: int
    effect: str = Field(description="what the analysis does with these rows")
    examples: list[ProblemExample]


class OutcomeImportPublic(ReadModel):
    id: int
    plan_version: int
    file_name: str
    format: str
    sha256: str
    size_bytes: int
    imported_at: dt.datetime
    imported_by: str
    rows: int
    usable_rows: int
    problems: list[ImportProblem]
    summary: dict[str, Any]


# --- analyses ---------------------------------------------------------------------------------


class AnalysisIn(StrictModel):
    plan_version: Int | None = Field(
        None, ge=1, le=2**31 - 1, description="a frozen plan; default the latest frozen one"
    )
    outcome_import_id: Int | None = Field(
        None,
        ge=1,
        le=2**31 - 1,
        description="the pupil outcomes to analyse; default the plan's latest import",
    )
    reason: Reason | None = None


class AnalysisAccepted(BaseModel):
    id: str
    status: str
    status_url: str


class AnalysisPublic(BaseModel):
    id: str
    status: Literal["queued", "running", "done", "failed"]
    stage: str
    progress: int = Field(description="percent done")
    plan_version: int
    outcome_import_id: int | None
    snapshot_id: str | None
    snapshot_sha256: str | None
    requested_at: dt.datetime
    requested_by: str
    reason: str | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    attempts: int
    error: str | None
    summary: dict[str, Any] | None
    status_url: str
    report_url: str | None


class SnapshotPublic(ReadModel):
    id: str
    taken_at: dt.datetime
    sha256: str
    size_bytes: int
    plan_version: int
    outcome_import_id: int | None
    inputs: dict[str, Any]
    content_url: str


# --- the report -------------------------------------------------------------------------------


class Report(BaseModel):
    """Everything the analysis found, labelled with the snapshot and plan it came from.

    Sections whose input was missing, or whose model did not converge, say so (``status`` and
    ``message``) and carry no numbers.
    """

    model_config = ConfigDict(extra="allow")

    analysis_id: str
    generated_at: str
    plan: dict[str, Any]
    snapshot: dict[str, Any]
    outcome_import: dict[str, Any] | None
    missing_inputs: list[dict[str, Any]]
    warnings: list[str]
    consort: dict[str, Any]
    balance: dict[str, Any]
    impact: list[dict[str, Any]]
    teacher_impact: list[dict[str, Any]]
    cace: list[dict[str, Any]]
    costs: dict[str, Any]
    response_rates: dict[str, Any]
    dosage: dict[str, Any]
    outcome_data: dict[str, Any]
    tables: dict[str, str]
    pictures: dict[str, dict[str, str]]


# --- design -----------------------------------------------------------------------------------

Fraction = Annotated[float, Field(gt=0.0, lt=1.0)]


class DesignParameters(StrictModel):
    pupils_per_school: float = Field(
        ge=1.0, le=100_000.0, description="the (harmonic) mean number of pupils per school"
    )
    icc: float = Field(ge=0.0, le=1.0)
    r2_school: float = Field(0.0, ge=0.0, lt=1.0)
    r2_pupil: float = Field(0.0, ge=0.0, lt=1.0)
    p_treated: Fraction = 0.5
    school_covariates: Int = Field(0, ge=0, le=10_000)
    alpha: Fraction = 0.05
    power: Fraction = 0.8
    two_tailed: Bool = True


class MdesIn(DesignParameters):
    """``mdes_crt``'s arguments (PowerUp! CRA2_2r)."""

    schools: Int = Field(ge=1, le=1_000_000)


class MdesOut(BaseModel):
    mdes: float
    degrees_of_freedom: int
    inputs: MdesIn


class SchoolsIn(DesignParameters):
    """``schools_for_mdes``'s arguments: the smallest number of schools reaching ``target_mdes``."""

    target_mdes: float = Field(gt=0.0, le=100.0)


class SchoolsOut(BaseModel):
    schools: int
    mdes: float = Field(description="the MDES with that many schools")
    inputs: SchoolsIn
