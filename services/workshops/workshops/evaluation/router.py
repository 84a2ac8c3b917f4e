"""Observations, case studies, interviews and incentives (the evaluator's)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from rlc_shared.auth import CurrentPrincipal
from rlc_shared.db import SessionDep, TransactionsDep
from rlc_shared.pagination import Page, PageDep
from rlc_shared.policy import requires
from rlc_shared.types import ID_MAX, RowId
from workshops.deps import AllocationsDep, RecruitmentDep, SettingsDep, Today, session_for
from workshops.evaluation import service
from workshops.models import CohortSession
from workshops.schemas import (
    Arm,
    CaseStudyCreate,
    CaseStudyPublic,
    CaseStudySummary,
    CaseStudyWithdrawal,
    Checklist,
    IncentivePublic,
    IncentiveStatus,
    IncentiveUpdate,
    InterviewCreate,
    InterviewPublic,
    InterviewUpdate,
    ObservationCreate,
    ObservationPublic,
)

router = APIRouter(tags=["evaluation"])
READ, MANAGE = requires("workshop.read"), requires("evaluation.manage")
CaseStudyId = Annotated[int, Path(ge=1, le=ID_MAX, description="the case study's id")]


@router.get("/fidelity-checklist", response_model=Checklist, dependencies=[READ])
async def get_checklist() -> Checklist:
    """The items an observer rates a session on, and the ratings."""
    return service.checklist()


@router.post(
    "/sessions/{session_id}/observations",
    status_code=201,
    response_model=ObservationPublic,
    dependencies=[MANAGE],
)
def record_observation(
    body: ObservationCreate,
    cohort_session: Annotated[CohortSession, session_for("evaluation.manage")],
    session: SessionDep,
    principal: CurrentPrincipal,
) -> ObservationPublic:
    """Record an observation of the session: each checklist item rated, notes, the observer."""
    return service.record_observation(
        session, cohort_session=cohort_session, data=body, actor=principal
    )


@router.get("/observations", response_model=Page[ObservationPublic], dependencies=[READ])
async def list_observations(
    session: SessionDep,
    page: PageDep,
    session_id: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None,
) -> Page[ObservationPublic]:
    """Every observation (of one session with ?session_id=), oldest first."""
    return service.list_observations(session, page=page, session_id=session_id)


@router.get("/observations/{observation_id}", response_model=ObservationPublic, dependencies=[READ])
async def get_observation(observation_id: RowId, session: SessionDep) -> ObservationPublic:
    """One observation."""
    return service.get_observation(session, observation_id=observation_id)


@router.post(
    "/case-studies",
    status_code=201,
    response_model=CaseStudyPublic,
    dependencies=[MANAGE],
    responses={409: {"description": "Already a case study, not selectable, or at the target."}},
)
def select_case_study(
    body: CaseStudyCreate,
    transactions: TransactionsDep,
    allocations: AllocationsDep,
    recruitment: RecruitmentDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
) -> CaseStudyPublic:
    """Select a randomised school (either arm) for a case study, up to the protocol's target
    (GET /case-studies/summary); a control school is owed the incentive."""
    return service.select_case_study(
        transactions,
        data=body,
        allocations=allocations,
        recruitment=recruitment,
        incentive=settings.case_study_incentive,
        target=service.case_study_target(settings.case_study_target),
        actor=principal,
    )


@router.get("/case-studies/summary", response_model=CaseStudySummary, dependencies=[READ])
async def case_study_summary(session: SessionDep, settings: SettingsDep) -> CaseStudySummary:
    """The case studies against the protocol's target: how many are selected, by arm."""
    return service.case_study_summary(
        session, target=service.case_study_target(settings.case_study_target)
    )


@router.get("/case-studies", response_model=Page[CaseStudyPublic], dependencies=[READ])
async def list_case_studies(
    session: SessionDep, page: PageDep, arm: Arm | None = None
) -> Page[CaseStudyPublic]:
    """The case-study schools, in the order selected."""
    return service.list_case_studies(session, page=page, arm=arm)


@router.get("/case-studies/{case_study_id}", response_model=CaseStudyPublic, dependencies=[READ])
async def get_case_study(case_study_id: CaseStudyId, session: SessionDep) -> CaseStudyPublic:
    """One case study, with its interview count and incentive."""
    return service.get_case_study(session, case_study_id=case_study_id)


@router.post(
    "/case-studies/{case_study_id}/withdrawal",
    response_model=CaseStudyPublic,
    dependencies=[MANAGE],
)
def withdraw_case_study(
    case_study_id: CaseStudyId,
    body: CaseStudyWithdrawal,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> CaseStudyPublic:
    """The school no longer takes part in the case study (its unpaid incentive is cancelled)."""
    return service.withdraw_case_study(
        session, case_study_id=case_study_id, reason=body.reason, actor=principal
    )


@router.post(
    "/case-studies/{case_study_id}/interviews",
    status_code=201,
    response_model=InterviewPublic,
    dependencies=[MANAGE],
)
def add_interview(
    case_study_id: CaseStudyId,
    body: InterviewCreate,
    transactions: TransactionsDep,
    recruitment: RecruitmentDep,
    principal: CurrentPrincipal,
) -> InterviewPublic:
    """Schedule an interview (role, time, 45-60 minutes) with the school's staff."""
    return service.add_interview(
        transactions,
        case_study_id=case_study_id,
        data=body,
        recruitment=recruitment,
        actor=principal,
    )


@router.get(
    "/case-studies/{case_study_id}/interviews",
    response_model=list[InterviewPublic],
    dependencies=[READ],
)
async def list_interviews(case_study_id: CaseStudyId, session: SessionDep) -> list[InterviewPublic]:
    """The case study's interviews, by scheduled time."""
    return service.list_interviews(session, case_study_id=case_study_id)


@router.patch("/interviews/{interview_id}", response_model=InterviewPublic, dependencies=[MANAGE])
def update_interview(
    interview_id: RowId, body: InterviewUpdate, session: SessionDep, principal: CurrentPrincipal
) -> InterviewPublic:
    """Reschedule an interview or record how it went (completed, cancelled, no show)."""
    return service.update_interview(session, interview_id=interview_id, data=body, actor=principal)


@router.get("/incentives", response_model=Page[IncentivePublic], dependencies=[READ])
async def list_incentives(
    session: SessionDep, page: PageDep, status: IncentiveStatus | None = None
) -> Page[IncentivePublic]:
    """The incentives owed to control-group case-study schools, and their payment status."""
    return service.list_incentives(session, page=page, status=status)


@router.get("/incentives/{incentive_id}", response_model=IncentivePublic, dependencies=[READ])
async def get_incentive(incentive_id: RowId, session: SessionDep) -> IncentivePublic:
    """One incentive."""
    return service.get_incentive(session, incentive_id=incentive_id)


@router.patch("/incentives/{incentive_id}", response_model=IncentivePublic, dependencies=[MANAGE])
def update_incentive(
    incentive_id: RowId,
    body: IncentiveUpdate,
    session: SessionDep,
    principal: CurrentPrincipal,
    today: Today,
) -> IncentivePublic:
    """Record the payment, cancel or re-instate an unpaid incentive, or correct its amount."""
    return service.update_incentive(
        session, incentive_id=incentive_id, data=body, actor=principal, today=today
    )
