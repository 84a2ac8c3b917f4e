"""Schemes and runs: define, freeze, execute, abandon, notify."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query
from sqlmodel import Session, col, select

from randomisation.deps import (
    RUN_READERS,
    TRIAL_MANAGER,
    EngineDep,
    RecruitmentDep,
    SessionDep,
    SettingsDep,
    ValidRun,
    ValidScheme,
)
from randomisation.models import Run, RunStatus, Scheme
from randomisation.notifications import service as outbox
from randomisation.runs import service
from randomisation.schemas import (
    DrainResult,
    ExecuteRequest,
    ReasonRequest,
    RunCreate,
    RunPublic,
    SchemeCreate,
    SchemePublic,
)
from rlc_shared.auth import CurrentPrincipal
from rlc_shared.pagination import Page, PageDep, paginate

router = APIRouter(tags=["randomisation"])


@router.post("/schemes", status_code=201, response_model=SchemePublic, dependencies=[TRIAL_MANAGER])
def create_scheme(body: SchemeCreate, session: SessionDep, principal: CurrentPrincipal):
    """Define a randomisation scheme (arms, 1:1, stratification; live or test mode)."""
    return service.create_scheme(session, data=body, actor=principal)


@router.get("/schemes", response_model=Page[SchemePublic], dependencies=[RUN_READERS])
def list_schemes(session: SessionDep, page: PageDep):
    """Every randomisation scheme."""
    rows, count, cursor = paginate(session, select(Scheme), key=col(Scheme.id), params=page)
    return Page(data=rows, count=count, next_cursor=cursor)


@router.get("/schemes/{scheme_id}", response_model=SchemePublic, dependencies=[RUN_READERS])
def get_scheme(scheme: ValidScheme):
    """One randomisation scheme."""
    return scheme


@router.post(
    "/schemes/{scheme_id}/runs",
    status_code=201,
    response_model=RunPublic,
    dependencies=[TRIAL_MANAGER],
)
def create_run(
    scheme: ValidScheme,
    session: SessionDep,
    principal: CurrentPrincipal,
    body: Annotated[RunCreate | None, Body()] = None,
):
    """Create a draft run (a batch of schools) in the scheme."""
    run = service.create_run(
        session, scheme=scheme, label=(body or RunCreate()).label, actor=principal
    )
    return service.run_public(session, run=run)


@router.get("/runs", response_model=Page[RunPublic], dependencies=[RUN_READERS])
def list_runs(
    session: SessionDep,
    page: PageDep,
    scheme_id: Annotated[str | None, Query(max_length=40)] = None,
):
    """Runs, optionally of one scheme."""
    stmt = select(Run)
    if scheme_id:
        stmt = stmt.where(Run.scheme_id == scheme_id)
    rows, count, cursor = paginate(session, stmt, key=col(Run.id), params=page)
    return Page(
        data=[service.run_public(session, run=r) for r in rows], count=count, next_cursor=cursor
    )


@router.get("/runs/{run_id}", response_model=RunPublic, dependencies=[RUN_READERS])
def get_run(run: ValidRun, session: SessionDep):
    """One run, with its notification counts."""
    return service.run_public(session, run=run)


@router.post("/runs/{run_id}/freeze", response_model=RunPublic, dependencies=[TRIAL_MANAGER])
def freeze_run(
    run: ValidRun,
    session: SessionDep,
    principal: CurrentPrincipal,
    recruitment: RecruitmentDep,
    settings: SettingsDep,
):
    """Fetch the randomisable schools from recruitment, freeze and log the list."""
    service.require_status(run, RunStatus.draft, doing="frozen")
    items = recruitment.randomisable_schools(page_size=settings.recruitment_page_size)
    run = service.freeze_run(session, run_id=run.id, items=items, actor=principal)
    return service.run_public(session, run=run)


@router.post("/runs/{run_id}/execute", response_model=RunPublic, dependencies=[TRIAL_MANAGER])
def execute_run(
    run: ValidRun,
    session: SessionDep,
    principal: CurrentPrincipal,
    body: Annotated[ExecuteRequest | None, Body()] = None,
):
    """Draw the seed, allocate and log it: once, all or nothing."""
    witness = body.witness if body is not None else None
    run = service.execute_run(session, run_id=run.id, witness=witness, actor=principal)
    return service.run_public(session, run=run)


@router.post("/runs/{run_id}/abandon", response_model=RunPublic, dependencies=[TRIAL_MANAGER])
def abandon_run(
    run: ValidRun, body: ReasonRequest, session: SessionDep, principal: CurrentPrincipal
):
    """Abandon a draft or frozen run, with a reason (logged)."""
    run = service.abandon_run(session, run_id=run.id, reason=body.reason, actor=principal)
    return service.run_public(session, run=run)


@router.post("/runs/{run_id}/notify", response_model=DrainResult, dependencies=[TRIAL_MANAGER])
def notify_run(
    run_id: str,
    engine: EngineDep,
    recruitment: RecruitmentDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
):
    """Deliver the run's pending notifications to recruitment now."""
    # Own short sessions, not SessionDep: no transaction may stay open across the HTTP calls.
    with Session(engine) as session:
        run = service.get_run(session, run_id=run_id)
        service.require_status(run, RunStatus.executed, doing="notified")
        session.commit()
    counts = outbox.drain(
        engine,
        recruitment,
        actor=principal.sub,
        run_id=run_id,
        only_due=False,
        limit=100_000,
        interval=settings.outbox_interval_seconds,
        max_backoff=settings.outbox_max_backoff_seconds,
    )
    return DrainResult(**counts.__dict__)
