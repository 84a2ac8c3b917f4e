"""The recruitment funnel per local authority and overall."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from recruitment.deps import CurrentPrincipal, SessionDep, SettingsDep, Today
from recruitment.funnel import service
from recruitment.schemas import Funnel
from rlc_shared.auth import Role, ensure_la_scope, require_roles

router = APIRouter(tags=["funnel"])


@router.get(
    "/funnel",
    response_model=Funnel,
    dependencies=[
        require_roles(
            Role.trial_manager, Role.evaluator, Role.delivery, Role.auditor, Role.virtual_school
        )
    ],
)
def get_funnel(
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    today: Today,
    la_code: Annotated[str | None, Query(max_length=10)] = None,
    stuck_after_days: Annotated[int | None, Query(ge=1, le=365)] = None,
) -> Funnel:
    """Schools at each stage, stuck schools and days to the consent deadline (a VS: its LA)."""
    if not principal.has(Role.trial_manager, Role.evaluator, Role.delivery, Role.auditor):
        la_code = la_code or principal.la_code
        ensure_la_scope(principal, la_code)
    return service.funnel(
        session,
        today=today,
        consent_deadline=settings.consent_deadline,
        stuck_after_days=stuck_after_days or settings.stuck_after_days,
        la_code=la_code,
    )
