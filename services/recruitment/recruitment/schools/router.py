"""Schools: search, records, history, the trial lifecycle and the randomisation contract."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Response, UploadFile
from fastapi.responses import StreamingResponse

from recruitment.deps import (
    CurrentPrincipal,
    SessionDep,
    StorageDep,
    Today,
    VerifiedAllocationDep,
    school_for,
)
from recruitment.documents import document_response
from recruitment.models import School, SchoolStatus
from recruitment.schemas import (
    EligibilityIn,
    EmailIn,
    EmailLookup,
    EmailMatches,
    EmailsLookup,
    HistoryEvent,
    RandomisableSchool,
    RandomisedOut,
    SchoolByEmail,
    SchoolPublic,
    SchoolRecord,
    WithdrawalIn,
)
from recruitment.schools import queries, service
from rlc_shared.pagination import Page, PageDep
from rlc_shared.policy import requires
from rlc_shared.types import Text, UrnPath, UrnQuery

router = APIRouter(prefix="/schools", tags=["schools"])

LaCodeQuery = Annotated[str | None, Query(max_length=10)]


@router.get("", response_model=Page[SchoolPublic], dependencies=[requires("school.read")])
async def list_schools(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    la_code: LaCodeQuery = None,
    status: SchoolStatus | None = None,
    in_trial: bool | None = None,
    eligible: bool | None = None,
    name: Annotated[Text | None, Query(max_length=100, description="part of the name")] = None,
    urn: UrnQuery = None,
    phase: Annotated[str | None, Query(max_length=60)] = None,
) -> Page[SchoolPublic]:
    """Search the schools the caller may see, ordered by URN."""
    return queries.list_schools(
        session,
        principal=principal,
        page=page,
        la_code=la_code,
        status=status,
        in_trial=in_trial,
        eligible=eligible,
        name=name,
        urn=urn,
        phase=phase,
    )


@router.get(
    "/randomisable",
    response_model=Page[RandomisableSchool],
    dependencies=[requires("school.list_randomisable")],
)
async def list_randomisable(
    session: SessionDep, page: PageDep, la_code: LaCodeQuery = None
) -> Page[RandomisableSchool]:
    """Schools ready for randomisation: consented, eligible, not withdrawn, not randomised."""
    return queries.list_randomisable(session, page=page, la_code=la_code)


@router.get("/by-email", response_model=SchoolByEmail, dependencies=[requires("school.read")])
async def find_school_by_email(
    session: SessionDep,
    principal: CurrentPrincipal,
    email: Annotated[str, Query(min_length=1, max_length=320)],
) -> SchoolByEmail:
    """The school with this current or earlier GIAS email (404 if none the caller may see)."""
    return queries.by_email(session, raw_email=email, principal=principal)


@router.post("/by-email", response_model=SchoolByEmail, dependencies=[requires("school.read")])
async def find_school_by_email_post(
    body: EmailLookup, session: SessionDep, principal: CurrentPrincipal
) -> SchoolByEmail:
    """As GET /schools/by-email, with the address in the body rather than the URL."""
    return queries.by_email(session, raw_email=body.email, principal=principal)


@router.post("/by-emails", response_model=EmailMatches, dependencies=[requires("school.read")])
async def find_schools_by_emails(
    body: EmailsLookup, session: SessionDep, principal: CurrentPrincipal
) -> EmailMatches:
    """For up to 500 addresses at once, the school whose current or earlier GIAS email each is."""
    return EmailMatches(
        data=queries.lookup_emails(session, emails=body.emails, principal=principal)
    )


@router.get("/{urn}", response_model=SchoolRecord, dependencies=[requires("school.read")])
async def get_school(
    urn: UrnPath, session: SessionDep, principal: CurrentPrincipal
) -> SchoolRecord:
    """A school's full record: GIAS attributes, trial progress, emails and staff."""
    return queries.school_record(session, urn=urn, principal=principal)


@router.get("/{urn}/history", response_model=Page[HistoryEvent])
async def get_school_history(
    session: SessionDep, school: Annotated[School, school_for("school.read")], page: PageDep
) -> Page[HistoryEvent]:
    """Every recorded change to the school and its staff, oldest first."""
    return queries.history_page(session, urn=school.urn, page=page)


@router.post("/{urn}/nomination", response_model=SchoolPublic)
def nominate_school(
    session: SessionDep,
    school: Annotated[School, school_for("school.nominate")],
    principal: CurrentPrincipal,
) -> SchoolPublic:
    """Nominate a school of the caller's LA for the trial."""
    return queries.public(session, service.nominate(session, school=school, actor=principal))


@router.post("/{urn}/eligibility", response_model=SchoolPublic)
def assess_school_eligibility(
    body: EligibilityIn,
    session: SessionDep,
    school: Annotated[School, school_for("school.assess_eligibility")],
    principal: CurrentPrincipal,
) -> SchoolPublic:
    """Enter the Year 5/6 counts and record the eligibility decision with its reasons."""
    school = service.assess(
        session,
        school=school,
        social_worker_pupils=body.year56_social_worker_pupils,
        looked_after_pupils=body.year56_looked_after_pupils,
        actor=principal,
    )
    return queries.public(session, school)


@router.post("/{urn}/consent", response_model=SchoolPublic)
def record_school_consent(
    session: SessionDep,
    school: Annotated[School, school_for("school.consent")],
    principal: CurrentPrincipal,
    storage: StorageDep,
    today: Today,
    head_teacher_name: Annotated[Text, Form(max_length=200)],
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
    return queries.public(session, school)


@router.get("/{urn}/consent/form", response_class=StreamingResponse)
def download_consent_form(
    school: Annotated[School, school_for("school.read_consent_form")], storage: StorageDep
) -> StreamingResponse:
    """The stored signed consent form (as an attachment)."""
    return document_response(
        storage,
        key=service.consent_form_key(school),
        content_type=school.consent_form_content_type,
        filename=f"consent-{school.urn}",
    )


@router.post("/{urn}/randomised", response_model=RandomisedOut)
def record_randomisation(
    # First: the statement is verified (the keys perhaps fetched over HTTP) before the session
    # below is used, so no transaction or row lock is held across that call.
    allocation: VerifiedAllocationDep,
    session: SessionDep,
    school: Annotated[School, school_for("school.record_allocation")],
    principal: CurrentPrincipal,
) -> RandomisedOut:
    """The randomisation service's allocation of a consented school (idempotent per run).

    Only the randomisation service's own identity may call this, and only with the allocation's
    statement signed by its key: an arm can never be set by hand.
    """
    recorded = service.mark_randomised(
        session, school=school, allocation=allocation, actor=principal
    )
    return RandomisedOut(
        urn=school.urn,
        status=school.status,
        arm=school.arm if not allocation.test else allocation.arm,
        run_id=allocation.run_id,
        test=allocation.test,
        recorded=recorded,
    )


@router.post("/{urn}/withdrawal", response_model=SchoolPublic)
def withdraw_school(
    body: WithdrawalIn,
    session: SessionDep,
    school: Annotated[School, school_for("school.withdraw")],
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
    return queries.public(session, school)


@router.put("/{urn}/email", response_model=SchoolPublic)
def set_school_email(
    body: EmailIn,
    session: SessionDep,
    school: Annotated[School, school_for("school.set_email")],
    principal: CurrentPrincipal,
    response: Response,
) -> SchoolPublic:
    """Set the school's GIAS email (the earlier one is kept in its history)."""
    changed = service.set_email_by_manager(
        session, school=school, raw_email=body.email, reason=body.reason, actor=principal
    )
    response.headers["X-Changed"] = "true" if changed else "false"
    return queries.public(session, school)
