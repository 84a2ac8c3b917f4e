"""The unmatched queue and its resolution."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from rlc_shared.pagination import Page, PageDep
from rlc_shared.policy import requires
from rlc_shared.types import ID_MAX, RowId
from surveys.deps import CurrentPrincipal, RecruitmentDep, SessionDep, TransactionsDep
from surveys.models import RoundName, UnmatchedStatus
from surveys.schemas import ResolveIn, ResolveOut, UnmatchedPublic
from surveys.unmatched import service

router = APIRouter(prefix="/unmatched", tags=["unmatched"])

ExportIdQuery = Annotated[int | None, Query(ge=1, le=ID_MAX, description="only this export's")]


@router.get("", response_model=Page[UnmatchedPublic], dependencies=[requires("survey.read")])
async def list_unmatched(
    session: SessionDep,
    page: PageDep,
    round: RoundName | None = None,
    status: Annotated[
        UnmatchedStatus | None, Query(description="open (the default) or resolved")
    ] = UnmatchedStatus.open,
    export_id: ExportIdQuery = None,
) -> Page[UnmatchedPublic]:
    """Responses no rule could link to a school (no email as written: domain and a redacted
    display)."""
    return service.list_unmatched(
        session, page=page, round=round, status=status, export_id=export_id
    )


@router.post(
    "/{item_id}/resolve", response_model=ResolveOut, dependencies=[requires("survey.manage")]
)
def resolve_unmatched(
    item_id: RowId,
    body: ResolveIn,
    transactions: TransactionsDep,
    recruitment: RecruitmentDep,
    principal: CurrentPrincipal,
) -> ResolveOut:
    """Link the response, and every other with the same school email, to a trial school."""
    return service.resolve(
        transactions,
        recruitment=recruitment,
        item_id=item_id,
        urn=body.urn,
        reason=body.reason,
        actor=principal,
    )
