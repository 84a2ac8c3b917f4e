"""The programme: its sessions as published, and changes to that template."""

from __future__ import annotations

from fastapi import APIRouter

from rlc_shared.auth import CurrentPrincipal
from rlc_shared.db import SessionDep
from rlc_shared.policy import requires
from rlc_shared.types import RowId
from workshops.programme import service
from workshops.schemas import ProgrammePublic, ProgrammeSessionPublic, ProgrammeSessionUpdate

router = APIRouter(tags=["programme"])


@router.get("/programme", response_model=ProgrammePublic, dependencies=[requires("workshop.read")])
async def get_programme(session: SessionDep) -> ProgrammePublic:
    """The programme and its eight sessions in order, as the published schedule plans them."""
    return service.programme_public(session)


@router.patch(
    "/programme/sessions/{session_id}",
    response_model=ProgrammeSessionPublic,
    dependencies=[requires("workshop.manage")],
)
def update_programme_session(
    session_id: RowId,
    body: ProgrammeSessionUpdate,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> ProgrammeSessionPublic:
    """Change a session of the template (facilitator, mode, date, length) for cohorts created
    from now on."""
    return service.update_session(session, session_id=session_id, data=body, actor=principal)
