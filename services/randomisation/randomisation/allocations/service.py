"""Who may see which allocation, and flagging an allocation made in error."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from randomisation import verifier
from randomisation.auditing import audit
from randomisation.errors import AllocationNotFound, AlreadyInError, AmbiguousTestAllocation
from randomisation.log import service as log_service
from randomisation.models import Allocation, Run
from randomisation.schemas import AllocationPublic
from rlc_shared.audit import utcnow
from rlc_shared.auth import Principal
from rlc_shared.pagination import Page, PageParams, paginate
from rlc_shared.policy import Target, authorize, require_action, scope_filter, visibility


def check_test_access(principal: Principal, test: bool) -> None:
    if test:
        require_action(principal, "allocation.read_test")


def scoped(statement: Any, principal: Principal) -> Any:
    """Restrict a query on Allocation to what the caller may see (a school: itself; a Virtual
    School: its LA's; the trial team: everything)."""
    condition = scope_filter(
        visibility(principal, "allocation.read"),
        la_code=col(Allocation.la_code),
        urn=col(Allocation.urn),
    )
    return statement if condition is None else statement.where(condition)


#: Every test scheme's namespace starts so (``test:<scheme_id>``).
TEST_PREFIX = verifier.allocation_namespace(True, "")


def in_namespace(statement: Any, *, test: bool, scheme_id: str | None) -> Any:
    """Restrict a query on Allocation to live allocations, or to test ones (of one test scheme).

    Live allocations share one namespace whatever their scheme; each test scheme has its own
    (``test:<scheme_id>``). ``scheme_id`` narrows either to that scheme's runs.
    """
    if not test:
        statement = statement.where(Allocation.namespace == verifier.LIVE_NAMESPACE)
        if scheme_id is not None:
            runs = select(Run.id).where(Run.scheme_id == scheme_id)
            statement = statement.where(col(Allocation.run_id).in_(runs))
        return statement
    if scheme_id is not None:
        return statement.where(
            Allocation.namespace == verifier.allocation_namespace(True, scheme_id)
        )
    return statement.where(col(Allocation.namespace).startswith(TEST_PREFIX))


def list_allocations(
    session: Session,
    *,
    principal: Principal,
    page: PageParams,
    test: bool,
    run_id: str | None,
    la_code: str | None,
    scheme_id: str | None = None,
) -> Page[Allocation]:
    check_test_access(principal, test)
    stmt = in_namespace(select(Allocation), test=test, scheme_id=scheme_id)
    if run_id:
        stmt = stmt.where(Allocation.run_id == run_id)
    if la_code:
        stmt = stmt.where(Allocation.la_code == la_code)
    rows, count, cursor = paginate(
        session, scoped(stmt, principal), key=col(Allocation.id), params=page
    )
    return Page(data=rows, count=count, next_cursor=cursor)


def most_recent_first(statement: Any) -> Any:
    return statement.order_by(col(Allocation.allocated_at).desc(), col(Allocation.id).desc())


_ALLOCATION = Allocation.__table__  # type: ignore[attr-defined]
#: The hot read, prebuilt: a school's one live allocation (a built statement costs more than the
#: query, an ORM object more than the response validated from the row).
_LIVE_OF = (
    core_select(_ALLOCATION)
    .where(
        _ALLOCATION.c.urn == bindparam("urn"),
        _ALLOCATION.c.namespace == verifier.LIVE_NAMESPACE,
    )
    .limit(1)
)


def get_visible(
    session: Session,
    *,
    principal: Principal,
    urn: int,
    test: bool,
    scheme_id: str | None = None,
) -> AllocationPublic:
    """One school's allocation, if the caller may see it (a school: only its own).

    Live: the school's one live allocation. Test: its allocation in the test scheme
    ``scheme_id``, or without ``scheme_id`` its most recent test allocation (a school may be
    allocated once in each test scheme).
    """
    require_action(principal, "allocation.read")
    check_test_access(principal, test)
    allocation: Any
    if not test and scheme_id is None:
        allocation = session.execute(_LIVE_OF, {"urn": urn}).mappings().first()
    else:
        stmt = in_namespace(
            select(Allocation).where(Allocation.urn == urn), test=test, scheme_id=scheme_id
        )
        found = session.exec(most_recent_first(stmt).limit(1)).first()
        allocation = None if found is None else found.model_dump()

    def missing() -> AllocationNotFound:
        return AllocationNotFound(f"School {urn} has no allocation (yet).")

    if allocation is None:
        raise missing()
    # Another LA's or school's allocation is answered exactly as a missing one: 403 versus 404
    # must not tell whether a school the token cannot see has been allocated.
    authorize(
        principal,
        "allocation.read",
        Target(la_code=allocation["la_code"], urn=allocation["urn"]),
        hidden=missing,
    )
    return AllocationPublic.model_validate(dict(allocation))


def mark_in_error(
    session: Session,
    *,
    urn: int,
    test: bool,
    reason: str,
    actor: Principal,
    scheme_id: str | None = None,
) -> Allocation:
    """Flag an allocation as made in error; its arm is never changed or deleted.

    Test: the school's allocation in the test scheme ``scheme_id``; without it, its only test
    allocation. This is a write, so it never guesses: a school allocated in several test schemes
    needs ``scheme_id`` (409 ``ambiguous-test-allocation`` otherwise, naming the schemes).
    """
    log_service.lock_log(session)
    stmt = in_namespace(
        select(Allocation).where(Allocation.urn == urn), test=test, scheme_id=scheme_id
    )
    found = list(
        session.exec(
            most_recent_first(stmt)
            .limit(2 if test and scheme_id is None else 1)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all()
    )
    if not found:
        raise AllocationNotFound(f"School {urn} has no allocation to mark in error.")
    if len(found) > 1:
        schemes = sorted(
            session.exec(
                select(Run.scheme_id)
                .join(Allocation, col(Allocation.run_id) == Run.id)
                .where(Allocation.urn == urn, col(Allocation.namespace).startswith(TEST_PREFIX))
                .distinct()
            ).all()
        )
        raise AmbiguousTestAllocation(
            f"School {urn} is allocated in {len(schemes)} test schemes; "
            "say which with ?scheme_id=.",
            scheme_ids=schemes[:20],
        )
    allocation = found[0]
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
    audit(
        session,
        actor=actor,
        action="allocation.marked_in_error",
        entity_type="allocation",
        entity_id=f"{allocation.run_id}:{urn}",
        old={"in_error": False},
        new={"in_error": True, "in_error_reason": reason},
        reason=reason,
    )
    return allocation
