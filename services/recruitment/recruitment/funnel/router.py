"""The recruitment funnel per local authority and overall."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from recruitment.deps import CurrentPrincipal, SessionDep, SettingsDep, Today
from recruitment.funnel import service
from recruitment.schemas import Funnel
from rlc_shared.policy import requires

router = APIRouter(tags=["funnel"])


@router.get("/funnel", response_model=Funnel, dependencies=[requires("funnel.read")])
async def get_funnel(
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    today: Today,
    la_code: Annotated[str | None, Query(pattern=r"^\d{3}$")] = None,
    stuck_after_days: Annotated[int | None, Query(ge=1, le=365)] = None,
) -> Funnel:
    """Schools at each stage, stuck schools and days to the consent deadline (a VS: its LA)."""
    return service.funnel_for(
        session,
        principal=principal,
        la_code=la_code,
        today=today,
        consent_deadline=settings.consent_deadline,
        stuck_after_days=stuck_after_days or settings.stuck_after_days,
    )
