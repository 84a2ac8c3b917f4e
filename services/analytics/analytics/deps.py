"""Annotated dependencies: settings, storage, the other services' clients, validating loaders.

As docs/architecture.md ("Sync or async") has it: what does no I/O is ``async``, as is the
loader of a read (one row by its key); the loader of a write is a plain ``def``.

Every action of this service is granted over everything (``all``) to the roles that hold it, so
the loaders only look up the object: the route's ``requires(...)`` has already answered 403 to a
token none of whose roles grants the action.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from analytics.config import Settings
from analytics.models import AnalysisPlan
from analytics.plans import service as plans_service
from analytics.upstreams import Upstreams
from rlc_shared.auth import CurrentPrincipal
from rlc_shared.db import SessionDep, TransactionsDep
from rlc_shared.storage import ObjectStorage
from rlc_shared.types import ID_MAX

__all__ = [
    "AnalysisIdPath",
    "CurrentPrincipal",
    "EditablePlan",
    "PlanVersionPath",
    "SessionDep",
    "SettingsDep",
    "StorageDep",
    "TransactionsDep",
    "UpstreamsDep",
    "ValidPlan",
]

PlanVersionPath = Annotated[
    int, Path(ge=1, le=ID_MAX, description="the plan's version", examples=[1])
]
#: Analysis and snapshot ids are uuid4 hex strings.
AnalysisIdPath = Annotated[
    str, Path(min_length=32, max_length=32, pattern=r"^[0-9a-f]{32}$", description="the id")
]


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_storage(request: Request) -> ObjectStorage:
    return request.app.state.storage


async def get_upstreams(request: Request) -> Upstreams:
    return request.app.state.upstreams


SettingsDep = Annotated[Settings, Depends(get_settings)]
StorageDep = Annotated[ObjectStorage, Depends(get_storage)]
UpstreamsDep = Annotated[Upstreams, Depends(get_upstreams)]


async def valid_plan(version: PlanVersionPath, session: SessionDep) -> AnalysisPlan:
    """The plan, for a read: one row by its key, looked up on the event loop."""
    return plans_service.get_plan(session, version=version)


def editable_plan(version: PlanVersionPath, session: SessionDep) -> AnalysisPlan:
    """The plan, locked (PostgreSQL: SELECT ... FOR UPDATE) so two changes run one at a time;
    a plain ``def``: waiting for the lock must not hold up the event loop."""
    return plans_service.get_plan(session, version=version, lock=True)


ValidPlan = Annotated[AnalysisPlan, Depends(valid_plan)]
EditablePlan = Annotated[AnalysisPlan, Depends(editable_plan)]
