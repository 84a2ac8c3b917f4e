"""Annotated dependencies: settings, clock, storage, and validating loaders that enforce scope."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlmodel import Session

from recruitment.config import Settings
from recruitment.errors import LocalAuthorityNotFound, SchoolNotFound, StaffMemberNotFound
from recruitment.models import LocalAuthority, School, StaffMember
from rlc_shared.auth import CurrentPrincipal, Role, ensure_la_scope, ensure_school_scope
from rlc_shared.db import SessionDep
from rlc_shared.storage import ObjectStorage

__all__ = [
    "READERS",
    "CurrentPrincipal",
    "SessionDep",
    "SettingsDep",
    "StorageDep",
    "Today",
    "ValidLocalAuthority",
    "ValidSchool",
    "ValidStaffMember",
    "today",
]

#: Roles that may read a school's record (each within its own scope).
READERS = (
    Role.trial_manager,
    Role.evaluator,
    Role.delivery,
    Role.auditor,
    Role.service,
    Role.virtual_school,
    Role.school,
)


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_storage(request: Request) -> ObjectStorage:
    return request.app.state.storage


def today() -> dt.date:
    """Today's date in UTC. Tests and rehearsals replace it with ``app.dependency_overrides``."""
    return dt.datetime.now(dt.UTC).date()


SettingsDep = Annotated[Settings, Depends(get_settings)]
StorageDep = Annotated[ObjectStorage, Depends(get_storage)]
Today = Annotated[dt.date, Depends(today)]


def _load_school(session: Session, urn: int, *, for_update: bool = False) -> School:
    # A change locks the row (PostgreSQL: SELECT ... FOR UPDATE) so that two concurrent changes
    # of one school are checked one after the other, never against the same stale status.
    school = session.get(School, urn, with_for_update=for_update or None)
    if school is None:
        raise SchoolNotFound(
            f"There is no school with URN {urn}; schools come from the GIAS import."
        )
    return school


def valid_school(
    urn: Annotated[int, Path(gt=0, description="the school's URN")],
    session: SessionDep,
    principal: CurrentPrincipal,
    request: Request,
) -> School:
    """The school, if it exists and the caller's scope covers it (403 otherwise)."""
    school = _load_school(session, urn, for_update=request.method not in ("GET", "HEAD"))
    ensure_school_scope(principal, school.urn, school.la_code)
    return school


ValidSchool = Annotated[School, Depends(valid_school)]


def valid_staff_member(
    staff_id: Annotated[int, Path(gt=0)], school: ValidSchool, session: SessionDep
) -> StaffMember:
    member = session.get(StaffMember, staff_id)
    if member is None or member.urn != school.urn:
        raise StaffMemberNotFound(f"School {school.urn} has no staff member {staff_id}.")
    return member


ValidStaffMember = Annotated[StaffMember, Depends(valid_staff_member)]


def valid_local_authority(
    la_code: Annotated[str, Path(min_length=1, max_length=10)],
    session: SessionDep,
    principal: CurrentPrincipal,
) -> LocalAuthority:
    """The registered LA; a Virtual School's token is refused (403) for any other LA first."""
    ensure_la_scope(principal, la_code)
    la = session.get(LocalAuthority, la_code)
    if la is None:
        raise LocalAuthorityNotFound(f"Local authority {la_code} has not registered.")
    return la


ValidLocalAuthority = Annotated[LocalAuthority, Depends(valid_local_authority)]
