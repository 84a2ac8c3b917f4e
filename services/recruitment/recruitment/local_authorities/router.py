"""Local authorities, their data sharing agreement and their Virtual School."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import StreamingResponse
from sqlmodel import select

from recruitment.deps import (
    CurrentPrincipal,
    SessionDep,
    SettingsDep,
    StorageDep,
    Today,
    ValidLocalAuthority,
)
from recruitment.documents import document_response
from recruitment.errors import DocumentNotFound
from recruitment.local_authorities import service
from recruitment.models import LocalAuthority
from recruitment.schemas import (
    LocalAuthorityCreate,
    LocalAuthorityPublic,
    LocalAuthorityUpdate,
    VirtualSchoolIn,
    VirtualSchoolPublic,
)
from rlc_shared.auth import Role, ensure_la_scope, require_roles
from rlc_shared.pagination import Page, PageDep, paginate

router = APIRouter(prefix="/local-authorities", tags=["local authorities"])

LA_READERS = (Role.trial_manager, Role.evaluator, Role.delivery, Role.auditor, Role.virtual_school)
LA_WRITERS = (Role.trial_manager, Role.virtual_school)


def _public(session: SessionDep, la: LocalAuthority) -> LocalAuthorityPublic:
    out = LocalAuthorityPublic.model_validate(la)
    vs = service.get_virtual_school(session, la_code=la.la_code)
    out.virtual_school = VirtualSchoolPublic.model_validate(vs) if vs else None
    return out


@router.post(
    "",
    status_code=201,
    response_model=LocalAuthorityPublic,
    dependencies=[require_roles(*LA_WRITERS)],
)
def register_local_authority(
    body: LocalAuthorityCreate,
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    today: Today,
) -> LocalAuthorityPublic:
    """Register an LA's expression of interest (refused after the deadline unless overridden)."""
    ensure_la_scope(principal, body.la_code)
    la = service.register(
        session, data=body, actor=principal, today=today, deadline=settings.eoi_deadline
    )
    session.flush()
    return _public(session, la)


@router.get(
    "", response_model=Page[LocalAuthorityPublic], dependencies=[require_roles(*LA_READERS)]
)
def list_local_authorities(
    session: SessionDep, principal: CurrentPrincipal, page: PageDep
) -> Page[LocalAuthorityPublic]:
    """The registered LAs (a Virtual School sees its own)."""
    stmt = select(LocalAuthority)
    if not principal.has(Role.trial_manager, Role.evaluator, Role.delivery, Role.auditor):
        stmt = stmt.where(LocalAuthority.la_code == (principal.la_code or ""))
    rows, count, cursor = paginate(session, stmt, key=LocalAuthority.la_code, params=page)
    return Page(data=[_public(session, la) for la in rows], count=count, next_cursor=cursor)


@router.get(
    "/{la_code}", response_model=LocalAuthorityPublic, dependencies=[require_roles(*LA_READERS)]
)
def get_local_authority(session: SessionDep, la: ValidLocalAuthority) -> LocalAuthorityPublic:
    """One registered LA with its Virtual School."""
    return _public(session, la)


@router.patch(
    "/{la_code}",
    response_model=LocalAuthorityPublic,
    dependencies=[require_roles(Role.trial_manager)],
)
def update_local_authority(
    body: LocalAuthorityUpdate,
    session: SessionDep,
    la: ValidLocalAuthority,
    principal: CurrentPrincipal,
) -> LocalAuthorityPublic:
    """Change an LA's name or target number of schools."""
    return _public(session, service.update(session, la=la, data=body, actor=principal))


@router.post(
    "/{la_code}/data-sharing-agreement",
    response_model=LocalAuthorityPublic,
    dependencies=[require_roles(*LA_WRITERS)],
)
def sign_data_sharing_agreement(
    session: SessionDep,
    la: ValidLocalAuthority,
    principal: CurrentPrincipal,
    storage: StorageDep,
    today: Today,
    signed_on: Annotated[dt.date, Form()],
    reference: Annotated[str, Form(max_length=100)],
    document: Annotated[UploadFile, File(description="the signed agreement (PDF or image)")],
) -> LocalAuthorityPublic:
    """Record the signed data sharing agreement and store its document."""
    service.sign_data_sharing_agreement(
        session,
        la=la,
        signed_on=signed_on,
        reference=reference,
        document=document.file,
        content_type=document.content_type,
        storage=storage,
        actor=principal,
        today=today,
    )
    return _public(session, la)


@router.get(
    "/{la_code}/data-sharing-agreement/document",
    response_class=StreamingResponse,
    dependencies=[require_roles(Role.trial_manager, Role.auditor, Role.virtual_school)],
)
def download_data_sharing_agreement(
    la: ValidLocalAuthority, storage: StorageDep
) -> StreamingResponse:
    """The stored signed data sharing agreement."""
    if not la.dsa_document_key:
        raise DocumentNotFound(f"Local authority {la.la_code} has no signed agreement on file.")
    return document_response(storage, key=la.dsa_document_key, content_type=la.dsa_content_type)


@router.put(
    "/{la_code}/virtual-school",
    response_model=VirtualSchoolPublic,
    dependencies=[require_roles(*LA_WRITERS)],
)
def set_virtual_school(
    body: VirtualSchoolIn,
    session: SessionDep,
    la: ValidLocalAuthority,
    principal: CurrentPrincipal,
) -> VirtualSchoolPublic:
    """Set the LA's Virtual School (its head and contact)."""
    vs = service.set_virtual_school(session, la=la, data=body, actor=principal)
    session.flush()
    return VirtualSchoolPublic.model_validate(vs)
