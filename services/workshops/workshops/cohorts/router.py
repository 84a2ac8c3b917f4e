"""Cohorts and their sessions, enrolment (the contamination guard) and attendees."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query

from rlc_shared.auth import CurrentPrincipal
from rlc_shared.db import SessionDep, TransactionsDep
from rlc_shared.pagination import Page, PageDep
from rlc_shared.policy import requires
from rlc_shared.types import UrnQuery
from workshops.cohorts import service
from workshops.deps import (
    AllocationsDep,
    CohortId,
    RecruitmentDep,
    cohort_for,
    session_for,
)
from workshops.models import Cohort, CohortSession
from workshops.schemas import (
    AttendeePublic,
    CohortCreate,
    CohortPublic,
    EnrolmentCreate,
    EnrolmentPublic,
    RefreshIn,
    RefreshResult,
    SessionPublic,
    SessionUpdate,
)

router = APIRouter(tags=["cohorts"])
READ, MANAGE = requires("workshop.read"), requires("workshop.manage")
# A school or Virtual School reads attendance (workshop.read_attendance), so it also sees the
# cohorts and sessions that attendance belongs to: a school the cohort it is enrolled in, a
# Virtual School its LA's. Everyone with workshop.read holds workshop.read_attendance for all.
SEE = requires("workshop.read_attendance")
ReadableCohort = Annotated[Cohort, cohort_for("workshop.read")]
VisibleCohort = Annotated[Cohort, cohort_for("workshop.read_attendance")]


@router.post("/cohorts", status_code=201, response_model=CohortPublic, dependencies=[MANAGE])
def create_cohort(
    body: CohortCreate,
    transactions: TransactionsDep,
    recruitment: RecruitmentDep,
    principal: CurrentPrincipal,
) -> CohortPublic:
    """Create a cohort of one local authority, with the programme's eight sessions."""
    return service.create_cohort(transactions, data=body, recruitment=recruitment, actor=principal)


@router.get("/cohorts", response_model=Page[CohortPublic], dependencies=[SEE])
async def list_cohorts(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    la_code: Annotated[str | None, Query(pattern=r"^\d{3}$")] = None,
) -> Page[CohortPublic]:
    """Every cohort the token sees (a school: its own; a Virtual School: its LA's), oldest
    first."""
    return service.list_cohorts(session, page=page, la_code=la_code, principal=principal)


@router.get("/cohorts/{cohort_id}", response_model=CohortPublic, dependencies=[SEE])
async def get_cohort(cohort: VisibleCohort, session: SessionDep) -> CohortPublic:
    """One cohort with its counts of schools and sessions."""
    return service.cohort_public(session, cohort=cohort)


@router.get("/cohorts/{cohort_id}/sessions", response_model=list[SessionPublic], dependencies=[SEE])
async def list_cohort_sessions(cohort: VisibleCohort, session: SessionDep) -> list[SessionPublic]:
    """The cohort's eight sessions in programme order (their ids lead to the attendance)."""
    return service.sessions_of(session, cohort=cohort)


@router.get("/sessions/{session_id}", response_model=SessionPublic, dependencies=[SEE])
async def get_session(
    cohort_session: Annotated[CohortSession, session_for("workshop.read_attendance")],
) -> SessionPublic:
    """One cohort's session."""
    return SessionPublic.model_validate(cohort_session)


@router.patch("/sessions/{session_id}", response_model=SessionPublic, dependencies=[MANAGE])
def update_session(
    body: SessionUpdate,
    cohort_session: Annotated[CohortSession, session_for("workshop.manage")],
    session: SessionDep,
    principal: CurrentPrincipal,
) -> SessionPublic:
    """Move a session (a reason is required and audited), change its meeting link, facilitator
    or mode, or record how long it actually lasted."""
    return service.update_session(
        session, cohort_session=cohort_session, data=body, actor=principal
    )


@router.post(
    "/cohorts/{cohort_id}/schools",
    status_code=201,
    response_model=EnrolmentPublic,
    dependencies=[MANAGE],
    responses={
        409: {"description": "Refused by the contamination guard (the problem's `reason`)."},
        503: {"description": "The randomisation or recruitment service cannot answer."},
    },
)
def enrol_school(
    cohort_id: CohortId,
    body: EnrolmentCreate,
    transactions: TransactionsDep,
    allocations: AllocationsDep,
    recruitment: RecruitmentDep,
    principal: CurrentPrincipal,
) -> EnrolmentPublic:
    """Enrol a school allocated to intervention (asked of the randomisation service), with its
    staff from recruitment as attendees; control, unallocated, in-error and withdrawn schools
    are refused with a 409 that says why."""
    return service.enrol(
        transactions,
        cohort_id=cohort_id,
        urn=body.urn,
        allocations=allocations,
        recruitment=recruitment,
        actor=principal,
    )


@router.get(
    "/cohorts/{cohort_id}/schools", response_model=Page[EnrolmentPublic], dependencies=[READ]
)
async def list_cohort_schools(
    cohort: ReadableCohort, session: SessionDep, page: PageDep
) -> Page[EnrolmentPublic]:
    """The cohort's schools, by URN."""
    return service.list_enrolments(session, cohort=cohort, page=page)


@router.get(
    "/cohorts/{cohort_id}/attendees", response_model=Page[AttendeePublic], dependencies=[READ]
)
async def list_cohort_attendees(
    cohort: ReadableCohort, session: SessionDep, page: PageDep, urn: UrnQuery = None
) -> Page[AttendeePublic]:
    """Who may attend the cohort's sessions: the schools' staff and the Virtual School Head."""
    return service.list_attendees(session, cohort=cohort, page=page, urn=urn)


@router.post(
    "/cohorts/{cohort_id}/attendees/refresh", response_model=RefreshResult, dependencies=[MANAGE]
)
def refresh_cohort_attendees(
    cohort_id: CohortId,
    transactions: TransactionsDep,
    recruitment: RecruitmentDep,
    principal: CurrentPrincipal,
    body: Annotated[RefreshIn | None, Body()] = None,
) -> RefreshResult:
    """Bring the attendees in line with recruitment's staff lists (and the schools' pupils)."""
    return service.refresh_attendees(
        transactions,
        cohort_id=cohort_id,
        recruitment=recruitment,
        actor=principal,
        reason=(body or RefreshIn()).reason,
    )
