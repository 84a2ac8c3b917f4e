"""A school's staff in the trial and their consent."""

from __future__ import annotations

from fastapi import APIRouter
from sqlmodel import col, select

from recruitment.deps import (
    READERS,
    CurrentPrincipal,
    SessionDep,
    SettingsDep,
    Today,
    ValidSchool,
    ValidStaffMember,
)
from recruitment.models import StaffMember
from recruitment.schemas import (
    StaffConsentIn,
    StaffMemberCreate,
    StaffMemberPublic,
    StaffWithdrawalIn,
)
from recruitment.staff import service
from rlc_shared.auth import Role, require_roles

router = APIRouter(prefix="/schools/{urn}/staff", tags=["staff"])

EDITORS = (Role.trial_manager, Role.virtual_school, Role.school)


def _public(member: StaffMember) -> StaffMemberPublic:
    return StaffMemberPublic.model_validate(member).model_copy(
        update={"has_email": bool(member.email)}
    )


@router.get("", response_model=list[StaffMemberPublic], dependencies=[require_roles(*READERS)])
def list_staff(session: SessionDep, school: ValidSchool) -> list[StaffMemberPublic]:
    """The school's staff in the trial."""
    rows = session.exec(
        select(StaffMember).where(StaffMember.urn == school.urn).order_by(col(StaffMember.id))
    ).all()
    return [_public(m) for m in rows]


@router.post(
    "",
    status_code=201,
    response_model=StaffMemberPublic,
    dependencies=[require_roles(*EDITORS)],
)
def add_staff_member(
    body: StaffMemberCreate, session: SessionDep, school: ValidSchool, principal: CurrentPrincipal
) -> StaffMemberPublic:
    """Add a member of staff (designated teacher, subject lead, Year 5/6 teacher, head)."""
    return _public(service.add_staff_member(session, school=school, data=body, actor=principal))


@router.get("/{staff_id}", response_model=StaffMemberPublic, dependencies=[require_roles(*READERS)])
def get_staff_member(member: ValidStaffMember) -> StaffMemberPublic:
    """One member of staff."""
    return _public(member)


@router.post(
    "/{staff_id}/consent",
    response_model=StaffMemberPublic,
    dependencies=[require_roles(*EDITORS)],
)
def record_staff_consent(
    body: StaffConsentIn,
    session: SessionDep,
    member: ValidStaffMember,
    principal: CurrentPrincipal,
    today: Today,
) -> StaffMemberPublic:
    """Record a teacher's consent to data collection."""
    member = service.record_consent(
        session, member=member, consented_on=body.consented_on, actor=principal, today=today
    )
    return _public(member)


@router.post(
    "/{staff_id}/withdrawal",
    response_model=StaffMemberPublic,
    dependencies=[require_roles(*EDITORS)],
)
def withdraw_staff_member(
    body: StaffWithdrawalIn,
    session: SessionDep,
    member: ValidStaffMember,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    today: Today,
) -> StaffMemberPublic:
    """Record a teacher's withdrawal (refused after the cut-off date)."""
    member = service.withdraw(
        session,
        member=member,
        covers=body.covers,
        reason=body.reason,
        actor=principal,
        today=today,
        cutoff=settings.teacher_withdrawal_cutoff,
    )
    return _public(member)
