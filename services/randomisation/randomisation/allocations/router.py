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
SchemeQuery = Annotated[
    str | None,
    Query(
        max_length=40,
        description="only this scheme's allocations (with test=true: that test scheme's own "
        "namespace; without it, every test scheme's)",
    ),
]


@router.get("/allocations", response_model=Page[AllocationPublic], dependencies=[READERS])
def list_allocations(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    run_id: Annotated[str | None, Query(max_length=40)] = None,
    la_code: Annotated[str | None, Query(max_length=20)] = None,
    test: TestQuery = False,
    scheme_id: SchemeQuery = None,
):
    """Executed allocations the caller may see (a school: its own; a Virtual School: its LA's).

    With ``test=true``, the test-mode allocations of every test scheme (a school may appear once
    per test scheme), or of ``scheme_id`` only.
    """
    stmt = service.list_statement(
        principal, test=test, run_id=run_id, la_code=la_code, scheme_id=scheme_id
    )
    rows, count, cursor = paginate(session, stmt, key=service.order_key(), params=page)
    return Page(data=rows, count=count, next_cursor=cursor)


@router.get("/allocations/{urn}", response_model=AllocationPublic, dependencies=[READERS])
def get_allocation(
    urn: int,
    session: SessionDep,
    principal: CurrentPrincipal,
    test: TestQuery = False,
    scheme_id: SchemeQuery = None,
):
    """One school's allocation, once its run is executed.

    With ``test=true``: its allocation in test scheme ``scheme_id`` or, without ``scheme_id``,
    its most recent test allocation.
    """
    return service.get_visible(
        session, principal=principal, urn=urn, test=test, scheme_id=scheme_id
    )


@router.post(
    "/allocations/{urn}/in-error", response_model=AllocationPublic, dependencies=[TRIAL_MANAGER]
)
def mark_in_error(
    urn: int,
    body: ReasonRequest,
    session: SessionDep,
    principal: CurrentPrincipal,
    test: TestQuery = False,
    scheme_id: SchemeQuery = None,
):
    """Mark an allocation as made in error (it is never changed or deleted).

    With ``test=true``: the allocation in test scheme ``scheme_id``; without ``scheme_id`` the
    school's only test allocation (409 ``ambiguous-test-allocation`` if it has several).
    """
    return service.mark_in_error(
        session, urn=urn, test=test, reason=body.reason, actor=principal, scheme_id=scheme_id
    )
