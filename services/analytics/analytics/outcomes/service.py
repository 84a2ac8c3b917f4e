"""Importing pupil outcomes: only under a frozen plan, every problem counted, nothing dropped.

The file is read and checked before anything else (an unreadable file costs no call to another
service); its URNs are then checked against recruitment's trial schools, fetched outside any
transaction; the raw upload and its normalised copy go to object storage, and the import's row
is written in one short transaction (the stored files are deleted again if it rolls back).
"""

from __future__ import annotations

import hashlib
import tempfile
import uuid
from typing import Any, BinaryIO

from sqlmodel import Session, col, select

from analytics.auditing import audit
from analytics.errors import (
    OutcomeFileType,
    OutcomeFileUnreadable,
    OutcomeImportNotFound,
    continuing,
)
from analytics.models import OutcomeImport
from analytics.outcomes import validation
from analytics.plans import service as plans_service
from analytics.records import SchoolRecord
from analytics.schemas import OutcomeImportPublic
from analytics.snapshots import sources
from analytics.upstreams import Upstreams
from rlc_shared.db import Transactions, on_rollback
from rlc_shared.errors import UpstreamError
from rlc_shared.pagination import Page, PageParams, paginate
from rlc_shared.storage import ObjectStorage

CONTENT_TYPES = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}


def public(row: OutcomeImport) -> OutcomeImportPublic:
    return OutcomeImportPublic.model_validate(
        {**row.model_dump(), "problems": row.problems.get("items", [])}
    )


def get_import(session: Session, *, import_id: int) -> OutcomeImport:
    row = session.get(OutcomeImport, import_id)
    if row is None:
        raise OutcomeImportNotFound(
            f"There is no outcome import {import_id}; see GET /outcomes/imports."
        )
    return row


def list_imports(session: Session, *, page: PageParams) -> Page[OutcomeImportPublic]:
    rows, count, cursor = paginate(
        session, select(OutcomeImport), key=col(OutcomeImport.id), params=page
    )
    return Page(data=[public(r) for r in rows], count=count, next_cursor=cursor)


def latest_import(session: Session, *, plan_version: int) -> OutcomeImport | None:
    return session.exec(
        select(OutcomeImport)
        .where(OutcomeImport.plan_version == plan_version)
        .order_by(col(OutcomeImport.id).desc())
        .limit(1)
    ).first()


def _sha256(stream: BinaryIO) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    stream.seek(0)
    while chunk := stream.read(1024 * 1024):
        digest.update(chunk)
        size += len(chunk)
    stream.seek(0)
    return digest.hexdigest(), size


def _parse(
    upload: BinaryIO, normalised: BinaryIO, *, chunk_rows: int, examples_kept: int
) -> validation.ParsedFile:
    head = upload.read(64 * 1024)
    upload.seek(0)
    try:
        validation.detect_format(head)
    except validation.OutcomeFileError as exc:
        # Not a table at all (a workbook, a PDF...): the wrong kind of file.
        if head:
            raise OutcomeFileType(str(exc)) from None
        raise OutcomeFileUnreadable(str(exc)) from None
    try:
        return validation.parse_file(
            upload, out=normalised, chunk_rows=chunk_rows, examples_kept=examples_kept
        )
    except validation.OutcomeFileError as exc:
        raise OutcomeFileUnreadable(str(exc)) from None


def _trial_schools(upstreams: Upstreams) -> dict[int, SchoolRecord]:
    try:
        schools = sources.trial_schools(upstreams)
    except UpstreamError as exc:
        reason = continuing(exc.detail, otherwise="the recruitment service failed saying nothing.")
        raise UpstreamError(
            f"The outcomes were not imported: their URNs must be checked against the trial's "
            f"schools and {reason}",
            status=exc.status,
            upstream="recruitment",
        ) from None
    return {int(s["urn"]): SchoolRecord.from_mapping(s) for s in schools}


def import_outcomes(
    transactions: Transactions,
    *,
    upstreams: Upstreams,
    storage: ObjectStorage,
    upload: BinaryIO,
    file_name: str,
    actor: Any,
    chunk_rows: int,
    examples_kept: int,
) -> OutcomeImportPublic:
    """Check, store and record a pupil outcomes file (CSV or Parquet) under the frozen plan."""
    with transactions() as session:
        plan = plans_service.frozen_plan(session, version=None, doing="importing pupil outcomes")
        plan_version = plan.version
    assert plan_version is not None
    with tempfile.TemporaryFile() as normalised:
        parsed = _parse(upload, normalised, chunk_rows=chunk_rows, examples_kept=examples_kept)
        schools = _trial_schools(upstreams)
        normalised.seek(0)
        frame = validation.read_normalised(normalised)
        excluded = validation.classify(
            frame, schools=schools, allocations=None, problems=parsed.problems
        )
        sha256, size = _sha256(upload)
        folder = f"outcomes/{uuid.uuid4().hex}"
        raw = storage.put(
            f"{folder}/raw.{parsed.format}", upload, content_type=CONTENT_TYPES[parsed.format]
        )
        normalised.seek(0)
        try:
            clean = storage.put(
                f"{folder}/normalised.parquet", normalised, content_type=CONTENT_TYPES["parquet"]
            )
        except BaseException:
            storage.delete(raw.key)
            raise
    with transactions() as session:
        on_rollback(session, lambda: storage.delete(raw.key))
        on_rollback(session, lambda: storage.delete(clean.key))
        row = OutcomeImport(
            plan_version=plan_version,
            file_name=file_name[:255],
            format=parsed.format,
            sha256=sha256,
            size_bytes=size,
            raw_key=raw.key,
            normalised_key=clean.key,
            normalised_sha256=clean.sha256,
            imported_by=actor.sub,
            rows=parsed.rows,
            usable_rows=int(excluded.isna().sum()),
            problems={"items": parsed.problems.as_list()},
            summary=parsed.summary,
        )
        session.add(row)
        session.flush()
        audit(
            session,
            actor=actor,
            action="outcomes.imported",
            entity_type="outcome_import",
            entity_id=row.id,
            new={
                "plan_version": plan_version,
                "sha256": sha256,
                "rows": row.rows,
                "usable_rows": row.usable_rows,
                "problems": {p["kind"]: p["count"] for p in parsed.problems.as_list()},
            },
        )
        return public(row)
