"""Annotated dependencies: settings, clock, storage, and validating loaders that apply the policy.

The loaders are ``async``: a bounded lookup of one row, done on the event loop, costs less than
the thread-pool hop a plain ``def`` dependency takes (docs/architecture.md, "Sync or async").

``school_for("school.withdraw")`` loads the school named in the path and lets the request through
only if one of the token's roles both allows withdrawing and covers that school; a school the
token cannot even read is answered exactly as a missing one.
"""

import datetime as dt
from typing import Annotated, Any

from fastapi import Depends, Path, Request

from recruitment.config import Settings
from recruitment.errors import LocalAuthorityNotFound, SchoolNotFound, StaffMemberNotFound
from recruitment.models import LocalAuthority, School, StaffMember
from recruitment.schemas import RandomisedIn
from recruitment.schools import service as schools_service
from rlc_shared.auth import CurrentPrincipal, KeySet
from rlc_shared.db import SessionDep
from rlc_shared.policy import Target, action, authorize, object_loader, require_action
from rlc_shared.storage import ObjectStorage
from rlc_shared.types import RowId, UrnPath

__all__ = [
    "CurrentPrincipal",
    "RandomisationKeysDep",
    "SessionDep",
    "SettingsDep",
    "StorageDep",
    "Today",
    "VerifiedAllocationDep",
    "local_authority_for",
    "school_for",
    "staff_member_for",
    "today",
]


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_storage(request: Request) -> ObjectStorage:
    return request.app.state.storage


async def get_randomisation_keys(request: Request) -> KeySet:
    return request.app.state.randomisation_keys


async def today() -> dt.date:
    """Today's date in UTC. Tests and rehearsals replace it with ``app.dependency_overrides``."""
    return dt.datetime.now(dt.UTC).date()


SettingsDep = Annotated[Settings, Depends(get_settings)]
StorageDep = Annotated[ObjectStorage, Depends(get_storage)]
RandomisationKeysDep = Annotated[KeySet, Depends(get_randomisation_keys)]
Today = Annotated[dt.date, Depends(today)]


def school_target(school: School) -> Target:
    return Target(la_code=school.la_code, urn=school.urn)


def school_for(action_name: str) -> Any:
    """The school in the path, if the token may take ``action_name`` on it.

    Order: no role allows the action → 403; no such school → 404; a school the token cannot read
    → the same 404; readable but not this action → 403. A change locks the row (PostgreSQL:
    SELECT ... FOR UPDATE) so that two concurrent changes of one school are checked one after the
    other, never against the same stale status.
    """
    writes = action(action_name).writes

    def load(urn: UrnPath, session: SessionDep, principal: CurrentPrincipal) -> School:
        require_action(principal, action_name)
        school = session.get(School, urn, with_for_update=writes or None)
        if school is None:
            raise SchoolNotFound.for_urn(urn)
        authorize(
            principal,
            action_name,
            school_target(school),
            hidden=lambda: SchoolNotFound.for_urn(urn),
            visible_via="school.read",
        )
        return school

    return object_loader(action_name, load, name="school_for")


def staff_member_for(action_name: str) -> Any:
    """The school's staff member in the path, the school checked as by :func:`school_for`."""
    school_dep = school_for(action_name)

    def load(
        staff_id: RowId, session: SessionDep, school: Annotated[School, school_dep]
    ) -> StaffMember:
        member = session.get(StaffMember, staff_id)
        if member is None or member.urn != school.urn:
            raise StaffMemberNotFound(f"School {school.urn} has no staff member {staff_id}.")
        return member

    return object_loader(action_name, load, name="staff_member_for")


LaCodePath = Annotated[str, Path(pattern=r"^\d{3}$", description="the DfE LA code, e.g. 202")]


def local_authority_for(action_name: str) -> Any:
    """The registered LA in the path, if the token may take ``action_name`` for it."""

    def load(
        la_code: LaCodePath,
        session: SessionDep,
        principal: CurrentPrincipal,
    ) -> LocalAuthority:
        require_action(principal, action_name)
        la = session.get(LocalAuthority, la_code)
        if la is None:
            raise LocalAuthorityNotFound.for_code(la_code)
        authorize(
            principal,
            action_name,
            Target(la_code=la.la_code),
            hidden=lambda: LocalAuthorityNotFound.for_code(la_code),
            visible_via="la.read",
        )
        return la

    return object_loader(action_name, load, name="local_authority_for")


def verified_allocation(
    urn: UrnPath, body: RandomisedIn, principal: CurrentPrincipal, keys: RandomisationKeysDep
) -> schools_service.VerifiedAllocation:
    """The randomisation service's notice, its signed statement checked before anything else.

    Checking may fetch the randomisation service's JWKS over HTTP, and no transaction may be open
    across a call to another service (docs/architecture.md): so this needs no session, and an
    endpoint lists it before any dependency that uses one (the school's row lock is taken only
    after the keys are in hand). Plain ``def``: the fetch must not block the event loop. A token
    that may not record an arm is refused (403) before its statement is looked at.
    """
    require_action(principal, "school.record_allocation")
    return schools_service.verify_allocation_statement(
        body.statement, keys=keys, urn=urn, run_id=body.run_id, arm=body.arm, test=body.test
    )


VerifiedAllocationDep = Annotated[schools_service.VerifiedAllocation, Depends(verified_allocation)]
