"""Analysis plans: register, change a draft, freeze; every version stays readable."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from analytics.deps import (
    CurrentPrincipal,
    EditablePlan,
    PlanVersionPath,
    SessionDep,
    TransactionsDep,
    UpstreamsDep,
    ValidPlan,
)
from analytics.plans import service
from analytics.schemas import FreezeIn, PlanContent, PlanPublic
from rlc_shared.pagination import Page, PageDep
from rlc_shared.policy import requires

router = APIRouter(prefix="/plans", tags=["plans"])
MANAGE = requires("analysis.manage")
READ = requires("analysis.read")


@router.post("", status_code=201, response_model=PlanPublic, dependencies=[MANAGE])
def register_plan(
    body: PlanContent, session: SessionDep, principal: CurrentPrincipal
) -> PlanPublic:
    """Register a new version of the statistical analysis plan (a draft until frozen)."""
    return service.public(service.create_plan(session, data=body, actor=principal))


@router.get("", response_model=Page[PlanPublic], dependencies=[READ])
async def list_plans(session: SessionDep, page: PageDep) -> Page[PlanPublic]:
    """Every version of the plan, oldest first (frozen and drafts)."""
    return service.list_plans(session, page=page)


@router.get("/{version}", response_model=PlanPublic, dependencies=[READ])
async def get_plan(plan: ValidPlan) -> PlanPublic:
    """One version of the plan."""
    return service.public(plan)


@router.put("/{version}", response_model=PlanPublic, dependencies=[MANAGE])
def update_plan(
    body: PlanContent, plan: EditablePlan, session: SessionDep, principal: CurrentPrincipal
) -> PlanPublic:
    """Change a draft (409 once frozen: a change is then a new version)."""
    return service.public(service.update_plan(session, plan=plan, data=body, actor=principal))


@router.post("/{version}/freeze", response_model=PlanPublic, dependencies=[MANAGE])
def freeze_plan(
    version: PlanVersionPath,
    transactions: TransactionsDep,
    upstreams: UpstreamsDep,
    principal: CurrentPrincipal,
    body: Annotated[FreezeIn | None, Body()] = None,
) -> PlanPublic:
    """Freeze the draft once its compliance rule is frozen in workshops (timestamped, audited)."""
    reason = body.reason if body is not None else None
    frozen = service.freeze_plan(
        transactions, upstreams=upstreams, version=version, actor=principal, reason=reason
    )
    return service.public(frozen)
