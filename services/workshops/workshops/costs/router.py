"""Cost items (the evaluator's), and the listing analytics reads with a service token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from rlc_shared.auth import CurrentPrincipal
from rlc_shared.db import SessionDep
from rlc_shared.pagination import Page, PageDep
from rlc_shared.policy import requires
from rlc_shared.types import RowId, UrnQuery
from workshops.costs import service
from workshops.schemas import CostCategory, CostItemCreate, CostItemPublic, CostItemUpdate

router = APIRouter(tags=["costs"])
READ, MANAGE = requires("workshop.read"), requires("evaluation.manage")


@router.post("/costs", status_code=201, response_model=CostItemPublic, dependencies=[MANAGE])
def create_cost_item(
    body: CostItemCreate, session: SessionDep, principal: CurrentPrincipal
) -> CostItemPublic:
    """Record a cost: an amount, or hours × a rate; one enrolled school's or programme-wide."""
    return service.create_item(session, data=body, actor=principal)


@router.get("/costs", response_model=Page[CostItemPublic], dependencies=[READ])
async def list_cost_items(
    session: SessionDep,
    page: PageDep,
    urn: UrnQuery = None,
    category: CostCategory | None = None,
    programme_wide: Annotated[bool | None, Query(description="only items without a URN")] = None,
) -> Page[CostItemPublic]:
    """Every cost item with its cost and the school's pupils, oldest first."""
    return service.list_items(
        session, page=page, urn=urn, category=category, programme_wide=programme_wide
    )


@router.get("/costs/{item_id}", response_model=CostItemPublic, dependencies=[READ])
async def get_cost_item(item_id: RowId, session: SessionDep) -> CostItemPublic:
    """One cost item."""
    return service.get_item(session, item_id=item_id)


@router.patch("/costs/{item_id}", response_model=CostItemPublic, dependencies=[MANAGE])
def update_cost_item(
    item_id: RowId, body: CostItemUpdate, session: SessionDep, principal: CurrentPrincipal
) -> CostItemPublic:
    """Correct a cost item (audited, with the reason)."""
    return service.update_item(session, item_id=item_id, data=body, actor=principal)
