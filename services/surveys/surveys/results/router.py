"""Results of a round: scale summaries, response rates, non-responders, the CSV download."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from rlc_shared.policy import requires
from rlc_shared.types import UrnQuery
from surveys.deps import (
    AllocationsDep,
    CurrentPrincipal,
    ReadEngineDep,
    ReadTransactionsDep,
    RecruitmentDep,
    RoundPath,
    SessionDep,
)
from surveys.results import service
from surveys.schemas import NonRespondingOut, RatesOut, ScalesOut

router = APIRouter(prefix="/rounds/{round}", tags=["results"])

LaCodeQuery = Annotated[
    str | None, Query(pattern=r"^\d{3}$", description="only this LA's schools (DfE LA code)")
]


@router.get("/scales", response_model=ScalesOut, dependencies=[requires("survey.read")])
def get_scales(round: RoundPath, session: SessionDep) -> ScalesOut:
    """Per scale: n, mean, SD and Cronbach's alpha over the round's linked responses."""
    return service.scales(session, round=round)


@router.get(
    "/response-rates",
    response_model=RatesOut,
    response_model_exclude_none=True,
    dependencies=[requires("survey.read_response_rates")],
)
def get_response_rates(
    round: RoundPath,
    transactions: ReadTransactionsDep,
    allocations: AllocationsDep,
    principal: CurrentPrincipal,
    by: Annotated[
        Literal["arm", "la", "school"], Query(description="group the randomised schools by")
    ] = "arm",
    la_code: LaCodeQuery = None,
    urn: UrnQuery = None,
) -> RatesOut:
    """Responses and the share of randomised schools responding, per arm, LA or school (only
    the schools the caller may see)."""
    return service.response_rates(
        transactions,
        live=allocations,
        principal=principal,
        round=round,
        by=by,
        la_code=la_code,
        urn=urn,
    )


@router.get(
    "/non-responding-schools",
    response_model=NonRespondingOut,
    dependencies=[requires("survey.read_non_responders")],
)
def get_non_responding_schools(
    round: RoundPath,
    transactions: ReadTransactionsDep,
    allocations: AllocationsDep,
    recruitment: RecruitmentDep,
    principal: CurrentPrincipal,
    la_code: LaCodeQuery = None,
) -> NonRespondingOut:
    """Randomised schools with no response yet in the round, for reminders."""
    return service.non_responding(
        transactions,
        live=allocations,
        recruitment=recruitment,
        principal=principal,
        round=round,
        la_code=la_code,
    )


@router.get(
    "/responses.csv",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "linked, scored, pseudonymised responses (UTF-8 CSV)",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
    dependencies=[requires("survey.read")],
)
def download_responses(round: RoundPath, engine: ReadEngineDep) -> StreamingResponse:
    """The round's linked responses for the analysis: teacher pseudonym, school, scores."""
    return StreamingResponse(
        service.responses_csv(engine, round=round),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="responses-{round.value}.csv"'},
    )
