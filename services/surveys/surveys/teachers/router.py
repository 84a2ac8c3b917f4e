"""Teachers' withdrawals: deleting their parsed responses on request."""

from __future__ import annotations

from fastapi import APIRouter

from rlc_shared.policy import requires
from surveys.deps import CurrentPrincipal, PseudonymiserDep, SessionDep
from surveys.schemas import WithdrawalIn, WithdrawalOut
from surveys.teachers import service

router = APIRouter(prefix="/teachers", tags=["teachers"])


@router.post("/withdrawals", response_model=WithdrawalOut, dependencies=[requires("survey.manage")])
def delete_withdrawn_teacher(
    body: WithdrawalIn,
    session: SessionDep,
    pseudonymiser: PseudonymiserDep,
    principal: CurrentPrincipal,
) -> WithdrawalOut:
    """Delete a withdrawn teacher's parsed responses (the address is hashed, then discarded);
    their later responses are left out too. The raw archive is not changed."""
    return service.withdraw_teacher(
        session,
        pseudonymiser=pseudonymiser,
        email=body.email,
        respondent_id=body.respondent_id,
        reason=body.reason,
        actor=principal,
    )
