"""Analyses: requested as jobs (202 with a status URL), then followed until done."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse

from analytics.analyses import service
from analytics.deps import AnalysisIdPath, CurrentPrincipal, SessionDep
from analytics.schemas import AnalysisAccepted, AnalysisIn, AnalysisPublic
from rlc_shared.pagination import Page, PageDep
from rlc_shared.policy import requires

router = APIRouter(prefix="/analyses", tags=["analyses"])
MANAGE = requires("analysis.manage")
READ = requires("analysis.read")


@router.post("", status_code=202, response_model=AnalysisAccepted, dependencies=[MANAGE])
def request_analysis(
    session: SessionDep,
    principal: CurrentPrincipal,
    body: Annotated[AnalysisIn | None, Body()] = None,
) -> JSONResponse:
    """Queue an analysis of the frozen plan: a snapshot of every input, then the report."""
    analysis = service.request_analysis(session, data=body or AnalysisIn(), actor=principal)
    accepted = AnalysisAccepted(
        id=analysis.id, status=analysis.status, status_url=service.status_url(analysis.id)
    )
    return JSONResponse(
        accepted.model_dump(), status_code=202, headers={"Location": accepted.status_url}
    )


@router.get("", response_model=Page[AnalysisPublic], dependencies=[READ])
async def list_analyses(session: SessionDep, page: PageDep) -> Page[AnalysisPublic]:
    """Every analysis, oldest first, with its status."""
    return service.list_analyses(session, page=page)


@router.get("/{analysis_id}", response_model=AnalysisPublic, dependencies=[READ])
async def get_analysis(analysis_id: AnalysisIdPath, session: SessionDep) -> AnalysisPublic:
    """An analysis's status and progress; once done, where its report is."""
    return service.public(session, service.get_analysis(session, analysis_id=analysis_id))
