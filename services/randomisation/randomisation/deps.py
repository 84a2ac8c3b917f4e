"""Annotated dependencies of the randomisation service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.engine import Engine

from randomisation.config import Settings
from randomisation.models import Run, Scheme
from randomisation.runs import service as runs_service
from randomisation.signing import Signer
from rlc_clients.recruitment import RecruitmentClient
from rlc_shared.db import SessionDep, TransactionsDep
from rlc_shared.errors import ServiceUnavailable

__all__ = ["SessionDep", "TransactionsDep"]

#: Run and scheme ids are uuid4 hex strings.
IdPath = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")]


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_engine(request: Request) -> Engine:
    return request.app.state.engine


async def get_recruitment(request: Request) -> RecruitmentClient:
    return request.app.state.recruitment


async def get_signer(request: Request) -> Signer:
    """The signer, once its key is registered in the log (at start-up); 503 until then."""
    if not request.app.state.key_registration.done.is_set():
        raise ServiceUnavailable(
            "The signing key is not registered in the log yet (is the database migrated?); "
            "try again shortly."
        )
    return request.app.state.signer


# Plain ``def``: a write request's first query (BEGIN IMMEDIATE on SQLite) may wait for the
# writer lock, and must not wait on the event loop.
def valid_scheme(session: SessionDep, scheme_id: IdPath) -> Scheme:
    return runs_service.get_scheme(session, scheme_id=scheme_id)


def valid_run(session: SessionDep, run_id: IdPath) -> Run:
    return runs_service.get_run(session, run_id=run_id)


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
RecruitmentDep = Annotated[RecruitmentClient, Depends(get_recruitment)]
SignerDep = Annotated[Signer, Depends(get_signer)]
ValidScheme = Annotated[Scheme, Depends(valid_scheme)]
ValidRun = Annotated[Run, Depends(valid_run)]
