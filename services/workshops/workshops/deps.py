"""Annotated dependencies: settings, storage, the other services' clients, and validating loaders
that apply the policy.

``cohort_for("workshop.manage")`` loads the cohort in the path and lets the request through only
if one of the token's roles both allows the action and covers the cohort (its local authority, or
the token's own school when that school is enrolled in it); an object the token cannot even see
is answered exactly as a missing one. Endpoints that call
another service cannot use these loaders (they would hold a transaction open across the call):
their service functions look the object up in their first short transaction instead.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, Path, Request
from sqlmodel import Session, select

from rlc_clients import RecruitmentClient
from rlc_shared.auth import CurrentPrincipal, Principal
from rlc_shared.db import SessionDep, TransactionsDep
from rlc_shared.policy import Target, authorize, object_loader, require_action
from rlc_shared.storage import ObjectStorage
from rlc_shared.types import ID_MAX
from workshops.config import Settings
from workshops.errors import CohortNotFound, SessionNotFound
from workshops.models import Cohort, CohortSession, Enrolment
from workshops.upstream import AllocationCache

__all__ = [
    "AllocationsDep",
    "CohortId",
    "CurrentPrincipal",
    "RecruitmentDep",
    "SessionDep",
    "SessionId",
    "SettingsDep",
    "StorageDep",
    "TimezoneDep",
    "Today",
    "TransactionsDep",
    "cohort_for",
    "cohort_missing",
    "cohort_target",
    "session_for",
    "session_missing",
    "today",
]


def _id(what: str) -> Any:
    return Path(ge=1, le=ID_MAX, description=f"the {what}'s id", examples=[1])


CohortId = Annotated[int, _id("cohort")]
SessionId = Annotated[int, _id("session")]


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_storage(request: Request) -> ObjectStorage:
    return request.app.state.storage


async def get_recruitment(request: Request) -> RecruitmentClient:
    return request.app.state.recruitment


async def get_allocations(request: Request) -> AllocationCache:
    return request.app.state.allocations


async def get_timezone(request: Request) -> ZoneInfo:
    return ZoneInfo(request.app.state.settings.report_timezone)


async def today() -> dt.date:
    """Today's date in UTC. Tests replace it with ``app.dependency_overrides``."""
    return dt.datetime.now(dt.UTC).date()


SettingsDep = Annotated[Settings, Depends(get_settings)]
Today = Annotated[dt.date, Depends(today)]
StorageDep = Annotated[ObjectStorage, Depends(get_storage)]
RecruitmentDep = Annotated[RecruitmentClient, Depends(get_recruitment)]
AllocationsDep = Annotated[AllocationCache, Depends(get_allocations)]
TimezoneDep = Annotated[ZoneInfo, Depends(get_timezone)]


def cohort_missing(cohort_id: int) -> CohortNotFound:
    return CohortNotFound(f"There is no cohort {cohort_id}; GET /cohorts lists them.")


def session_missing(session_id: int) -> SessionNotFound:
    return SessionNotFound(
        f"There is no session {session_id}; GET /cohorts/{{id}}/sessions lists a cohort's."
    )


def cohort_for(action: str) -> Any:
    """The cohort in the path, if the token may take ``action`` on it."""

    def load(cohort_id: CohortId, session: SessionDep, principal: CurrentPrincipal) -> Cohort:
        require_action(principal, action)
        cohort = session.get(Cohort, cohort_id)
        if cohort is None:
            raise cohort_missing(cohort_id)
        authorize(
            principal,
            action,
            cohort_target(session, cohort=cohort, principal=principal),
            hidden=lambda: cohort_missing(cohort_id),
        )
        return cohort

    return object_loader(action, load, name="cohort_for")


def cohort_target(session: Session, *, cohort: Cohort, principal: Principal) -> Target:
    """What a cohort (or one of its sessions) is, for the policy: its local authority, and the
    token's own school when that school is enrolled in the cohort (a school sees its own
    cohort's sessions and its own attendance; a Virtual School its LA's cohorts)."""
    urn = None
    if principal.urn is not None:
        enrolled = session.exec(
            select(Enrolment.id).where(
                Enrolment.cohort_id == cohort.id, Enrolment.urn == principal.urn
            )
        ).first()
        urn = principal.urn if enrolled is not None else None
    return Target(la_code=cohort.la_code, urn=urn)


def session_for(action: str) -> Any:
    """The cohort session in the path, if the token may take ``action`` on it."""

    def load(
        session_id: SessionId, session: SessionDep, principal: CurrentPrincipal
    ) -> CohortSession:
        require_action(principal, action)
        found = session.get(CohortSession, session_id)
        cohort = session.get(Cohort, found.cohort_id) if found is not None else None
        if found is None or cohort is None:
            raise session_missing(session_id)
        authorize(
            principal,
            action,
            cohort_target(session, cohort=cohort, principal=principal),
            hidden=lambda: session_missing(session_id),
        )
        return found

    return object_loader(action, load, name="session_for")
