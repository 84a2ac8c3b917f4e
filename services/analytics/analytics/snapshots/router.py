"""Snapshots: what each analysis ran on, and the stored inputs themselves (to reproduce it)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from analytics.deps import AnalysisIdPath, SessionDep, StorageDep
from analytics.report.artefacts import stream
from analytics.schemas import SnapshotPublic
from analytics.snapshots import service
from rlc_shared.policy import requires

router = APIRouter(prefix="/snapshots", tags=["snapshots"])


class GzipResponse(StreamingResponse):
    media_type = "application/gzip"


@router.get(
    "/{snapshot_id}", response_model=SnapshotPublic, dependencies=[requires("analysis.read")]
)
async def get_snapshot(snapshot_id: AnalysisIdPath, session: SessionDep) -> SnapshotPublic:
    """A snapshot's SHA-256 and, per input, whether it was present (and why not)."""
    return service.public(service.get_snapshot(session, snapshot_id=snapshot_id))


@router.get(
    "/{snapshot_id}/content",
    response_class=GzipResponse,
    dependencies=[requires("analysis.manage")],
    responses={200: {"content": {"application/gzip": {}}, "description": "the stored bytes"}},
)
def download_snapshot(
    snapshot_id: AnalysisIdPath, session: SessionDep, storage: StorageDep
) -> GzipResponse:
    """The stored snapshot (gzip of canonical JSON): its SHA-256 is the snapshot's."""
    snapshot = service.get_snapshot(session, snapshot_id=snapshot_id)
    return GzipResponse(
        stream(storage, snapshot.storage_key),
        headers={
            "Content-Disposition": f'attachment; filename="snapshot-{snapshot.id}.json.gz"',
            "X-RLC-Snapshot-SHA256": snapshot.sha256,
        },
    )
