"""The power calculator (PowerUp! CRA2_2r): the MDES of a design, and the schools it needs."""

from __future__ import annotations

from fastapi import APIRouter

from analytics.design import service
from analytics.schemas import MdesIn, MdesOut, SchoolsIn, SchoolsOut
from rlc_shared.policy import requires

router = APIRouter(prefix="/design", tags=["design"])
CALCULATE = requires("design.calculate")


@router.post("/mdes", response_model=MdesOut, dependencies=[CALCULATE])
def minimum_detectable_effect_size(body: MdesIn) -> MdesOut:
    """The minimum detectable effect size of a two-level cluster-randomised design."""
    return service.mdes(body)


@router.post("/schools", response_model=SchoolsOut, dependencies=[CALCULATE])
def schools_needed(body: SchoolsIn) -> SchoolsOut:
    """The fewest schools whose design detects ``target_mdes``."""
    return service.schools(body)
