"""Reading an analysis's report, tables and pictures back from storage, labelled."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

from sqlmodel import Session, col, select

from analytics.errors import ArtefactNotFound, ReportNotReady
from analytics.models import Analysis, AnalysisStatus, Snapshot
from analytics.report import artefacts
from analytics.schemas import Report
from rlc_shared.storage import ObjectStorage

#: A picture is shown inline (an ``<img>``, a browser tab), but an SVG is a document that could
#: carry script: opened on its own it may fetch nothing and run nothing, only apply its own
#: inline styles (matplotlib's ``<style>``), sandboxed. ``nosniff`` is on every response already
#: (`rlc_shared.logging.RequestContextMiddleware`), so the browser never guesses another type.
PICTURE_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


@dataclass
class Download:
    chunks: Iterator[bytes]
    media_type: str
    headers: dict[str, str]


def finished(session: Session, *, analysis_id: str | None) -> Analysis:
    """The analysis named (it must be done), or the one that finished last."""
    if analysis_id is not None:
        analysis = session.get(Analysis, analysis_id)
        if analysis is None:
            raise ReportNotReady(f"There is no analysis {analysis_id}; see GET /analyses.")
        if analysis.status != AnalysisStatus.done:
            raise ReportNotReady(
                f"Analysis {analysis_id} is {analysis.status} ({analysis.stage}); its report "
                f"exists once it is done: see GET /analyses/{analysis_id}."
            )
        return analysis
    latest = session.exec(
        select(Analysis)
        .where(Analysis.status == AnalysisStatus.done)
        .order_by(col(Analysis.finished_at).desc(), col(Analysis.id).desc())
        .limit(1)
    ).first()
    if latest is None:
        raise ReportNotReady(
            "No analysis has finished yet: run one with POST /analyses and follow its status URL."
        )
    return latest


def _labels(session: Session, analysis: Analysis) -> dict[str, str]:
    snapshot = session.get(Snapshot, analysis.snapshot_id) if analysis.snapshot_id else None
    return {
        "X-RLC-Analysis": analysis.id,
        "X-RLC-Plan-Version": str(analysis.plan_version),
        "X-RLC-Snapshot-SHA256": snapshot.sha256 if snapshot is not None else "",
    }


class _Reports:
    """The last few reports as the API serves them. A finished analysis's report never changes,
    so each is read from storage and validated once, not on every request (a report is read far
    more often than one is made)."""

    def __init__(self, size: int = 8) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._served: OrderedDict[str, bytes] = OrderedDict()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            if key in self._served:
                self._served.move_to_end(key)
            return self._served.get(key)

    def put(self, key: str, body: bytes) -> None:
        with self._lock:
            self._served[key] = body
            while len(self._served) > self._size:
                self._served.popitem(last=False)


_REPORTS = _Reports()


def report_json(session: Session, *, storage: ObjectStorage, analysis_id: str | None) -> bytes:
    """The report as the API serves it (JSON of :class:`Report`)."""
    analysis = finished(session, analysis_id=analysis_id)
    stored = (analysis.artefacts or {}).get(artefacts.REPORT)
    if stored is None:
        raise ArtefactNotFound(f"Analysis {analysis.id} has no stored report.")
    key = f"{analysis.id}:{stored['key']}"
    served = _REPORTS.get(key)
    if served is None:
        with storage.open(stored["key"]) as body:
            served = Report.model_validate(json.loads(body.read())).model_dump_json().encode()
        _REPORTS.put(key, served)
    return served


def _download(
    session: Session,
    *,
    storage: ObjectStorage,
    analysis_id: str | None,
    name: str,
    missing: str,
    filename: str,
) -> Download:
    analysis = finished(session, analysis_id=analysis_id)
    stored = (analysis.artefacts or {}).get(name)
    if stored is None:
        raise ArtefactNotFound(missing.format(analysis=analysis.id, **_why(analysis, name)))
    headers = _labels(session, analysis) | {"Content-Disposition": f'inline; filename="{filename}"'}
    return Download(
        chunks=artefacts.stream(storage, stored["key"]),
        media_type=stored["content_type"],
        headers=headers,
    )


def _why(analysis: Analysis, name: str) -> dict[str, str]:
    not_drawn = (analysis.artefacts or {}).get("_not_drawn", {})
    picture = name.removeprefix("pictures/").rsplit(".", 1)[0]
    return {"why": not_drawn.get(picture, "it was not produced")}


def table(
    session: Session, *, storage: ObjectStorage, analysis_id: str | None, name: str
) -> Download:
    download = _download(
        session,
        storage=storage,
        analysis_id=analysis_id,
        name=artefacts.table_name(name),
        missing="Analysis {analysis} has no " + name + " table.",
        filename=f"{name}.csv",
    )
    download.headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return download


def picture(
    session: Session, *, storage: ObjectStorage, analysis_id: str | None, name: str, kind: str
) -> Download:
    download = _download(
        session,
        storage=storage,
        analysis_id=analysis_id,
        name=artefacts.picture_name(name, kind),
        missing="The " + name.replace("_", " ") + " picture of analysis {analysis} was not "
        "drawn: {why}.",
        filename=f"{name}.{kind}",
    )
    download.headers["Content-Security-Policy"] = PICTURE_CSP
    return download
