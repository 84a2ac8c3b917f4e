"""Allocations: who sees which school's arm; flagging an allocation made in error."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from randomisation.allocations import service
from randomisation.deps import SessionDep
from randomisation.schemas import AllocationPublic, ReasonRequest
from rlc_shared.auth import CurrentPrincipal
from rlc_shared.pagination import Page, PageDep
from rlc_shared.policy import requires
from rlc_shared.types import UrnPath

router = APIRouter(tags=["allocations"])
READERS = requires("allocation.read")
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
async def list_allocations(
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
    return service.list_allocations(
        session,
        principal=principal,
        page=page,
        test=test,
        run_id=run_id,
        la_code=la_code,
        scheme_id=scheme_id,
    )


@router.get("/allocations/{urn}", response_model=AllocationPublic, dependencies=[READERS])
async def get_allocation(
    urn: UrnPath,
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
    "/allocations/{urn}/in-error",
    response_model=AllocationPublic,
    dependencies=[requires("allocation.mark_in_error")],
)
def mark_in_error(
    urn: UrnPath,
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
