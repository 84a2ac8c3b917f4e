"""Schools: search, records, history, the trial lifecycle and the randomisation contract."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Response, UploadFile
from fastapi.responses import StreamingResponse
from sqlmodel import Session, col, select

from recruitment.deps import (
    READERS,
    CurrentPrincipal,
    SessionDep,
    StorageDep,
    Today,
    ValidSchool,
)
from recruitment.documents import document_response
from recruitment.errors import DocumentNotFound
from recruitment.models import AuditEvent, School, StaffMember
from recruitment.schemas import (
    EligibilityIn,
    EmailIn,
    EmailLookup,
    HistoryEvent,
    RandomisableSchool,
    RandomisedIn,
    RandomisedOut,
    SchoolByEmail,
    SchoolEmailPublic,
    SchoolPublic,
    SchoolRecord,
    SchoolStatus,
    StaffMemberPublic,
    WithdrawalIn,
)
from recruitment.schools import service
from rlc_shared.auth import Role, ensure_school_scope, require_roles
from rlc_shared.pagination import Page, PageDep, paginate

router = APIRouter(prefix="/schools", tags=["schools"])

#: Who changes a school's progress: the trial team and the school's own Virtual School.
MANAGERS = (Role.trial_manager, Role.virtual_school)


def public(session: Session, school: School) -> SchoolPublic:
    return public_page(session, [school])[0]


def public_page(session: Session, schools: list[School]) -> list[SchoolPublic]:
    emails = service.current_emails(session, urns=[s.urn for s in schools])
    return [
        SchoolPublic.model_validate(s).model_copy(update={"gias_email": emails.get(s.urn)})
        for s in schools
    ]


def record(session: Session, school: School) -> SchoolRecord:
    out = SchoolRecord.model_validate(public(session, school).model_dump())
    out.email_history = [
        SchoolEmailPublic.model_validate(e) for e in service.email_history(session, urn=school.urn)
    ]
    staff = session.exec(
        select(StaffMember).where(StaffMember.urn == school.urn).order_by(col(StaffMember.id))
    ).all()
    out.staff = [
        StaffMemberPublic.model_validate(m).model_copy(update={"has_email": bool(m.email)})
        for m in staff
    ]
    return out


@router.get("", response_model=Page[SchoolPublic], dependencies=[require_roles(*READERS)])
def list_schools(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    la_code: Annotated[str | None, Query(max_length=10)] = None,
    status: SchoolStatus | None = None,
    in_trial: bool | None = None,
    eligible: bool | None = None,
    name: Annotated[str | None, Query(max_length=100, description="part of the name")] = None,
    urn: Annotated[int | None, Query(gt=0)] = None,
    phase: Annotated[str | None, Query(max_length=60)] = None,
) -> Page[SchoolPublic]:
    """Search the schools the caller may see, ordered by URN."""
    stmt = service.filter_schools(
        service.scoped_schools(principal),
        la_code=la_code,
        status=status,
        in_trial=in_trial,
        eligible=eligible,
        name=name,
        urn=urn,
        phase=phase,
    )
    rows, count, cursor = paginate(session, stmt, key=School.urn, params=page)
    return Page(data=public_page(session, rows), count=count, next_cursor=cursor)


@router.get(
    "/randomisable",
    response_model=Page[RandomisableSchool],
    dependencies=[require_roles(Role.service, Role.trial_manager)],
)
def list_randomisable(
    session: SessionDep,
    page: PageDep,
    la_code: Annotated[str | None, Query(max_length=10)] = None,
) -> Page[RandomisableSchool]:
    """Schools ready for randomisation: consented, eligible, not withdrawn, not randomised."""
    stmt = service.randomisable()
    if la_code:
        stmt = stmt.where(School.la_code == la_code)
    rows, count, cursor = paginate(session, stmt, key=School.urn, params=page)
    return Page(
        data=[RandomisableSchool.model_validate(s) for s in rows], count=count, next_cursor=cursor
    )


@router.get("/by-email", response_model=SchoolByEmail, dependencies=[require_roles(*READERS)])
def find_school_by_email(
    session: SessionDep,
    principal: CurrentPrincipal,
    email: Annotated[str, Query(min_length=1, max_length=320)],
) -> SchoolByEmail:
    """The school with this current or earlier GIAS email (404 if none)."""
    school, is_current = service.find_by_email(session, raw_email=email)
    ensure_school_scope(principal, school.urn, school.la_code)
    return SchoolByEmail(
        **public(session, school).model_dump(),
        email_match="current" if is_current else "historical",
    )


@router.post("/by-email", response_model=SchoolByEmail, dependencies=[require_roles(*READERS)])
def find_school_by_email_post(
    body: EmailLookup, session: SessionDep, principal: CurrentPrincipal
) -> SchoolByEmail:
    """As GET /schools/by-email, with the address in the body rather than the URL."""
    return find_school_by_email(session, principal, body.email)


@router.get("/{urn}", response_model=SchoolRecord, dependencies=[require_roles(*READERS)])
def get_school(session: SessionDep, school: ValidSchool) -> SchoolRecord:
    """A school's full record: GIAS attributes, trial progress, emails and staff."""
    return record(session, school)


@router.get(
    "/{urn}/history", response_model=Page[HistoryEvent], dependencies=[require_roles(*READERS)]
)
def get_school_history(
    session: SessionDep, school: ValidSchool, page: PageDep
) -> Page[HistoryEvent]:
    """Every recorded change to the school and its staff, oldest first."""
    rows, count, cursor = paginate(
        session, service.history(school.urn), key=AuditEvent.id, params=page
    )
    return Page(
        data=[HistoryEvent.model_validate(e) for e in rows], count=count, next_cursor=cursor
    )


@router.post(
    "/{urn}/nomination", response_model=SchoolPublic, dependencies=[require_roles(*MANAGERS)]
)
def nominate_school(
    session: SessionDep, school: ValidSchool, principal: CurrentPrincipal
) -> SchoolPublic:
    """Nominate a school of the caller's LA for the trial."""
    return public(session, service.nominate(session, school=school, actor=principal))


@router.post(
    "/{urn}/eligibility", response_model=SchoolPublic, dependencies=[require_roles(*MANAGERS)]
)
def assess_school_eligibility(
    body: EligibilityIn, session: SessionDep, school: ValidSchool, principal: CurrentPrincipal
) -> SchoolPublic:
    """Enter the Year 5/6 counts and record the eligibility decision with its reasons."""
    school = service.assess(
        session,
        school=school,
        social_worker_pupils=body.year56_social_worker_pupils,
        looked_after_pupils=body.year56_looked_after_pupils,
        actor=principal,
    )
    return public(session, school)


@router.post(
    "/{urn}/consent",
    response_model=SchoolPublic,
    dependencies=[require_roles(Role.trial_manager, Role.virtual_school, Role.school)],
)
def record_school_consent(
    session: SessionDep,
    school: ValidSchool,
    principal: CurrentPrincipal,
    storage: StorageDep,
    today: Today,
    head_teacher_name: Annotated[str, Form(max_length=200)],
    consent_date: Annotated[dt.date, Form()],
    random_allocation: Annotated[bool, Form()],
    evaluation: Annotated[bool, Form()],
    form: Annotated[UploadFile, File(description="the signed consent form (PDF or image)")],
) -> SchoolPublic:
    """Record the head teacher's consent and store the signed form."""
    school = service.consent(
        session,
        school=school,
        head_teacher=head_teacher_name,
        consent_on=consent_date,
        random_allocation=random_allocation,
        evaluation=evaluation,
        form=form.file,
        content_type=form.content_type,
        storage=storage,
        actor=principal,
        today=today,
    )
    return public(session, school)


@router.get(
    "/{urn}/consent/form",
    response_class=StreamingResponse,
    dependencies=[
        require_roles(Role.trial_manager, Role.auditor, Role.virtual_school, Role.school)
    ],
)
def download_consent_form(school: ValidSchool, storage: StorageDep) -> StreamingResponse:
    """The stored signed consent form."""
    if not school.consent_form_key:
        raise DocumentNotFound(f"School {school.urn} has no signed consent form on file.")
    return document_response(
        storage, key=school.consent_form_key, content_type=school.consent_form_content_type
    )


@router.post(
    "/{urn}/randomised",
    response_model=RandomisedOut,
    dependencies=[require_roles(Role.service, Role.trial_manager)],
)
def record_randomisation(
    body: RandomisedIn, session: SessionDep, school: ValidSchool, principal: CurrentPrincipal
) -> RandomisedOut:
    """The randomisation service's allocation of a consented school (idempotent per run)."""
    recorded = service.mark_randomised(
        session, school=school, run_id=body.run_id, arm=body.arm, test=body.test, actor=principal
    )
    return RandomisedOut(
        urn=school.urn,
        status=school.status,
        arm=school.arm if not body.test else body.arm,
        run_id=body.run_id,
        test=body.test,
        recorded=recorded,
    )


@router.post(
    "/{urn}/withdrawal",
    response_model=SchoolPublic,
    dependencies=[require_roles(Role.trial_manager, Role.virtual_school, Role.school)],
)
def withdraw_school(
    body: WithdrawalIn,
    session: SessionDep,
    school: ValidSchool,
    principal: CurrentPrincipal,
    today: Today,
) -> SchoolPublic:
    """Withdraw the school from the trial (from any status once nominated)."""
    school = service.withdraw(
        session,
        school=school,
        reason=body.reason,
        withdrawn_on=body.withdrawn_on,
        actor=principal,
        today=today,
    )
    return public(session, school)


@router.put(
    "/{urn}/email",
    response_model=SchoolPublic,
    dependencies=[require_roles(Role.trial_manager)],
)
def set_school_email(
    body: EmailIn,
    session: SessionDep,
    school: ValidSchool,
    principal: CurrentPrincipal,
    response: Response,
) -> SchoolPublic:
    """Set the school's GIAS email (the earlier one is kept in its history)."""
    changed = service.set_email_by_manager(
        session, school=school, raw_email=body.email, reason=body.reason, actor=principal
    )
    response.headers["X-Changed"] = "true" if changed else "false"
    session.flush()
    return public(session, school)
