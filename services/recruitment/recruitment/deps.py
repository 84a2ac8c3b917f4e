"""Annotated dependencies: settings, clock, storage, and validating loaders that apply the policy.

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
from rlc_shared.auth import CurrentPrincipal, KeySet
from rlc_shared.db import SessionDep
from rlc_shared.policy import Target, authorize, require_action
from rlc_shared.storage import ObjectStorage
from rlc_shared.types import RowId, UrnPath

__all__ = [
    "CurrentPrincipal",
    "RandomisationKeysDep",
    "SessionDep",
    "SettingsDep",
    "StorageDep",
    "Today",
    "local_authority_for",
    "school_for",
    "staff_member_for",
    "today",
]


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_storage(request: Request) -> ObjectStorage:
    return request.app.state.storage


def get_randomisation_keys(request: Request) -> KeySet:
    return request.app.state.randomisation_keys


def today() -> dt.date:
    """Today's date in UTC. Tests and rehearsals replace it with ``app.dependency_overrides``."""
    return dt.datetime.now(dt.UTC).date()


SettingsDep = Annotated[Settings, Depends(get_settings)]
StorageDep = Annotated[ObjectStorage, Depends(get_storage)]
RandomisationKeysDep = Annotated[KeySet, Depends(get_randomisation_keys)]
Today = Annotated[dt.date, Depends(today)]


def school_missing(urn: int) -> SchoolNotFound:
    return SchoolNotFound(f"There is no school with URN {urn}; schools come from the GIAS import.")


def school_target(school: School) -> Target:
    return Target(la_code=school.la_code, urn=school.urn)


def school_for(action: str) -> Any:
    """The school in the path, if the token may take ``action`` on it.

    Order: no role allows the action → 403; no such school → 404; a school the token cannot read
    → the same 404; readable but not this action → 403. A change locks the row (PostgreSQL:
    SELECT ... FOR UPDATE) so that two concurrent changes of one school are checked one after the
    other, never against the same stale status.
    """

    def load(
        urn: UrnPath, session: SessionDep, principal: CurrentPrincipal, request: Request
    ) -> School:
        require_action(principal, action)
        lock = request.method not in ("GET", "HEAD") or None
        school = session.get(School, urn, with_for_update=lock)
        if school is None:
            raise school_missing(urn)
        authorize(
            principal,
            action,
            school_target(school),
            hidden=lambda: school_missing(urn),
            visible_via="school.read",
        )
        return school

    load.__name__ = f"school_for_{action.replace('.', '_')}"
    return Depends(load)


def staff_member_for(action: str) -> Any:
    """The school's staff member in the path, the school checked as by :func:`school_for`."""
    school_dep = school_for(action)

    def load(
        staff_id: RowId,
        session: SessionDep,
        school: Annotated[School, school_dep],
    ) -> StaffMember:
        member = session.get(StaffMember, staff_id)
        if member is None or member.urn != school.urn:
            raise StaffMemberNotFound(f"School {school.urn} has no staff member {staff_id}.")
        return member

    load.__name__ = f"staff_member_for_{action.replace('.', '_')}"
    return Depends(load)


def la_missing(la_code: str) -> LocalAuthorityNotFound:
    return LocalAuthorityNotFound(f"Local authority {la_code} has not registered.")


def local_authority_for(action: str) -> Any:
    """The registered LA in the path, if the token may take ``action`` for it."""

    def load(
        la_code: Annotated[str, Path(pattern=r"^\d{3}$", description="the DfE LA code, e.g. 202")],
        session: SessionDep,
        principal: CurrentPrincipal,
    ) -> LocalAuthority:
        require_action(principal, action)
        la = session.get(LocalAuthority, la_code)
        if la is None:
            raise la_missing(la_code)
        authorize(
            principal,
            action,
            Target(la_code=la.la_code),
            hidden=lambda: la_missing(la_code),
            visible_via="la.read",
        )
        return la

    load.__name__ = f"local_authority_for_{action.replace('.', '_')}"
    return Depends(load)
