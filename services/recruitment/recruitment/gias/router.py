"""GIAS imports: the establishment extract and the URN,email register (trial managers)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, UploadFile

from recruitment.deps import CurrentPrincipal, SessionDep, SettingsDep, StorageDep
from recruitment.gias import service
from recruitment.models import GiasImport
from recruitment.schemas import ImportPublic
from rlc_shared.pagination import Page, PageDep
from rlc_shared.policy import requires
from rlc_shared.types import RowId

router = APIRouter(prefix="/gias", tags=["GIAS"])

#: The upload endpoints that get the larger body limit.
UPLOAD_PATHS = ("/gias/imports", "/gias/email-imports")


@router.post(
    "/imports",
    status_code=201,
    response_model=ImportPublic,
    dependencies=[requires("gias.import")],
)
def import_gias_extract(
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    storage: StorageDep,
    file: Annotated[UploadFile, File(description="edubasealldata*.csv as downloaded from GIAS")],
) -> GiasImport:
    """Import the GIAS establishment extract: upsert schools by URN and report the counts."""
    return service.import_upload(
        session,
        kind=service.ESTABLISHMENTS,
        stream=file.file,
        file_name=file.filename,
        storage=storage,
        actor=principal,
        batch_size=settings.gias_batch_size,
        keep_rejections=settings.import_rejections_kept,
    )


@router.post(
    "/email-imports",
    status_code=201,
    response_model=ImportPublic,
    dependencies=[requires("gias.import")],
)
def import_gias_emails(
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    storage: StorageDep,
    file: Annotated[UploadFile, File(description="a CSV with URN and email columns")],
) -> GiasImport:
    """Import schools' GIAS emails from a URN,email file; unknown URNs are rejected by line."""
    return service.import_upload(
        session,
        kind=service.EMAILS,
        stream=file.file,
        file_name=file.filename,
        storage=storage,
        actor=principal,
        batch_size=settings.gias_batch_size,
        keep_rejections=settings.import_rejections_kept,
    )


@router.get(
    "/imports", response_model=Page[ImportPublic], dependencies=[requires("gias.read_imports")]
)
async def list_imports(session: SessionDep, page: PageDep) -> Page[ImportPublic]:
    """Every GIAS import (extracts and email registers), oldest first."""
    return service.list_imports(session, page=page)


@router.get(
    "/imports/{import_id}",
    response_model=ImportPublic,
    dependencies=[requires("gias.read_imports")],
)
async def get_import(session: SessionDep, import_id: RowId) -> GiasImport:
    """One import record with its counts and first rejections."""
    return service.get_import(session, import_id=import_id)
