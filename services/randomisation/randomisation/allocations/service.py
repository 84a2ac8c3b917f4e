"""Who may see which allocation, and flagging an allocation made in error."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from randomisation.errors import AllocationNotFound, AlreadyInError
from randomisation.log import service as log_service
from randomisation.models import Allocation, AuditEvent
from randomisation.runs.service import namespace
from rlc_shared import audit
from rlc_shared.audit import utcnow
from rlc_shared.auth import Principal, Role
from rlc_shared.errors import Forbidden

#: Roles that see every (live) allocation.
WIDE = (Role.trial_manager, Role.evaluator, Role.delivery, Role.auditor, Role.service)
READERS = (*WIDE, Role.virtual_school, Role.school)


def check_test_access(principal: Principal, test: bool) -> None:
    if test and not principal.has(Role.trial_manager):
        raise Forbidden("Only trial managers see test-mode allocations.")


def scoped(statement: Any, principal: Principal) -> Any:
    """Restrict a query on Allocation to what the caller may see."""
    if principal.has(*WIDE):
        return statement
    if principal.has(Role.virtual_school) and principal.la_code:
        return statement.where(Allocation.la_code == principal.la_code)
    if principal.has(Role.school) and principal.urn is not None:
        return statement.where(Allocation.urn == principal.urn)
    raise Forbidden("Your token's scope does not cover any school.")


def list_statement(
    principal: Principal, *, test: bool, run_id: str | None, la_code: str | None
) -> Any:
    check_test_access(principal, test)
    stmt = select(Allocation).where(Allocation.namespace == namespace(test))
    if run_id:
        stmt = stmt.where(Allocation.run_id == run_id)
    if la_code:
        stmt = stmt.where(Allocation.la_code == la_code)
    return scoped(stmt, principal)


def get_visible(session: Session, *, principal: Principal, urn: int, test: bool) -> Allocation:
    """One school's allocation, if the caller may see it (a school: only its own)."""
    check_test_access(principal, test)
    if not principal.has(*WIDE, Role.virtual_school) and principal.urn != urn:
        # Refused before looking, so a school cannot learn whether another school is allocated.
        raise Forbidden("A school token sees only its own school's allocation.")
    allocation = session.exec(
        select(Allocation).where(Allocation.urn == urn, Allocation.namespace == namespace(test))
    ).first()
    if allocation is None:
        raise AllocationNotFound(f"School {urn} has no allocation (yet).")
    if not principal.has(*WIDE):
        if principal.has(Role.virtual_school) and principal.la_code == allocation.la_code:
            return allocation
        if principal.has(Role.school) and principal.urn == urn:
            return allocation
        raise Forbidden("This school belongs to another local authority than your token's.")
    return allocation


def mark_in_error(
    session: Session, *, urn: int, test: bool, reason: str, actor: Principal
) -> Allocation:
    """Flag an allocation as made in error; its arm is never changed or deleted."""
    log_service.lock_log(session)
    allocation = session.exec(
        select(Allocation)
        .where(Allocation.urn == urn, Allocation.namespace == namespace(test))
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if allocation is None:
        raise AllocationNotFound(f"School {urn} has no allocation to mark in error.")
    if allocation.in_error:
        raise AlreadyInError(f"The allocation of school {urn} is already marked in error.")
    log_service.append(
        session,
        entry_type="allocation.marked_in_error",
        actor=actor.sub,
        test=allocation.test,
        run_id=allocation.run_id,
        payload={
            "run_id": allocation.run_id,
            "urn": allocation.urn,
            "arm": allocation.arm,
            "reason": reason,
        },
    )
    allocation.in_error = True
    allocation.in_error_reason = reason
    allocation.in_error_at = utcnow()
    allocation.in_error_by = actor.sub
    session.add(allocation)
    audit.record(
        session,
        AuditEvent,
        actor=actor,
        action="allocation.marked_in_error",
        entity_type="allocation",
        entity_id=f"{allocation.run_id}:{urn}",
        old={"in_error": False},
        new={"in_error": True, "in_error_reason": reason},
        reason=reason,
    )
    return allocation


def order_key() -> Any:
    return col(Allocation.id)
