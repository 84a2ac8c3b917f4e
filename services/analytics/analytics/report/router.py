"""The report: JSON with everything, each table as CSV, the pictures as SVG and PNG.

Without ``?analysis=`` each serves the analysis that finished last; every download says which
analysis, plan version and snapshot it came from (``X-RLC-*`` headers, and columns of each table).
Plain ``def`` endpoints: they read object storage (docs/architecture.md, "Sync or async").
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse

from analytics.deps import SessionDep, StorageDep
from analytics.report import service
from analytics.schemas import Report
from rlc_shared.policy import requires

router = APIRouter(prefix="/report", tags=["report"])
READ = requires("analysis.read")

AnalysisQuery = Annotated[
    str | None,
    Query(
        min_length=32,
        max_length=32,
        pattern=r"^[0-9a-f]{32}$",
        description="an analysis id; default the one that finished last",
    ),
]
TableName = Literal[
    "consort",
    "balance",
    "impact",
    "teacher_impact",
    "cace",
    "costs",
    "school_costs",
    "response_rates",
    "dosage",
]
PictureName = Literal["consort", "forest", "response_rates", "attendance"]


class CsvResponse(StreamingResponse):
    media_type = "text/csv"


class SvgResponse(StreamingResponse):
    media_type = "image/svg+xml"


class PngResponse(StreamingResponse):
    media_type = "image/png"


def _doc(kind: str, media: str) -> dict[int | str, dict[str, object]]:
    return {200: {"content": {media: {}}, "description": kind}}


@router.get("", response_model=Report, dependencies=[READ])
def get_report(
    session: SessionDep, storage: StorageDep, analysis: AnalysisQuery = None
) -> Response:
    """The whole report, labelled with its snapshot and plan."""
    body = service.report_json(session, storage=storage, analysis_id=analysis)
    return Response(body, media_type="application/json")


@router.get(
    "/tables/{table}.csv",
    response_class=CsvResponse,
    dependencies=[READ],
    responses=_doc("the table as CSV", "text/csv"),
)
def get_table(
    table: TableName, session: SessionDep, storage: StorageDep, analysis: AnalysisQuery = None
) -> CsvResponse:
    """One table of the report as CSV (every row names the plan version and snapshot)."""
    download = service.table(session, storage=storage, analysis_id=analysis, name=table)
    return CsvResponse(download.chunks, media_type=download.media_type, headers=download.headers)


@router.get(
    "/pictures/{picture}.svg",
    response_class=SvgResponse,
    dependencies=[READ],
    responses=_doc("the picture as SVG", "image/svg+xml"),
)
def get_picture_svg(
    picture: PictureName,
    session: SessionDep,
    storage: StorageDep,
    analysis: AnalysisQuery = None,
) -> SvgResponse:
    """A picture of the report as SVG: the CONSORT diagram, forest plot, response or attendance."""
    download = service.picture(
        session, storage=storage, analysis_id=analysis, name=picture, kind="svg"
    )
    return SvgResponse(download.chunks, headers=download.headers)


@router.get(
    "/pictures/{picture}.png",
    response_class=PngResponse,
    dependencies=[READ],
    responses=_doc("the picture as PNG", "image/png"),
)
def get_picture_png(
    picture: PictureName,
    session: SessionDep,
    storage: StorageDep,
    analysis: AnalysisQuery = None,
) -> PngResponse:
    """A picture of the report as PNG."""
    download = service.picture(
        session, storage=storage, analysis_id=analysis, name=picture, kind="png"
    )
    return PngResponse(download.chunks, headers=download.headers)
