"""The auditors' API: the log, its export, signed checkpoints, proofs and verification."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from sqlmodel import Session, col, select

from randomisation import signing
from randomisation.deps import LOG_READERS, EngineDep, SessionDep, SignerDep
from randomisation.log import service
from randomisation.models import LogEntry
from randomisation.schemas import (
    CheckpointPublic,
    ConsistencyProof,
    InclusionProof,
    LogEntryPublic,
    VerifyReport,
)
from rlc_shared.pagination import Page, PageDep, paginate

router = APIRouter(tags=["log"], dependencies=[LOG_READERS])
public_router = APIRouter(tags=["log"])
Size = Annotated[int | None, Query(ge=0, description="tree size (default: the whole log)")]


@router.get("/log", response_model=Page[LogEntryPublic])
def list_log(
    session: SessionDep,
    page: PageDep,
    type: Annotated[str | None, Query(max_length=60)] = None,
    run_id: Annotated[str | None, Query(max_length=40)] = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    test: bool | None = None,
):
    """Log entries in index order, filtered by type, run, time or test mode."""
    stmt = select(LogEntry)
    if type:
        stmt = stmt.where(LogEntry.entry_type == type)
    if run_id:
        stmt = stmt.where(LogEntry.run_id == run_id)
    if since:
        stmt = stmt.where(LogEntry.logged_at >= since)
    if until:
        stmt = stmt.where(LogEntry.logged_at < until)
    if test is not None:
        stmt = stmt.where(LogEntry.test == test)
    rows, count, cursor = paginate(session, stmt, key=col(LogEntry.entry_index), params=page)
    return Page(data=[service.parsed(r) for r in rows], count=count, next_cursor=cursor)


@router.get("/log/export", response_class=StreamingResponse)
def export_log(engine: EngineDep, tree_size: Size = None) -> StreamingResponse:
    """The log as JSON Lines: the exact canonical bytes of each entry, in index order."""
    with Session(engine) as session:
        size = service.tree_size(session)
        session.commit()
    if tree_size is not None:
        size = min(size, tree_size)

    def lines() -> Iterator[bytes]:
        after = -1
        while True:
            # A short session per batch: a long download must not hold a transaction open.
            with Session(engine) as session:
                rows = session.exec(
                    select(LogEntry.entry_index, LogEntry.canonical)
                    .where(LogEntry.entry_index > after, LogEntry.entry_index < size)
                    .order_by(col(LogEntry.entry_index))
                    .limit(service.BATCH)
                ).all()
                session.commit()
            if not rows:
                return
            yield b"".join(canonical.encode("utf-8") + b"\n" for _, canonical in rows)
            after = rows[-1][0]

    return StreamingResponse(
        lines(),
        media_type="application/jsonl",
        headers={
            "X-Tree-Size": str(size),
            "Content-Disposition": 'attachment; filename="randomisation-log.jsonl"',
        },
    )


@router.get("/log/checkpoint", response_model=CheckpointPublic)
def get_checkpoint(session: SessionDep, signer: SignerDep, tree_size: Size = None):
    """A signed checkpoint (RS256 JWS) of the log's Merkle root; key in /.well-known/jwks.json."""
    return service.checkpoint(session, signer=signer, size=tree_size)


@router.get("/log/proofs/inclusion", response_model=InclusionProof)
def inclusion_proof(
    session: SessionDep, index: Annotated[int, Query(ge=0)], tree_size: Size = None
):
    """RFC 6962 audit path of entry ``index`` in the tree of ``tree_size`` entries."""
    return service.inclusion(session, index=index, size=tree_size)


@router.get("/log/proofs/consistency", response_model=ConsistencyProof)
def consistency_proof(session: SessionDep, first: Annotated[int, Query(ge=0)], second: Size = None):
    """RFC 6962 consistency proof between tree sizes ``first`` and ``second``."""
    return service.consistency(session, first=first, second=second)


@router.get("/log/verify", response_model=VerifyReport)
def verify_log(session: SessionDep, signer: SignerDep):
    """Re-check the chain, the tree and every run's allocation; name what is wrong."""
    return service.verify(session, jwks=signing.jwks(session))


@public_router.get("/.well-known/jwks.json")
def jwks(engine: EngineDep, signer: SignerDep) -> dict:
    """The public keys that sign the log's checkpoints (no token needed)."""
    with Session(engine) as session:
        doc = signing.jwks(session)
        session.commit()
    return doc
