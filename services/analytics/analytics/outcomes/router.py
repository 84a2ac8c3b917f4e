"""Pupil outcomes: imported by the evaluator under the frozen plan; nobody else sees them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, UploadFile

from analytics.deps import (
    CurrentPrincipal,
    SessionDep,
    SettingsDep,
    StorageDep,
    TransactionsDep,
    UpstreamsDep,
)
from analytics.outcomes import service
from analytics.schemas import OutcomeImportPublic
from rlc_shared.pagination import Page, PageDep
from rlc_shared.policy import requires
from rlc_shared.types import RowId

router = APIRouter(prefix="/outcomes", tags=["outcomes"])
MANAGE = requires("analysis.manage")
UPLOAD_PATHS = ("/outcomes/imports",)


@router.post("/imports", status_code=201, response_model=OutcomeImportPublic, dependencies=[MANAGE])
def import_outcomes(
    transactions: TransactionsDep,
    upstreams: UpstreamsDep,
    storage: StorageDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    file: Annotated[UploadFile, File(description="pupil outcomes: CSV or Parquet")],
) -> OutcomeImportPublic:
    """Import a pupil outcomes file; each kind of problem is counted, with examples."""
    return service.import_outcomes(
        transactions,
        upstreams=upstreams,
        storage=storage,
        upload=file.file,
        file_name=file.filename or "outcomes",
        actor=principal,
        chunk_rows=settings.outcomes_chunk_rows,
        examples_kept=settings.outcomes_examples_kept,
    )


@router.get("/imports", response_model=Page[OutcomeImportPublic], dependencies=[MANAGE])
async def list_imports(session: SessionDep, page: PageDep) -> Page[OutcomeImportPublic]:
    """Every outcome import, oldest first, with what its validation found."""
    return service.list_imports(session, page=page)


@router.get("/imports/{import_id}", response_model=OutcomeImportPublic, dependencies=[MANAGE])
async def get_import(import_id: RowId, session: SessionDep) -> OutcomeImportPublic:
    """One outcome import."""
    return service.public(service.get_import(session, import_id=import_id))
