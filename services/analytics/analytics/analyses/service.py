"""Analyses as jobs: requested (202), then run by the worker, which reports its progress.

A job is restartable: it is claimed in a short transaction (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so several workers share the queue), its snapshot is stored and recorded before the
analysis reads it, and its outputs are written under keys of its own before it is marked done.
A worker that dies mid-way leaves the job "running" with a heartbeat that stops; once that is
older than ``stale_after`` another worker takes the job over and starts again from the stored
snapshot (or takes the snapshot, if the first never recorded one). No transaction is open while
the other services are called or the models are fitted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from analytics.auditing import audit
from analytics.errors import AnalysisNotFound, OutcomeImportForOtherPlan
from analytics.models import (
    Analysis,
    AnalysisPlan,
    AnalysisStatus,
    OutcomeImport,
    Snapshot,
)
from analytics.outcomes import service as outcomes_service
from analytics.outcomes.validation import read_normalised
from analytics.plans import service as plans_service
from analytics.report import artefacts as artefacts_store
from analytics.report import compute
from analytics.schemas import AnalysisIn, AnalysisPublic
from analytics.snapshots import service as snapshots
from analytics.upstreams import Upstreams
from rlc_shared.audit import utcnow
from rlc_shared.db import Transactions
from rlc_shared.pagination import Page, PageParams, paginate
from rlc_shared.storage import ObjectStorage
from rlc_shared.worker import claimable

log = logging.getLogger("analytics.analyses")
WORKER_ACTOR = "analytics-worker"
ENTITY = "analysis"


def new_id() -> str:
    """32 hex digits: the time in milliseconds (12), then 80 random bits, so ids sort by age."""
    millis = int(utcnow().timestamp() * 1000)
    return f"{millis:012x}{uuid.uuid4().hex[:20]}"


def status_url(analysis_id: str) -> str:
    return f"/analyses/{analysis_id}"


def report_url(analysis_id: str) -> str:
    return f"/report?analysis={analysis_id}"


def public(session: Session, analysis: Analysis) -> AnalysisPublic:
    return public_page(session, [analysis])[0]


def public_page(session: Session, rows: list[Analysis]) -> list[AnalysisPublic]:
    """Analyses with their snapshot's SHA-256, looked up once for the whole page."""
    ids = [r.snapshot_id for r in rows if r.snapshot_id]
    hashes = (
        dict(
            session.exec(
                select(Snapshot.id, Snapshot.sha256).where(col(Snapshot.id).in_(ids))
            ).all()
        )
        if ids
        else {}
    )
    return [
        AnalysisPublic(
            **r.model_dump(exclude={"artefacts", "heartbeat_at"}),
            snapshot_sha256=hashes.get(r.snapshot_id) if r.snapshot_id else None,
            status_url=status_url(r.id),
            report_url=report_url(r.id) if r.status == AnalysisStatus.done else None,
        )
        for r in rows
    ]


def get_analysis(session: Session, *, analysis_id: str) -> Analysis:
    analysis = session.get(Analysis, analysis_id)
    if analysis is None:
        raise AnalysisNotFound(f"There is no analysis {analysis_id}; see GET /analyses.")
    return analysis


def list_analyses(session: Session, *, page: PageParams) -> Page[AnalysisPublic]:
    # Ids start with the time they were made (`new_id`): the id order is the request order.
    rows, count, cursor = paginate(session, select(Analysis), key=col(Analysis.id), params=page)
    return Page(data=public_page(session, rows), count=count, next_cursor=cursor)


def request_analysis(session: Session, *, data: AnalysisIn, actor: Any) -> Analysis:
    """Queue an analysis under a frozen plan, on the given (or the plan's latest) outcomes."""
    plan = plans_service.frozen_plan(
        session, version=data.plan_version, doing="running an analysis"
    )
    if data.outcome_import_id is not None:
        chosen: OutcomeImport | None = outcomes_service.get_import(
            session, import_id=data.outcome_import_id
        )
        assert chosen is not None
        if chosen.plan_version != plan.version:
            raise OutcomeImportForOtherPlan(
                f"Outcome import {chosen.id} was made under plan version {chosen.plan_version}, "
                f"not {plan.version}; import the outcomes again under this plan, or analyse "
                f"them under plan version {chosen.plan_version}."
            )
    else:
        assert plan.version is not None
        chosen = outcomes_service.latest_import(session, plan_version=plan.version)
    assert plan.version is not None
    analysis = Analysis(
        id=new_id(),
        plan_version=plan.version,
        outcome_import_id=chosen.id if chosen is not None else None,
        requested_by=actor.sub,
        reason=data.reason,
    )
    session.add(analysis)
    audit(
        session,
        actor=actor,
        action="analysis.requested",
        entity_type=ENTITY,
        entity_id=analysis.id,
        new={"plan_version": plan.version, "outcome_import_id": analysis.outcome_import_id},
        reason=data.reason,
    )
    return analysis


# --- the worker's side ------------------------------------------------------------------------


class Superseded(Exception):
    """Another worker took this job over (this one was thought dead): stop quietly."""


@dataclass(frozen=True)
class Claim:
    analysis_id: str
    attempt: int


def claim_next(
    session: Session, *, now: dt.datetime, stale_after: dt.timedelta, max_attempts: int
) -> Claim | None:
    """Claim the oldest queued job, or a running one whose worker stopped reporting."""
    stmt = (
        select(Analysis)
        .where(
            or_(
                col(Analysis.status) == AnalysisStatus.queued,
                and_(
                    col(Analysis.status) == AnalysisStatus.running,
                    col(Analysis.heartbeat_at) < now - stale_after,
                ),
            )
        )
        .order_by(col(Analysis.requested_at), col(Analysis.id))
        .limit(1)
    )
    job = session.exec(claimable(session, stmt)).first()
    if job is None:
        return None
    if job.attempts >= max_attempts:
        job.status = AnalysisStatus.failed
        job.finished_at = now
        job.error = (
            f"Stopped after {job.attempts} attempt(s) that did not finish; see the service's "
            "log for the first failure, then request the analysis again."
        )
        session.add(job)
        audit(
            session,
            actor=WORKER_ACTOR,
            action="analysis.failed",
            entity_type=ENTITY,
            entity_id=job.id,
            old={"status": AnalysisStatus.running.value},
            new={"status": job.status},
            reason=job.error,
        )
        return Claim(job.id, attempt=-1)
    previous = job.status
    job.status = AnalysisStatus.running
    job.attempts += 1
    job.started_at = now
    job.heartbeat_at = now
    job.stage = "starting" if previous == AnalysisStatus.queued else "restarting"
    job.progress = 0
    session.add(job)
    if previous == AnalysisStatus.running:
        audit(
            session,
            actor=WORKER_ACTOR,
            action="analysis.taken_over",
            entity_type=ENTITY,
            entity_id=job.id,
            new={"attempt": job.attempts},
            reason="the previous worker stopped reporting",
        )
    return Claim(job.id, attempt=job.attempts)


def _held(session: Session, claim: Claim) -> Analysis:
    job = session.get(Analysis, claim.analysis_id, populate_existing=True)
    if job is None or job.status != AnalysisStatus.running or job.attempts != claim.attempt:
        raise Superseded(claim.analysis_id)
    return job


def _progress(transactions: Transactions, claim: Claim) -> Callable[[str, int], None]:
    def report(stage: str, percent: int) -> None:
        with transactions() as session:
            job = _held(session, claim)
            job.stage = stage[:200]
            job.progress = max(0, min(percent, 99))
            job.heartbeat_at = utcnow()
            session.add(job)

    return report


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _outcomes(storage: ObjectStorage, doc: dict[str, Any]) -> Any:
    label = doc.get("outcome_import")
    if not label:
        return None
    with storage.open(label["normalised_key"]) as body:
        raw = body.read()
    if _sha256(raw) != label["normalised_sha256"]:
        raise RuntimeError(
            f"the stored outcomes of import {label['id']} do not match their SHA-256"
        )
    return read_normalised(io.BytesIO(raw))


def snapshot_for(
    transactions: Transactions,
    *,
    claim: Claim,
    upstreams: Upstreams,
    storage: ObjectStorage,
    progress: Callable[[str, int], None],
) -> tuple[dict[str, Any], Snapshot]:
    """The job's snapshot: the stored one if a previous attempt recorded it, else a new one."""
    with transactions() as session:
        job = _held(session, claim)
        existing = session.get(Snapshot, job.snapshot_id) if job.snapshot_id else None
        plan = session.get(AnalysisPlan, job.plan_version)
        outcome_import = (
            session.get(OutcomeImport, job.outcome_import_id) if job.outcome_import_id else None
        )
    if existing is not None:
        progress("reading the stored snapshot", 35)
        with storage.open(existing.storage_key) as body:
            raw = body.read()
        if _sha256(raw) != existing.sha256:
            raise RuntimeError(f"snapshot {existing.id} does not match its SHA-256")
        return snapshots.decode(raw), existing
    assert plan is not None
    inputs = snapshots.pull_inputs(
        upstreams, progress=progress, rule_version=plan.content.get("compliance_rule_version")
    )
    doc = snapshots.document(
        snapshot_id=new_id(), plan=plan, outcome_import=outcome_import, inputs=inputs
    )
    key, sha256, size = snapshots.store(storage, doc)
    progress("recording the snapshot", 35)
    with transactions() as session:
        job = _held(session, claim)
        snapshot = snapshots.record(
            session, doc=doc, key=key, sha256=sha256, size=size, actor=WORKER_ACTOR
        )
        job.snapshot_id = snapshot.id
        session.add(job)
    return doc, snapshot


def run_claimed(
    transactions: Transactions,
    *,
    claim: Claim,
    upstreams: Upstreams,
    storage: ObjectStorage,
    examples_kept: int = 10,
) -> None:
    """Run one claimed job to the end: snapshot, analysis, outputs, done."""
    progress = _progress(transactions, claim)
    progress("taking the snapshot", 2)
    doc, snapshot = snapshot_for(
        transactions, claim=claim, upstreams=upstreams, storage=storage, progress=progress
    )
    progress("reading pupil outcomes", 38)
    outcomes = _outcomes(storage, doc)
    label = {
        "id": snapshot.id,
        "sha256": snapshot.sha256,
        "taken_at": snapshot.taken_at.isoformat(),
        "url": f"/snapshots/{snapshot.id}",
    }
    bundle = compute.build(
        doc,
        outcomes,
        analysis_id=claim.analysis_id,
        snapshot=label,
        generated_at=utcnow().isoformat(),
        progress=progress,
        examples_kept=examples_kept,
    )
    progress("storing the report, tables and pictures", 95)
    stored = artefacts_store.store_all(storage, analysis_id=claim.analysis_id, bundle=bundle)
    report = bundle.report
    summary = {
        "missing_inputs": sorted({m["input"] for m in report["missing_inputs"]}),
        "warnings": len(report["warnings"]),
        "not_estimated": sum(
            e["status"] not in ("estimated", "not_planned")
            for section in ("impact", "teacher_impact", "cace")
            for e in report[section]
        ),
        "estimated": sum(
            e["status"] == "estimated"
            for section in ("impact", "teacher_impact", "cace")
            for e in report[section]
        ),
    }
    with transactions() as session:
        job = _held(session, claim)
        job.status = AnalysisStatus.done
        job.stage = "done"
        job.progress = 100
        job.finished_at = utcnow()
        job.artefacts = stored
        job.summary = summary
        session.add(job)
        audit(
            session,
            actor=WORKER_ACTOR,
            action="analysis.completed",
            entity_type=ENTITY,
            entity_id=job.id,
            old={"status": AnalysisStatus.running.value},
            new={"status": job.status, "snapshot_id": snapshot.id, "summary": summary},
        )


def fail(transactions: Transactions, *, claim: Claim, error: str) -> None:
    with transactions() as session:
        try:
            job = _held(session, claim)
        except Superseded:
            return
        job.status = AnalysisStatus.failed
        job.stage = "failed"
        job.finished_at = utcnow()
        job.error = error[:2000]
        session.add(job)
        audit(
            session,
            actor=WORKER_ACTOR,
            action="analysis.failed",
            entity_type=ENTITY,
            entity_id=job.id,
            old={"status": AnalysisStatus.running.value},
            new={"status": job.status},
            reason=job.error,
        )


def run_next(
    transactions: Transactions,
    *,
    upstreams: Upstreams,
    storage: ObjectStorage,
    stale_after: float,
    max_attempts: int,
    examples_kept: int = 10,
) -> bool:
    """Claim and run one job; False when there was none."""
    with transactions() as session:
        claim = claim_next(
            session,
            now=utcnow(),
            stale_after=dt.timedelta(seconds=stale_after),
            max_attempts=max_attempts,
        )
    if claim is None:
        return False
    if claim.attempt < 0:
        return True
    try:
        run_claimed(
            transactions,
            claim=claim,
            upstreams=upstreams,
            storage=storage,
            examples_kept=examples_kept,
        )
    except Superseded:
        log.info("analysis %s was taken over by another worker", claim.analysis_id)
    except Exception as exc:  # noqa: BLE001 - the job fails, with what happened; the worker goes on
        log.exception("analysis %s failed", claim.analysis_id)
        fail(transactions, claim=claim, error=f"The analysis stopped: {type(exc).__name__}: {exc}")
    return True
