"""Schemes and runs: define, freeze, execute, abandon, notify."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query

from randomisation.deps import (
    IdPath,
    RecruitmentDep,
    SessionDep,
    SettingsDep,
    SignerDep,
    TransactionsDep,
    ValidRun,
    ValidScheme,
)
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
from rlc_shared.pagination import Page, PageDep
from rlc_shared.policy import requires

router = APIRouter(tags=["randomisation"])
MANAGE = requires("randomisation.manage")
READ = requires("randomisation.read")


@router.post("/schemes", status_code=201, response_model=SchemePublic, dependencies=[MANAGE])
def create_scheme(body: SchemeCreate, session: SessionDep, principal: CurrentPrincipal):
    """Define a randomisation scheme (arms, 1:1, stratification; live or test mode)."""
    return service.create_scheme(session, data=body, actor=principal)


@router.get("/schemes", response_model=Page[SchemePublic], dependencies=[READ])
async def list_schemes(session: SessionDep, page: PageDep):
    """Every randomisation scheme."""
    return service.list_schemes(session, page=page)


@router.get("/schemes/{scheme_id}", response_model=SchemePublic, dependencies=[READ])
async def get_scheme(scheme: ValidScheme):
    """One randomisation scheme."""
    return scheme


@router.post(
    "/schemes/{scheme_id}/runs", status_code=201, response_model=RunPublic, dependencies=[MANAGE]
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


@router.get("/runs", response_model=Page[RunPublic], dependencies=[READ])
async def list_runs(
    session: SessionDep,
    page: PageDep,
    scheme_id: Annotated[str | None, Query(max_length=40)] = None,
):
    """Runs, optionally of one scheme."""
    return service.list_runs(session, page=page, scheme_id=scheme_id)


@router.get("/runs/{run_id}", response_model=RunPublic, dependencies=[READ])
async def get_run(run_id: IdPath, session: SessionDep):
    """One run, with its notification counts."""
    return service.run_view(session, run_id=run_id)


@router.post("/runs/{run_id}/freeze", response_model=RunPublic, dependencies=[MANAGE])
def freeze_run(
    run_id: IdPath,
    transactions: TransactionsDep,
    principal: CurrentPrincipal,
    recruitment: RecruitmentDep,
    settings: SettingsDep,
):
    """Fetch the randomisable schools from recruitment, freeze and log the list."""
    return service.freeze_from_recruitment(
        transactions,
        recruitment=recruitment,
        run_id=run_id,
        actor=principal,
        page_size=settings.recruitment_page_size,
    )


@router.post("/runs/{run_id}/execute", response_model=RunPublic, dependencies=[MANAGE])
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


@router.post("/runs/{run_id}/abandon", response_model=RunPublic, dependencies=[MANAGE])
def abandon_run(
    run: ValidRun, body: ReasonRequest, session: SessionDep, principal: CurrentPrincipal
):
    """Abandon a draft or frozen run, with a reason (logged)."""
    run = service.abandon_run(session, run_id=run.id, reason=body.reason, actor=principal)
    return service.run_public(session, run=run)


@router.post("/runs/{run_id}/notify", response_model=DrainResult, dependencies=[MANAGE])
def notify_run(
    run_id: IdPath,
    transactions: TransactionsDep,
    recruitment: RecruitmentDep,
    signer: SignerDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
):
    """Deliver the run's pending notifications to recruitment now."""
    return outbox.notify_run(
        transactions,
        recruitment,
        signer=signer,
        run_id=run_id,
        actor=principal.sub,
        interval=settings.outbox_interval_seconds,
        max_backoff=settings.outbox_max_backoff_seconds,
    )
