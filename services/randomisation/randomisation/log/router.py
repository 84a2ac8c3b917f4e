"""The auditors' API: the log, its export, signed checkpoints, proofs and verification."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from randomisation.deps import SessionDep, SignerDep, TransactionsDep
from randomisation.keys import service as keys_service
from randomisation.log import service
from randomisation.schemas import (
    CheckpointPublic,
    ConsistencyProof,
    InclusionProof,
    LogEntryPublic,
    VerifyReport,
)
from rlc_shared.pagination import Page, PageDep
from rlc_shared.policy import requires
from rlc_shared.types import ID_MAX, IsoDateTime

router = APIRouter(tags=["log"], dependencies=[requires("log.read")])
public_router = APIRouter(tags=["log"])
Size = Annotated[
    int | None, Query(ge=0, le=ID_MAX, description="tree size (default: the whole log)")
]


@router.get("/log", response_model=Page[LogEntryPublic])
async def list_log(
    session: SessionDep,
    page: PageDep,
    type: Annotated[str | None, Query(max_length=60)] = None,
    run_id: Annotated[str | None, Query(max_length=40)] = None,
    since: Annotated[IsoDateTime | None, Query(description="ISO 8601, e.g. 2021-10-01")] = None,
    until: Annotated[IsoDateTime | None, Query(description="ISO 8601, e.g. 2021-11-01")] = None,
    test: bool | None = None,
):
    """Log entries in index order, filtered by type, run, time or test mode."""
    return service.list_entries(
        session, page=page, entry_type=type, run_id=run_id, since=since, until=until, test=test
    )


@router.get("/log/export", response_class=StreamingResponse)
def export_log(transactions: TransactionsDep, tree_size: Size = None) -> StreamingResponse:
    """The log as JSON Lines: the exact canonical bytes of each entry, in index order."""
    size = service.export_size(transactions, tree_size=tree_size)
    return StreamingResponse(
        service.export_lines(transactions, size=size),
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
    session: SessionDep, index: Annotated[int, Query(ge=0, le=ID_MAX)], tree_size: Size = None
):
    """RFC 6962 audit path of entry ``index`` in the tree of ``tree_size`` entries."""
    return service.inclusion(session, index=index, size=tree_size)


@router.get("/log/proofs/consistency", response_model=ConsistencyProof)
def consistency_proof(
    session: SessionDep, first: Annotated[int, Query(ge=0, le=ID_MAX)], second: Size = None
):
    """RFC 6962 consistency proof between tree sizes ``first`` and ``second``."""
    return service.consistency(session, first=first, second=second)


@router.get("/log/verify", response_model=VerifyReport)
def verify_log(session: SessionDep):
    """Re-check the chain, the tree and every run's allocation; name what is wrong."""
    return service.verify(session, jwks=keys_service.jwks(session))


@public_router.get("/.well-known/jwks.json")
async def jwks(session: SessionDep, signer: SignerDep) -> dict:
    """The public keys that sign the log's checkpoints and allocation statements (no token)."""
    return keys_service.jwks(session)
