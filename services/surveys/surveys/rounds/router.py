"""Rounds and their codebooks; re-scoring a round."""

from __future__ import annotations

from fastapi import APIRouter

from rlc_shared.policy import requires
from surveys.deps import CurrentPrincipal, RoundPath, SessionDep
from surveys.rounds import service
from surveys.schemas import RescoreIn, RescoreOut, RoundIn, RoundPublic, RoundsPublic

router = APIRouter(prefix="/rounds", tags=["rounds"])


@router.get("", response_model=RoundsPublic, dependencies=[requires("survey.read")])
async def list_rounds(session: SessionDep) -> RoundsPublic:
    """The rounds set up so far, with their current codebooks."""
    return service.list_rounds(session)


@router.put("/{round}", response_model=RoundPublic, dependencies=[requires("survey.manage")])
def put_round(
    round: RoundPath, body: RoundIn, session: SessionDep, principal: CurrentPrincipal
) -> RoundPublic:
    """Set a round's survey, dates and codebook (the same again changes nothing)."""
    return service.set_round(session, name=round, data=body, actor=principal)


@router.get("/{round}", response_model=RoundPublic, dependencies=[requires("survey.read")])
async def get_round(round: RoundPath, session: SessionDep) -> RoundPublic:
    """A round, its current codebook and every codebook version."""
    return service.read_round(session, name=round)


@router.post(
    "/{round}/rescore", response_model=RescoreOut, dependencies=[requires("survey.manage")]
)
def rescore_round(
    round: RoundPath, body: RescoreIn, session: SessionDep, principal: CurrentPrincipal
) -> RescoreOut:
    """Parse and score the round's exports again, from the raw archive, with its current
    codebook (audited)."""
    return service.request_rescore(session, name=round, reason=body.reason, actor=principal)
