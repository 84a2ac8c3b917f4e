"""A school's staff in the trial and their consent."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from recruitment.deps import (
    CurrentPrincipal,
    SessionDep,
    SettingsDep,
    Today,
    school_for,
    staff_member_for,
)
from recruitment.models import School, StaffMember
from recruitment.schemas import (
    EmailsLookup,
    StaffConsentIn,
    StaffEmailMatches,
    StaffMemberCreate,
    StaffMemberPublic,
    StaffWithdrawalIn,
)
from recruitment.schools.queries import staff_of, staff_public
from recruitment.staff import service
from rlc_shared.policy import requires

router = APIRouter(prefix="/schools/{urn}/staff", tags=["staff"])

Editable = Annotated[StaffMember, staff_member_for("staff.edit")]


@router.get("", response_model=list[StaffMemberPublic])
async def list_staff(
    session: SessionDep, school: Annotated[School, school_for("school.read")]
) -> list[StaffMemberPublic]:
    """The school's staff in the trial."""
    return [staff_public(m) for m in staff_of(session, urn=school.urn)]


@router.post("", status_code=201, response_model=StaffMemberPublic)
def add_staff_member(
    body: StaffMemberCreate,
    session: SessionDep,
    school: Annotated[School, school_for("staff.edit")],
    principal: CurrentPrincipal,
) -> StaffMemberPublic:
    """Add a member of staff (designated teacher, subject lead, Year 5/6 teacher, head)."""
    return staff_public(
        service.add_staff_member(session, school=school, data=body, actor=principal)
    )


@router.get("/{staff_id}", response_model=StaffMemberPublic)
async def get_staff_member(
    member: Annotated[StaffMember, staff_member_for("school.read")],
) -> StaffMemberPublic:
    """One member of staff."""
    return staff_public(member)


@router.post("/{staff_id}/consent", response_model=StaffMemberPublic)
def record_staff_consent(
    body: StaffConsentIn,
    session: SessionDep,
    member: Editable,
    principal: CurrentPrincipal,
    today: Today,
) -> StaffMemberPublic:
    """Record a teacher's consent to data collection."""
    member = service.record_consent(
        session, member=member, consented_on=body.consented_on, actor=principal, today=today
    )
    return staff_public(member)


@router.post("/{staff_id}/withdrawal", response_model=StaffMemberPublic)
def withdraw_staff_member(
    body: StaffWithdrawalIn,
    session: SessionDep,
    member: Editable,
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
    return staff_public(member)


lookup_router = APIRouter(prefix="/staff", tags=["staff"])


@lookup_router.post(
    "/by-emails", response_model=StaffEmailMatches, dependencies=[requires("staff.lookup")]
)
async def find_staff_by_emails(body: EmailsLookup, session: SessionDep) -> StaffEmailMatches:
    """For up to 500 addresses at once, the staff records holding each (for the services that
    link survey responses and attendance to teachers; addresses are never listed)."""
    return StaffEmailMatches(data=service.staff_by_emails(session, emails=body.emails))
