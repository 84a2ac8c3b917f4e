"""Annotated dependencies of the randomisation service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.engine import Engine
from sqlmodel import Session

from randomisation.clients import RecruitmentClient
from randomisation.config import Settings
from randomisation.models import Run, Scheme
from randomisation.runs import service as runs_service
from randomisation.signing import Signer, register_key
from rlc_shared.auth import Role, require_roles
from rlc_shared.db import SessionDep

__all__ = ["SessionDep"]


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_recruitment(request: Request) -> RecruitmentClient:
    return request.app.state.recruitment


def get_signer(request: Request) -> Signer:
    """The checkpoint signer, its public key registered (and logged) before first use."""
    app = request.app
    if not getattr(app.state, "key_registered", False):
        with Session(app.state.engine) as session:
            register_key(session, signer=app.state.signer)
            session.commit()
        app.state.key_registered = True
    return app.state.signer


def valid_scheme(session: SessionDep, scheme_id: str) -> Scheme:
    return runs_service.get_scheme(session, scheme_id=scheme_id)


def valid_run(session: SessionDep, run_id: str) -> Run:
    return runs_service.get_run(session, run_id=run_id)


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
RecruitmentDep = Annotated[RecruitmentClient, Depends(get_recruitment)]
SignerDep = Annotated[Signer, Depends(get_signer)]
ValidScheme = Annotated[Scheme, Depends(valid_scheme)]
ValidRun = Annotated[Run, Depends(valid_run)]

TRIAL_MANAGER = require_roles(Role.trial_manager)
RUN_READERS = require_roles(Role.trial_manager, Role.auditor, Role.evaluator)
LOG_READERS = require_roles(Role.trial_manager, Role.auditor)
