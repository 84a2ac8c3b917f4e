"""Schemes and runs: draft → frozen → executed (or abandoned). Plain functions; never commit."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, insert
from sqlalchemy import select as core_select
from sqlmodel import Session, col, func, select

from randomisation import verifier
from randomisation.auditing import audit
from randomisation.errors import (
    AlreadyAllocated,
    MissingStratumAttribute,
    NothingToRandomise,
    RunNotFound,
    RunStateConflict,
    SchemeNotFound,
)
from randomisation.log import service as log_service
from randomisation.models import (
    Allocation,
    LogEntry,
    Notification,
    NotificationStatus,
    Run,
    RunSchool,
    RunStatus,
    Scheme,
)
from randomisation.schemas import NotificationCounts, RunPublic, SchemeCreate, SchemePublic
from rlc_clients.recruitment import RecruitmentClient
from rlc_shared.audit import snapshot, utcnow
from rlc_shared.auth import Principal
from rlc_shared.db import Transactions
from rlc_shared.errors import UpstreamError
from rlc_shared.pagination import Page, PageParams, paginate

RUN_FIELDS = ["status", "school_count", "list_sha256", "abandon_reason"]


def namespace(owner: Run | Scheme) -> str:
    """The allocation namespace of a run or scheme: ``live``, or ``test:<scheme_id>``.

    A school is allocated at most once among all live runs, and at most once within each
    test-mode scheme, so every new test scheme can rehearse with the same schools.
    """
    scheme_id = owner.id if isinstance(owner, Scheme) else owner.scheme_id
    return verifier.allocation_namespace(owner.test, scheme_id)


# --- schemes ----------------------------------------------------------------------------------


def create_scheme(session: Session, *, data: SchemeCreate, actor: Principal) -> Scheme:
    scheme = Scheme(
        id=uuid.uuid4().hex,
        name=data.name,
        arms=data.arms,
        ratio=data.ratio,
        strata_attributes=data.strata_attributes,
        algorithm=data.algorithm,
        test=data.test,
        created_by=actor.sub,
    )
    session.add(scheme)
    log_service.append(
        session,
        entry_type="scheme.created",
        actor=actor.sub,
        test=scheme.test,
        payload={
            "scheme_id": scheme.id,
            "name": scheme.name,
            "arms": scheme.arms,
            "ratio": scheme.ratio,
            "strata_attributes": scheme.strata_attributes,
            "algorithm": scheme.algorithm,
        },
    )
    audit(
        session,
        actor=actor,
        action="scheme.created",
        entity_type="scheme",
        entity_id=scheme.id,
        new=snapshot(scheme),
    )
    return scheme


def get_scheme(session: Session, *, scheme_id: str) -> Scheme:
    scheme = session.get(Scheme, scheme_id)
    if scheme is None:
        raise SchemeNotFound(f"There is no randomisation scheme {scheme_id}.")
    return scheme


def list_schemes(session: Session, *, page: PageParams) -> Page[SchemePublic]:
    rows, count, cursor = paginate(session, select(Scheme), key=col(Scheme.id), params=page)
    return Page(
        data=[SchemePublic.model_validate(r, from_attributes=True) for r in rows],
        count=count,
        next_cursor=cursor,
    )


# --- runs -------------------------------------------------------------------------------------


def create_run(session: Session, *, scheme: Scheme, label: str, actor: Principal) -> Run:
    run = Run(
        id=uuid.uuid4().hex,
        scheme_id=scheme.id,
        label=label,
        test=scheme.test,
        created_by=actor.sub,
    )
    session.add(run)
    log_service.append(
        session,
        entry_type="run.created",
        actor=actor.sub,
        test=run.test,
        run_id=run.id,
        payload={"run_id": run.id, "scheme_id": scheme.id, "label": label},
    )
    audit(
        session,
        actor=actor,
        action="run.created",
        entity_type="run",
        entity_id=run.id,
        new=snapshot(run, ["scheme_id", "label", "test", "status"]),
    )
    return run


def get_run(session: Session, *, run_id: str, lock: bool = False) -> Run:
    """The run; with ``lock`` re-read under a row lock, after the log lock, for a state change."""
    if lock:
        log_service.lock_log(session)
    run = session.get(Run, run_id, with_for_update=lock, populate_existing=lock)
    if run is None:
        raise RunNotFound(f"There is no randomisation run {run_id}.")
    return run


def runs_public(session: Session, *, runs: Sequence[Run]) -> list[RunPublic]:
    """Runs with their notification counts, grouped once for the whole page."""
    counts: dict[str, NotificationCounts] = {r.id: NotificationCounts() for r in runs}
    if runs:
        rows = session.exec(
            select(Notification.run_id, Notification.status, func.count())
            .where(col(Notification.run_id).in_(list(counts)))
            .group_by(col(Notification.run_id), col(Notification.status))
        ).all()
        for run_id, status, count in rows:
            setattr(counts[run_id], status, count)
    return [RunPublic(**r.model_dump(), notifications=counts[r.id]) for r in runs]


def run_public(session: Session, *, run: Run) -> RunPublic:
    return runs_public(session, runs=[run])[0]


_RUN = Run.__table__  # type: ignore[attr-defined]
_NOTIFICATION = Notification.__table__  # type: ignore[attr-defined]


def _count_of(status: str) -> Any:
    return (
        core_select(func.count())
        .where(_NOTIFICATION.c.run_id == _RUN.c.id, _NOTIFICATION.c.status == status)
        .scalar_subquery()
        .label(f"notifications_{status}")
    )


_STATUSES = tuple(NotificationCounts.model_fields)
#: The run and its notification counts in one round trip (a subquery per status).
_RUN_VIEW = core_select(_RUN, *(_count_of(status) for status in _STATUSES)).where(
    _RUN.c.id == bindparam("run_id")
)


def run_view(session: Session, *, run_id: str) -> RunPublic:
    """One run with its notification counts: one prebuilt query (the hot read)."""
    row = session.execute(_RUN_VIEW, {"run_id": run_id}).mappings().first()
    if row is None:
        raise RunNotFound(f"There is no randomisation run {run_id}.")
    counts = NotificationCounts(**{s: row[f"notifications_{s}"] for s in _STATUSES})
    return RunPublic.model_validate({**row, "notifications": counts})


def list_runs(session: Session, *, page: PageParams, scheme_id: str | None) -> Page[RunPublic]:
    stmt = select(Run)
    if scheme_id:
        stmt = stmt.where(Run.scheme_id == scheme_id)
    rows, count, cursor = paginate(session, stmt, key=col(Run.id), params=page)
    return Page(data=runs_public(session, runs=rows), count=count, next_cursor=cursor)


def require_status(run: Run, *allowed: RunStatus, doing: str) -> None:
    if run.status not in allowed:
        raise RunStateConflict(
            f"Run {run.id} is {run.status}; it cannot be {doing}.",
            run_status=run.status,
        )


def _attribute_value(item: Mapping[str, Any], name: str) -> str:
    value = item.get(name)
    if value is None or isinstance(value, dict | list | float):
        raise MissingStratumAttribute(
            f"School {item.get('urn')!r} has no usable {name!r} to stratify by.",
            urn=item.get("urn"),
            attribute=name,
        )
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def stratum_of(item: Mapping[str, Any], attributes: Sequence[str]) -> str:
    """The stratum key: the attributes' values joined with ``|``."""
    return "|".join(_attribute_value(item, name) for name in attributes)


def allocated_urns(session: Session, *, urns: Sequence[int], run: Run) -> set[int]:
    """URNs already allocated in the run's namespace (live, or the run's own test scheme)."""
    found: set[int] = set()
    for start in range(0, len(urns), 500):
        chunk = list(urns[start : start + 500])
        found.update(
            session.exec(
                select(Allocation.urn).where(
                    Allocation.namespace == namespace(run), col(Allocation.urn).in_(chunk)
                )
            ).all()
        )
    return found


def pending_urns(session: Session, *, urns: Sequence[int], run: Run) -> set[int]:
    """URNs already in another frozen, not yet executed, run of the same namespace.

    Live: any other frozen live run. Test: only the other frozen runs of the same test scheme.
    """
    found: set[int] = set()
    for start in range(0, len(urns), 500):
        chunk = list(urns[start : start + 500])
        stmt = (
            select(RunSchool.urn)
            .join(Run, col(Run.id) == RunSchool.run_id)
            .where(
                Run.status == RunStatus.frozen,
                Run.test == run.test,
                Run.id != run.id,
                col(RunSchool.urn).in_(chunk),
            )
        )
        if run.test:
            stmt = stmt.where(Run.scheme_id == run.scheme_id)
        found.update(session.exec(stmt).all())
    return found


def freeze_from_recruitment(
    transactions: Transactions,
    *,
    recruitment: RecruitmentClient,
    run_id: str,
    actor: Principal,
    page_size: int,
) -> RunPublic:
    """Fetch recruitment's randomisable schools and freeze the run on them.

    No transaction is open while recruitment is asked (on SQLite that would hold the write lock
    for the whole HTTP call): the run's state is checked in one short transaction, the list is
    fetched, and the freeze re-checks everything under the log lock in another.
    """
    with transactions() as session:
        require_status(get_run(session, run_id=run_id), RunStatus.draft, doing="frozen")
    items = recruitment.randomisable_schools(page_size=page_size)
    with transactions() as session:
        run = freeze_run(session, run_id=run_id, items=items, actor=actor)
        return run_public(session, run=run)


def freeze_run(
    session: Session, *, run_id: str, items: Sequence[Mapping[str, Any]], actor: Principal
) -> Run:
    """Freeze the run on ``items`` (recruitment's randomisable schools) and log the list.

    Schools already allocated in this run's namespace (live, or this test scheme), or waiting
    in another frozen run of it, are excluded (and named in the entry); nothing is written if
    nothing is left.
    """
    run = get_run(session, run_id=run_id, lock=True)
    require_status(run, RunStatus.draft, doing="frozen")
    scheme = get_scheme(session, scheme_id=run.scheme_id)
    attributes = list(scheme.strata_attributes)

    by_urn: dict[int, Mapping[str, Any]] = {}
    for item in items:
        urn = item.get("urn")
        if not isinstance(urn, int) or isinstance(urn, bool):
            raise UpstreamError(f"Recruitment listed a school without an integer URN ({urn!r}).")
        if urn in by_urn:
            raise UpstreamError(f"Recruitment listed URN {urn} twice.")
        by_urn[urn] = item
    urns = sorted(by_urn)
    taken = allocated_urns(session, urns=urns, run=run)
    waiting = pending_urns(session, urns=urns, run=run)
    excluded = [
        {"urn": urn, "reason": "already allocated" if urn in taken else "in another frozen run"}
        for urn in urns
        if urn in taken or urn in waiting
    ]
    kept = [by_urn[urn] for urn in urns if urn not in taken and urn not in waiting]
    if not kept:
        raise NothingToRandomise(
            f"No school is left to randomise in run {run.id} "
            f"({len(urns)} listed by recruitment, {len(excluded)} excluded); nothing was frozen."
        )
    schools = [{"urn": item["urn"], "stratum": stratum_of(item, attributes)} for item in kept]
    payload = verifier.run_frozen_payload(run.id, attributes, schools)
    payload["scheme_id"] = scheme.id
    payload["excluded"] = excluded
    session.execute(
        insert(RunSchool),
        [
            {
                "run_id": run.id,
                "urn": school["urn"],
                "stratum": school["stratum"],
                "la_code": str(item["la_code"]) if item.get("la_code") is not None else None,
            }
            for item, school in zip(kept, schools, strict=True)
        ],
    )
    entry = log_service.append(
        session,
        entry_type="run.frozen",
        actor=actor.sub,
        test=run.test,
        run_id=run.id,
        payload=payload,
    )
    old = snapshot(run, RUN_FIELDS)
    run.status = RunStatus.frozen
    run.frozen_at = utcnow()
    run.frozen_entry_index = entry.entry_index
    run.school_count = len(schools)
    run.list_sha256 = payload["list_sha256"]
    session.add(run)
    audit(
        session,
        actor=actor,
        action="run.frozen",
        entity_type="run",
        entity_id=run.id,
        old=old,
        new=snapshot(run, RUN_FIELDS),
    )
    return run


def frozen_schools(session: Session, *, run: Run) -> list[dict[str, Any]]:
    """The frozen list exactly as logged: the allocation is derived from the log, not a copy."""
    entry = session.get(LogEntry, run.frozen_entry_index)
    if entry is None:
        raise RunStateConflict(f"Run {run.id} has no run.frozen entry in the log.")
    return list(json.loads(entry.canonical)["payload"]["schools"])


def execute_run(
    session: Session,
    *,
    run_id: str,
    witness: str | None,
    actor: Principal,
) -> Run:
    """Draw the seed, allocate, queue the notifications and log it all, in one transaction.

    There is deliberately no way to pass a seed in: it is always drawn here, after the freeze.
    """
    run = get_run(session, run_id=run_id, lock=True)
    require_status(run, RunStatus.frozen, doing="executed")
    schools = frozen_schools(session, run=run)
    taken = allocated_urns(session, urns=[s["urn"] for s in schools], run=run)
    if taken:
        raise AlreadyAllocated(
            f"{len(taken)} school(s) of run {run.id} were allocated elsewhere since the freeze "
            f"(first URN {min(taken)}); abandon this run and freeze a new one.",
            urns=sorted(taken)[:20],
        )
    # Drawn only now, after the freeze was logged: nobody could have steered the list.
    seed = secrets.token_bytes(verifier.SEED_BYTES)
    payload = verifier.run_executed_payload(run.id, schools, seed, witness)
    la_codes: dict[int, str | None] = dict(
        session.exec(
            select(RunSchool.urn, RunSchool.la_code).where(RunSchool.run_id == run.id)
        ).all()  # type: ignore[arg-type]
    )
    strata = {s["urn"]: s["stratum"] for s in schools}
    now = utcnow()
    space = namespace(run)
    # Bulk inserts (one executemany each): a 20,000-school run must not build 40,000 ORM objects.
    session.execute(
        insert(Allocation),
        [
            {
                "run_id": run.id,
                "urn": item["urn"],
                "arm": item["arm"],
                "stratum": strata[item["urn"]],
                "la_code": la_codes.get(item["urn"]),
                "namespace": space,
                "test": run.test,
                "allocated_at": now,
                "in_error": False,
            }
            for item in payload["allocations"]
        ],
    )
    session.execute(
        insert(Notification),
        [
            {
                "run_id": run.id,
                "urn": item["urn"],
                "arm": item["arm"],
                "test": run.test,
                "status": NotificationStatus.pending,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for item in payload["allocations"]
        ],
    )
    entry = log_service.append(
        session,
        entry_type="run.executed",
        actor=actor.sub,
        test=run.test,
        run_id=run.id,
        payload=payload,
    )
    old = snapshot(run, RUN_FIELDS)
    run.status = RunStatus.executed
    run.executed_at = now
    run.executed_entry_index = entry.entry_index
    session.add(run)
    audit(
        session,
        actor=actor,
        action="run.executed",
        entity_type="run",
        entity_id=run.id,
        old=old,
        new={**snapshot(run, RUN_FIELDS), "allocations": len(payload["allocations"])},
        reason=f"witness: {witness}" if witness is not None else None,
    )
    return run


def abandon_run(session: Session, *, run_id: str, reason: str, actor: Principal) -> Run:
    run = get_run(session, run_id=run_id, lock=True)
    require_status(run, RunStatus.draft, RunStatus.frozen, doing="abandoned")
    old = snapshot(run, RUN_FIELDS)
    log_service.append(
        session,
        entry_type="run.abandoned",
        actor=actor.sub,
        test=run.test,
        run_id=run.id,
        payload={"run_id": run.id, "previous_status": run.status, "reason": reason},
    )
    run.status = RunStatus.abandoned
    run.abandoned_at = utcnow()
    run.abandon_reason = reason
    session.add(run)
    audit(
        session,
        actor=actor,
        action="run.abandoned",
        entity_type="run",
        entity_id=run.id,
        old=old,
        new=snapshot(run, RUN_FIELDS),
        reason=reason,
    )
    return run
