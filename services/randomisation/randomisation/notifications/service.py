"""The outbox: telling recruitment each school is randomised, until it acknowledges.

The rows are written in the execution's transaction, so an allocation can never lose its
notification. Delivery happens outside any transaction (HTTP calls never hold the log lock), and
each outcome is recorded in its own short transaction: an acknowledgement or a refusal is logged
once, however many drainers raced to deliver it (recruitment is idempotent per run).

Each notice carries the allocation as a statement signed with the service's key, naming the
log's run.executed entry that holds it: recruitment records an arm only from such a statement, so
nobody else (not a trial manager, not another service) can set one.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from sqlmodel import Session, col, select

from randomisation import verifier
from randomisation.auditing import audit
from randomisation.log import service as log_service
from randomisation.models import (
    LogEntry,
    Notification,
    NotificationStatus,
    Run,
    RunStatus,
)
from randomisation.runs import service as runs_service
from randomisation.schemas import DrainResult
from randomisation.signing import Signer
from rlc_clients.recruitment import RecruitmentClient
from rlc_shared.audit import utcnow
from rlc_shared.db import Transactions
from rlc_shared.errors import ProblemError

log = logging.getLogger("randomisation.outbox")
WORKER_ACTOR = "randomisation-outbox"


#: The kind of statement recruitment accepts (its ``typ``).
STATEMENT_TYPE = "rlc.allocation"


@dataclass
class Delivery:
    id: int
    run_id: str
    urn: int
    arm: str
    test: bool
    attempts: int
    scheme_id: str = ""
    entry_index: int | None = None
    entry_hash: str | None = None

    def statement(self, signer: Signer) -> str:
        """The allocation, signed: what recruitment checks before it records the arm."""
        return signer.sign(
            {
                "typ": STATEMENT_TYPE,
                "urn": self.urn,
                "run_id": self.run_id,
                "arm": self.arm,
                "test": self.test,
                "namespace": verifier.allocation_namespace(self.test, self.scheme_id),
                "entry_index": self.entry_index,
                "entry_hash": self.entry_hash,
                "iat": int(time.time()),
            }
        )


@dataclass
class DrainCounts:
    attempted: int = 0
    acknowledged: int = 0
    refused: int = 0
    failed: int = 0


def due(
    session: Session, *, run_id: str | None, only_due: bool, now: dt.datetime, limit: int
) -> list[Delivery]:
    stmt = select(Notification).where(Notification.status == NotificationStatus.pending)
    if run_id is not None:
        stmt = stmt.where(Notification.run_id == run_id)
    if only_due:
        stmt = stmt.where(Notification.next_attempt_at <= now)
    rows = session.exec(stmt.order_by(col(Notification.id)).limit(limit)).all()
    # Where the log holds each run's allocations: one query for the runs of the whole batch.
    runs = {
        run_id: (scheme_id, index, entry_hash)
        for run_id, scheme_id, index, entry_hash in session.exec(
            select(Run.id, Run.scheme_id, LogEntry.entry_index, LogEntry.entry_hash)
            .join(LogEntry, col(LogEntry.entry_index) == Run.executed_entry_index)
            .where(col(Run.id).in_({r.run_id for r in rows}))
        ).all()
    }
    return [
        Delivery(
            r.id or 0,
            r.run_id,
            r.urn,
            r.arm,
            r.test,
            r.attempts,
            *runs.get(r.run_id, ("", None, None)),
        )
        for r in rows
    ]


def record_outcome(
    session: Session,
    *,
    delivery: Delivery,
    outcome: str,
    detail: str | None,
    actor: str,
    retry_after: dt.timedelta,
) -> bool:
    """Store one delivery's outcome; False if another drainer already settled it."""
    if outcome == "failed":
        row = session.get(Notification, delivery.id, populate_existing=True)
        if row is None or row.status != NotificationStatus.pending:
            return False
        row.attempts += 1
        row.last_error = (detail or "")[:2000]
        row.next_attempt_at = utcnow() + retry_after
        session.add(row)
        return True
    log_service.lock_log(session)
    row = session.get(Notification, delivery.id, with_for_update=True, populate_existing=True)
    if row is None or row.status != NotificationStatus.pending:
        return False
    row.attempts += 1
    row.completed_at = utcnow()
    payload = {"run_id": row.run_id, "urn": row.urn, "arm": row.arm}
    if outcome == "acknowledged":
        row.status = NotificationStatus.acknowledged
        entry_type = "notification.acknowledged"
    else:
        # The allocation stands: recruitment (e.g. the school withdrew) refused the news only.
        row.status = NotificationStatus.refused
        row.last_error = (detail or "")[:2000]
        payload["reason"] = detail or "refused"
        entry_type = "notification.refused"
    session.add(row)
    log_service.append(
        session,
        entry_type=entry_type,
        actor=actor,
        test=row.test,
        run_id=row.run_id,
        payload=payload,
    )
    audit(
        session,
        actor=actor,
        action=entry_type,
        entity_type="notification",
        entity_id=f"{row.run_id}:{row.urn}",
        old={"status": NotificationStatus.pending.value},
        new={"status": row.status},
        reason=detail,
    )
    return True


def backoff(attempts: int, *, interval: float, cap: float) -> dt.timedelta:
    return dt.timedelta(seconds=min(max(interval, 0.5) * 2 ** min(attempts, 16), cap))


def drain(
    transactions: Transactions,
    client: RecruitmentClient,
    *,
    signer: Signer,
    actor: str,
    run_id: str | None = None,
    only_due: bool = True,
    limit: int = 200,
    interval: float = 5.0,
    max_backoff: float = 300.0,
) -> DrainCounts:
    """Deliver pending notifications; each outcome is recorded in its own short transaction."""
    counts = DrainCounts()
    with transactions() as session:
        deliveries = due(session, run_id=run_id, only_due=only_due, now=utcnow(), limit=limit)
    for delivery in deliveries:
        counts.attempted += 1
        detail: str | None = None
        try:
            client.mark_randomised(
                delivery.urn,
                run_id=delivery.run_id,
                arm=delivery.arm,
                test=delivery.test,
                statement=delivery.statement(signer),
            )
            outcome = "acknowledged"
        except ProblemError as exc:
            detail = exc.detail
            outcome = "refused" if exc.status == 409 else "failed"
        except Exception as exc:  # noqa: BLE001 - any failure means "try again later"
            detail = f"{type(exc).__name__}: {exc}"
            outcome = "failed"
        retry_after = backoff(delivery.attempts, interval=interval, cap=max_backoff)
        with transactions() as session:
            settled = record_outcome(
                session,
                delivery=delivery,
                outcome=outcome,
                detail=detail,
                actor=actor,
                retry_after=retry_after,
            )
        if not settled:
            continue
        if outcome == "acknowledged":
            counts.acknowledged += 1
        elif outcome == "refused":
            counts.refused += 1
        else:
            counts.failed += 1
            log.warning("notification of URN %s failed: %s", delivery.urn, detail)
    return counts


def notify_run(
    transactions: Transactions,
    client: RecruitmentClient,
    *,
    signer: Signer,
    run_id: str,
    actor: str,
    interval: float,
    max_backoff: float,
) -> DrainResult:
    """Deliver an executed run's pending notifications now (no transaction across the calls)."""
    with transactions() as session:
        run = runs_service.get_run(session, run_id=run_id)
        runs_service.require_status(run, RunStatus.executed, doing="notified")
    counts = drain(
        transactions,
        client,
        signer=signer,
        actor=actor,
        run_id=run_id,
        only_due=False,
        limit=100_000,
        interval=interval,
        max_backoff=max_backoff,
    )
    return DrainResult(**counts.__dict__)
