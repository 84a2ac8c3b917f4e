"""Local authorities, their data sharing agreement and their Virtual School."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import StreamingResponse

from recruitment.deps import (
    CurrentPrincipal,
    LaCodePath,
    SessionDep,
    SettingsDep,
    StorageDep,
    Today,
    local_authority_for,
)
from recruitment.documents import document_response
from recruitment.local_authorities import service
from recruitment.models import LocalAuthority
from recruitment.schemas import (
    LocalAuthorityCreate,
    LocalAuthorityPublic,
    LocalAuthorityUpdate,
    VirtualSchoolIn,
    VirtualSchoolPublic,
)
from rlc_shared.pagination import Page, PageDep
from rlc_shared.policy import requires
from rlc_shared.types import Text

router = APIRouter(prefix="/local-authorities", tags=["local authorities"])


@router.post(
    "",
    status_code=201,
    response_model=LocalAuthorityPublic,
    dependencies=[requires("la.register")],
)
def register_local_authority(
    body: LocalAuthorityCreate,
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    today: Today,
) -> LocalAuthorityPublic:
    """Register an LA's expression of interest (refused after the deadline unless overridden)."""
    la = service.register(
        session, data=body, actor=principal, today=today, deadline=settings.eoi_deadline
    )
    return service.public(session, la)


@router.get("", response_model=Page[LocalAuthorityPublic], dependencies=[requires("la.read")])
async def list_local_authorities(
    session: SessionDep, principal: CurrentPrincipal, page: PageDep
) -> Page[LocalAuthorityPublic]:
    """The registered LAs (a Virtual School sees its own)."""
    return service.list_local_authorities(session, principal=principal, page=page)


@router.get("/{la_code}", response_model=LocalAuthorityPublic, dependencies=[requires("la.read")])
async def get_local_authority(
    la_code: LaCodePath, session: SessionDep, principal: CurrentPrincipal
) -> LocalAuthorityPublic:
    """One registered LA with its Virtual School."""
    return service.la_record(session, la_code=la_code, principal=principal)


@router.patch("/{la_code}", response_model=LocalAuthorityPublic)
def update_local_authority(
    body: LocalAuthorityUpdate,
    session: SessionDep,
    la: Annotated[LocalAuthority, local_authority_for("la.update")],
    principal: CurrentPrincipal,
) -> LocalAuthorityPublic:
    """Change an LA's name or target number of schools."""
    return service.public(session, service.update(session, la=la, data=body, actor=principal))


@router.post("/{la_code}/data-sharing-agreement", response_model=LocalAuthorityPublic)
def sign_data_sharing_agreement(
    session: SessionDep,
    la: Annotated[LocalAuthority, local_authority_for("la.sign_dsa")],
    principal: CurrentPrincipal,
    storage: StorageDep,
    today: Today,
    signed_on: Annotated[dt.date, Form()],
    reference: Annotated[Text, Form(max_length=100)],
    document: Annotated[UploadFile, File(description="the signed agreement (PDF or image)")],
) -> LocalAuthorityPublic:
    """Record the signed data sharing agreement and store its document."""
    la = service.sign_data_sharing_agreement(
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
    return service.public(session, la)


@router.get("/{la_code}/data-sharing-agreement/document", response_class=StreamingResponse)
def download_data_sharing_agreement(
    la: Annotated[LocalAuthority, local_authority_for("la.read_dsa_document")],
    storage: StorageDep,
) -> StreamingResponse:
    """The stored signed data sharing agreement (as an attachment)."""
    return document_response(
        storage,
        key=service.dsa_document_key(la),
        content_type=la.dsa_content_type,
        filename=f"data-sharing-agreement-{la.la_code}",
    )


@router.put("/{la_code}/virtual-school", response_model=VirtualSchoolPublic)
def set_virtual_school(
    body: VirtualSchoolIn,
    session: SessionDep,
    la: Annotated[LocalAuthority, local_authority_for("la.set_virtual_school")],
    principal: CurrentPrincipal,
) -> VirtualSchoolPublic:
    """Set the LA's Virtual School (its head and contact)."""
    vs = service.set_virtual_school(session, la=la, data=body, actor=principal)
    return VirtualSchoolPublic.model_validate(vs)
