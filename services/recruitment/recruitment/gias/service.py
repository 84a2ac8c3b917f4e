"""Importing the GIAS establishment extract and the URN,email register.

Crash safety: one file is one transaction. The importer never commits; the request's session (or
the benchmark's) commits once after the last batch, so a crash, a bad line that makes the rest of
the file unreadable, or a failed commit leaves the database exactly as it was, and the same file
can simply be uploaded again. Re-importing a file is idempotent anyway: rows compare equal and are
counted as unchanged.

Memory stays bounded: the file is parsed one line at a time, and only one batch of rows (and the
existing schools with those URNs) is held at once; rows are inserted, updated and audited with
one executemany statement per batch. Unchanged schools write nothing at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col
from sqlmodel import select as orm_select

from recruitment.auditing import audit
from recruitment.emails import (
    EmailRegisterFormatError,
    EmailRejection,
    parse_email_register,
)
from recruitment.errors import ImportNotFound, InvalidUpload
from recruitment.gias.parser import GiasFormatError, GiasRejection, GiasRow, iter_gias_rows
from recruitment.models import AuditEvent, GiasImport, School, SchoolEmail
from recruitment.schemas import ImportPublic
from recruitment.schools import service as school_service
from rlc_shared.audit import actor_fields, jsonable, utcnow
from rlc_shared.auth import Principal
from rlc_shared.db import on_rollback
from rlc_shared.errors import Conflict
from rlc_shared.pagination import Page, PageParams, paginate
from rlc_shared.storage import ObjectStorage

ESTABLISHMENTS, EMAILS = "establishments", "emails"

#: School column -> how to read it from a parsed GIAS row.
GIAS_COLUMNS: tuple[str, ...] = (
    "la_code",
    "la_name",
    "name",
    "establishment_type",
    "gias_status",
    "phase",
    "low_age",
    "high_age",
    "pupils",
    "percentage_fsm",
    "postcode",
    "open_date",
    "close_date",
    "town",
    "type_group",
)

_school = School.__table__  # type: ignore[attr-defined]
_audit = AuditEvent.__table__  # type: ignore[attr-defined]


def gias_values(row: GiasRow) -> dict[str, Any]:
    """A parsed row as the school's GIAS columns, typed as the database returns them."""
    return {
        "la_code": row.la_code,
        "la_name": row.la_name,
        "name": row.name,
        "establishment_type": row.establishment_type,
        "gias_status": row.status,
        "phase": row.phase,
        "low_age": row.low_age,
        "high_age": row.high_age,
        "pupils": row.pupils,
        "percentage_fsm": None if row.percentage_fsm is None else str(row.percentage_fsm),
        "postcode": row.postcode,
        "open_date": row.open_date,
        "close_date": row.close_date,
        "town": row.town,
        "type_group": row.type_group,
    }


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class _Report:
    def __init__(self, record: GiasImport, keep: int) -> None:
        self.record = record
        self.keep = keep
        self.rejections: list[dict[str, Any]] = []

    def reject(self, line: int, urn: str | None, reason: str) -> None:
        self.record.rejected += 1
        if len(self.rejections) < self.keep:
            self.rejections.append({"line": line, "urn": urn, "reason": reason})

    def accepted(
        self, items: Iterable[Any], rejection: type[GiasRejection] | type[EmailRejection]
    ) -> Iterator[Any]:
        """The good rows of a parsed file; rejections are counted (and kept) on the way."""
        for item in items:
            if isinstance(item, rejection):
                self.reject(item.line, item.urn, item.reason)
            else:
                yield item


def _start(
    session: Session,
    *,
    kind: str,
    file_name: str,
    sha256: str,
    size_bytes: int,
    storage_key: str | None,
    actor: Principal | str,
) -> GiasImport:
    record = GiasImport(
        kind=kind,
        file_name=file_name[:255],
        sha256=sha256,
        size_bytes=size_bytes,
        storage_key=storage_key,
        imported_by=actor_fields(actor)["actor"],
    )
    session.add(record)
    session.flush()  # its id marks the schools it touches
    return record


def _finish(session: Session, *, record: GiasImport, report: _Report, actor: Any) -> GiasImport:
    record.rejections = report.rejections
    session.add(record)
    audit(
        session,
        actor=actor,
        action=f"gias.{record.kind}_imported",
        entity_type="gias_import",
        entity_id=record.id,
        new={
            "file_name": record.file_name,
            "sha256": record.sha256,
            "inserted": record.inserted,
            "updated": record.updated,
            "unchanged": record.unchanged,
            "rejected": record.rejected,
        },
    )
    session.flush()
    return record


def import_establishments(
    session: Session,
    *,
    stream: BinaryIO,
    file_name: str,
    sha256: str,
    size_bytes: int,
    actor: Principal | str,
    storage_key: str | None = None,
    batch_size: int = 1000,
    keep_rejections: int = 200,
) -> GiasImport:
    """Upsert every school in a GIAS extract by URN and return the import record with counts.

    A file that is not a usable extract raises ``InvalidUpload`` before anything is written; damage
    found mid-file raises it too, and the caller's transaction rolls everything back.
    """
    try:
        rows = iter_gias_rows(stream)
    except GiasFormatError as exc:
        raise InvalidUpload(str(exc)) from None
    record = _start(
        session,
        kind=ESTABLISHMENTS,
        file_name=file_name,
        sha256=sha256,
        size_bytes=size_bytes,
        storage_key=storage_key,
        actor=actor,
    )
    report = _Report(record, keep_rejections)
    who = actor_fields(actor)

    try:
        for batch in _batches(report.accepted(rows, GiasRejection), batch_size):
            _upsert_batch(session, batch, record=record, who=who)
    except GiasFormatError as exc:
        raise InvalidUpload(str(exc)) from None
    except IntegrityError:
        # Two imports inserting the same new URNs at once: the later one loses and changes
        # nothing (its transaction is rolled back); re-uploading it is safe.
        raise Conflict(
            "Another GIAS import added the same schools at the same time; nothing from this "
            "file was imported. Upload it again.",
            code="concurrent-import",
        ) from None
    return _finish(session, record=record, report=report, actor=actor)


def _upsert_batch(
    session: Session, batch: list[GiasRow], *, record: GiasImport, who: dict[str, Any]
) -> None:
    columns = [_school.c[name] for name in GIAS_COLUMNS]
    existing = {
        r.urn: r._mapping
        for r in session.execute(
            select(_school.c.urn, *columns).where(_school.c.urn.in_([row.urn for row in batch]))
        )
    }
    now = utcnow()
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for row in batch:
        values = gias_values(row)
        old = existing.get(row.urn)
        if old is None:
            inserts.append(
                values
                | {
                    "urn": row.urn,
                    "gias_import_id": record.id,
                    "gias_updated_at": now,
                    "looked_after_flag": False,
                }
            )
            events.append(
                who
                | {
                    "at": now,
                    "action": "school.gias_created",
                    "entity_type": "school",
                    "entity_id": str(row.urn),
                    "reason": f"GIAS import {record.id}",
                    "old": None,
                    "new": jsonable(values),
                }
            )
            continue
        changed = [name for name in GIAS_COLUMNS if old[name] != values[name]]
        if not changed:
            record.unchanged += 1
            continue
        updates.append(
            values | {"b_urn": row.urn, "gias_import_id": record.id, "gias_updated_at": now}
        )
        events.append(
            who
            | {
                "at": now,
                "action": "school.gias_updated",
                "entity_type": "school",
                "entity_id": str(row.urn),
                "reason": f"GIAS import {record.id}",
                "old": jsonable({name: old[name] for name in changed}),
                "new": jsonable({name: values[name] for name in changed}),
            }
        )
    if inserts:
        session.execute(insert(_school), inserts)
        record.inserted += len(inserts)
    if updates:
        # No values(): an executemany UPDATE sets the columns named by the parameters' keys.
        stmt = update(_school).where(_school.c.urn == bindparam("b_urn"))
        session.connection().execute(stmt, updates)
        record.updated += len(updates)
    if events:
        session.execute(insert(_audit), events)


def import_emails(
    session: Session,
    *,
    stream: BinaryIO,
    file_name: str,
    sha256: str,
    size_bytes: int,
    actor: Principal | str,
    storage_key: str | None = None,
    batch_size: int = 1000,
    keep_rejections: int = 200,
) -> GiasImport:
    """Set schools' GIAS emails from a ``URN,email`` register; unknown URNs are rejected.

    ``inserted``: a school's first email; ``updated``: a new address (the old one goes to the
    school's email history); ``unchanged``: the same address again.
    """
    try:
        rows = parse_email_register(stream)
    except EmailRegisterFormatError as exc:
        raise InvalidUpload(str(exc)) from None
    record = _start(
        session,
        kind=EMAILS,
        file_name=file_name,
        sha256=sha256,
        size_bytes=size_bytes,
        storage_key=storage_key,
        actor=actor,
    )
    report = _Report(record, keep_rejections)

    source = f"import:{record.id}"
    try:
        for batch in _batches(report.accepted(rows, EmailRejection), batch_size):
            urns = [row.urn for row in batch]
            known = set(
                session.execute(select(_school.c.urn).where(_school.c.urn.in_(urns))).scalars()
            )
            current = {
                e.urn: e
                for e in session.exec(
                    orm_select(SchoolEmail).where(
                        col(SchoolEmail.urn).in_(urns), col(SchoolEmail.valid_to).is_(None)
                    )
                ).all()
            }
            now = utcnow()
            for row in batch:
                if row.urn not in known:
                    report.reject(
                        row.line,
                        str(row.urn),
                        f"URN {row.urn} is not a school in the register "
                        "(import the GIAS extract that lists it first)",
                    )
                    continue
                before = current.get(row.urn)
                changed = school_service.set_email(
                    session,
                    urn=row.urn,
                    email=row.email,
                    current=before,
                    source=source,
                    actor=actor,
                    reason=f"GIAS email import {record.id}",
                    now=now,
                )
                if not changed:
                    record.unchanged += 1
                elif before is None:
                    record.inserted += 1
                else:
                    record.updated += 1
            session.flush()
    except EmailRegisterFormatError as exc:
        raise InvalidUpload(str(exc)) from None
    return _finish(session, record=record, report=report, actor=actor)


# --- uploads -------------------------------------------------------------------------------------

CHUNK = 1024 * 1024
_IMPORTERS = {ESTABLISHMENTS: import_establishments, EMAILS: import_emails}
_HEADER_CHECKS = {ESTABLISHMENTS: iter_gias_rows, EMAILS: parse_email_register}


def _digest(stream: BinaryIO) -> tuple[str, int]:
    stream.seek(0)
    digest, size = hashlib.sha256(), 0
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    stream.seek(0)
    return digest.hexdigest(), size


def import_upload(
    session: Session,
    *,
    kind: str,
    stream: BinaryIO,
    file_name: str | None,
    storage: ObjectStorage,
    actor: Principal,
    batch_size: int,
    keep_rejections: int,
) -> GiasImport:
    """Import an uploaded extract or email register, keeping the file under its SHA-256.

    The header is checked before anything is kept. A copy stored by this upload is deleted again
    if the import or its commit fails; a copy an earlier import stored is kept whatever happens.
    """
    sha256, size = _digest(stream)
    if size == 0:
        raise InvalidUpload("The file is empty; upload the CSV file itself.")
    try:
        _HEADER_CHECKS[kind](stream)  # reads the header only
    except (GiasFormatError, EmailRegisterFormatError) as exc:
        raise InvalidUpload(str(exc)) from None
    key = f"gias/{kind}/{sha256}.csv"
    existed = storage.exists(key)
    stream.seek(0)
    stored = storage.put(key, stream, content_type="text/csv")
    if not existed:
        on_rollback(session, lambda: storage.delete(key))
    stream.seek(0)
    return _IMPORTERS[kind](
        session,
        stream=stream,
        # A file's name is what the client says: kept for people, without control characters.
        file_name="".join(c for c in (file_name or "upload.csv") if c.isprintable())[:255]
        or "upload.csv",
        sha256=sha256,
        size_bytes=size,
        storage_key=stored.key,
        actor=actor,
        batch_size=batch_size,
        keep_rejections=keep_rejections,
    )


def list_imports(session: Session, *, page: PageParams) -> Page[ImportPublic]:
    rows, count, cursor = paginate(session, orm_select(GiasImport), key=GiasImport.id, params=page)
    return Page(
        data=[ImportPublic.model_validate(r) for r in rows], count=count, next_cursor=cursor
    )


def get_import(session: Session, *, import_id: int) -> GiasImport:
    found = session.get(GiasImport, import_id)
    if found is None:
        raise ImportNotFound(f"There is no GIAS import {import_id}.")
    return found
