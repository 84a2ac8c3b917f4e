"""Allocations: who sees which school's arm; flagging an allocation made in error."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from randomisation.allocations import service
from randomisation.deps import TRIAL_MANAGER, SessionDep
from randomisation.schemas import AllocationPublic, ReasonRequest
from rlc_shared.auth import CurrentPrincipal, require_roles
from rlc_shared.pagination import Page, PageDep, paginate

router = APIRouter(tags=["allocations"])
READERS = require_roles(*service.READERS)
TestQuery = Annotated[bool, Query(description="test-mode allocations (trial managers only)")]


@router.get("/allocations", response_model=Page[AllocationPublic], dependencies=[READERS])
def list_allocations(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    run_id: Annotated[str | None, Query(max_length=40)] = None,
    la_code: Annotated[str | None, Query(max_length=20)] = None,
    test: TestQuery = False,
):
    """Executed allocations the caller may see (a school: its own; a Virtual School: its LA's)."""
    stmt = service.list_statement(principal, test=test, run_id=run_id, la_code=la_code)
    rows, count, cursor = paginate(session, stmt, key=service.order_key(), params=page)
    return Page(data=rows, count=count, next_cursor=cursor)


@router.get("/allocations/{urn}", response_model=AllocationPublic, dependencies=[READERS])
def get_allocation(
    urn: int, session: SessionDep, principal: CurrentPrincipal, test: TestQuery = False
):
    """One school's allocation, once its run is executed."""
    return service.get_visible(session, principal=principal, urn=urn, test=test)


@router.post(
    "/allocations/{urn}/in-error", response_model=AllocationPublic, dependencies=[TRIAL_MANAGER]
)
def mark_in_error(
    urn: int,
    body: ReasonRequest,
    session: SessionDep,
    principal: CurrentPrincipal,
    test: TestQuery = False,
):
    """Mark an allocation as made in error (it is never changed or deleted)."""
    return service.mark_in_error(session, urn=urn, test=test, reason=body.reason, actor=principal)
