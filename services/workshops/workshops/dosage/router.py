"""Dosage per school under a named compliance rule version, and the rule's versions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query

from rlc_shared.auth import CurrentPrincipal
from rlc_shared.db import SessionDep
from rlc_shared.pagination import Page, PageDep
from rlc_shared.policy import requires
from rlc_shared.types import ID_MAX, UrnPath
from workshops.dosage import service
from workshops.schemas import DosagePublic, RuleCreate, RuleFreeze, RulePublic

router = APIRouter(tags=["dosage"])
READ, MANAGE = requires("workshop.read"), requires("evaluation.manage")
READ_ATTENDANCE = requires("workshop.read_attendance")
Version = Annotated[int, Path(ge=1, le=ID_MAX, description="the rule's version number")]
VersionQuery = Annotated[
    int | None,
    Query(ge=1, le=ID_MAX, description="a rule version (default: the latest frozen one)"),
]


@router.get("/dosage", response_model=Page[DosagePublic], dependencies=[READ_ATTENDANCE])
async def list_dosage(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    rule_version: VersionQuery = None,
    la_code: Annotated[str | None, Query(pattern=r"^\d{3}$")] = None,
    cohort_id: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None,
) -> Page[DosagePublic]:
    """Each enrolled school's dosage and complier flag under a named rule version, by URN."""
    return service.dosage_page(
        session,
        principal=principal,
        page=page,
        rule_version=rule_version,
        la_code=la_code,
        cohort_id=cohort_id,
    )


@router.get("/dosage/{urn}", response_model=DosagePublic, dependencies=[READ_ATTENDANCE])
async def get_dosage(
    urn: UrnPath,
    session: SessionDep,
    principal: CurrentPrincipal,
    rule_version: VersionQuery = None,
) -> DosagePublic:
    """One school's dosage: workshops and sessions attended, minutes, complier."""
    return service.dosage_of(session, principal=principal, urn=urn, rule_version=rule_version)


@router.get("/compliance-rules", response_model=Page[RulePublic], dependencies=[READ])
async def list_rules(session: SessionDep, page: PageDep) -> Page[RulePublic]:
    """Every version of the compliance rule, drafts and frozen."""
    return service.list_rules(session, page=page)


@router.post("/compliance-rules", status_code=201, response_model=RulePublic, dependencies=[MANAGE])
def create_rule(
    session: SessionDep,
    principal: CurrentPrincipal,
    body: Annotated[RuleCreate | None, Body()] = None,
) -> RulePublic:
    """A new draft version of the rule (the protocol's defaults for anything left out)."""
    return service.create_rule(session, data=body or RuleCreate(), actor=principal)


@router.get("/compliance-rules/{version}", response_model=RulePublic, dependencies=[READ])
async def get_rule(version: Version, session: SessionDep) -> RulePublic:
    """One version of the rule, with its canonical JSON and fingerprint."""
    return service.rule_by_version(session, version=version)


@router.put("/compliance-rules/{version}", response_model=RulePublic, dependencies=[MANAGE])
def update_rule(
    version: Version, body: RuleCreate, session: SessionDep, principal: CurrentPrincipal
) -> RulePublic:
    """Change a draft (a frozen version is refused: make a new one)."""
    return service.update_rule(session, version=version, data=body, actor=principal)


@router.post("/compliance-rules/{version}/freeze", response_model=RulePublic, dependencies=[MANAGE])
def freeze_rule(
    version: Version,
    session: SessionDep,
    principal: CurrentPrincipal,
    body: Annotated[RuleFreeze | None, Body()] = None,
) -> RulePublic:
    """Freeze a draft before the analysis: timestamped, audited, never changed again."""
    return service.freeze_rule(
        session, version=version, reason=(body or RuleFreeze()).reason, actor=principal
    )
