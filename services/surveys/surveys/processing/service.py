"""Parsing a stored export: claim it, read it in chunks, link, score, upsert, mark it done.

One export at a time per worker; several workers (threads or processes) share the queue:

1. **Claim** (one short transaction): the oldest export that is ``received`` (and due), or
   ``parsing`` with a heartbeat older than ``stale_after`` (its worker died), whose round has a
   codebook. PostgreSQL locks it ``FOR UPDATE SKIP LOCKED``; SQLite serialises the claim with
   ``BEGIN IMMEDIATE``. It becomes ``parsing`` under this worker's id, with the round's current
   codebook version, which is frozen from then on.
2. **Check** the whole file first where damage can stop it part-way (SPSS and JSON; a CSV
   whose double quotes do not pair up), so a file cut short fails before any response is
   written. Excel's damage shows when the workbook is opened (see ``_needs_check``).
3. **Each chunk** (``chunk_rows`` responses): score it (vectorised), link its school emails with
   one bulk call to the recruitment service for the addresses not seen before in this export,
   look up the respondents' staff records (withdrawals) the same way, then write it in ONE
   short transaction: upsert responses by (round, response id), the unmatched queue, the staff
   records the kept teachers' emails matched (for the later withdrawal check,
   ``surveys.teachers.check``), the counters and ``progress_row``, and the heartbeat, after
   checking the claim is still ours. No transaction is open during the HTTP calls.
4. **Done**: the counts are taken from the stored responses and the export is marked done.

A worker killed at any point leaves the export ``parsing`` with its last committed chunk; the
next claim resumes after ``progress_row``, and the upserts make a repeated chunk harmless, so the
export completes exactly once. A corrupt file or missing column fails the export (the raw file is
kept); a service that cannot be reached puts it back with a retry time (its progress kept).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import numpy as np
import pandas as pd
from sqlalchemy import Table, and_, delete, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from rlc_shared.audit import utcnow
from rlc_shared.db import transaction
from rlc_shared.emails import InvalidEmail
from rlc_shared.errors import ProblemError, UpstreamError
from rlc_shared.storage import ObjectStorage
from rlc_shared.worker import claimable
from surveys.auditing import WORKER_ACTOR, audit
from surveys.formats import (
    ExportFormat,
    ExportFormatError,
    MissingColumns,
    RowError,
    detect_format,
    read_export,
)
from surveys.formats.base import read_head
from surveys.models import (
    CodebookVersion,
    Export,
    ExportStatus,
    LinkKind,
    ManualLink,
    SurveyResponse,
    SurveyRound,
    TeacherStaff,
    TeacherWithdrawal,
    UnmatchedResponse,
    UnmatchedStatus,
)
from surveys.processing.linking import Link, Linker, SchoolDirectory
from surveys.processing.state import reset_counts
from surveys.pseudonyms import Pseudonymiser, email_key
from surveys.scoring import SCALE_NAMES, Codebook, CodebookColumns, score_frame
from surveys.scoring.packing import pack
from surveys.teachers.staff import WITHDRAWN_FROM, withdrawn
from surveys.text import clean

__all__ = ["Claim", "Processor", "WITHDRAWN_FROM", "worker_identity"]

log = logging.getLogger("surveys.worker")

#: Preflight and skipped chunks refresh the heartbeat at most this often.
_TOUCH_EVERY = 5.0
_MAX_ID = 200
_MAX_ROLE = 200


class Directory(SchoolDirectory, Protocol):
    def staff_by_emails(self, emails: Sequence[str]) -> list[dict[str, Any]]: ...


class LostClaim(Exception):
    """Another worker (or a re-score request) took the export over: stop without writing."""


class Stopping(Exception):
    """The process is shutting down: put the export back for another worker."""


def worker_identity() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Claim:
    export_id: int
    round: str
    storage_key: str
    file_name: str
    declared_format: str | None
    codebook: Codebook
    codebook_version_id: int
    resume_after: int  # the last row already written (0: from the start)


@dataclass
class ChunkResult:
    """What one chunk adds to the export's counters."""

    rows: int = 0
    withdrawn: int = 0
    rejected: int = 0
    linked: dict[str, int] = field(default_factory=dict)
    unmatched: int = 0
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    last_row: int = 0


def _problem(error: RowError) -> dict[str, Any]:
    return {
        "row": error.row,
        "column": error.column,
        "problem": error.problem,
        "rejected": error.rejected,
    }


def _text_id(value: Any) -> str | None:
    """A response id as text: numbers from SPSS or Excel lose a trailing ``.0``; control
    characters (which no database text can hold, NUL above all) are removed."""
    if value is None:
        return None
    if isinstance(value, float):
        if np.isnan(value):
            return None
        if value.is_integer():
            return str(int(value))
    text = clean(str(value)).strip()
    return text or None


def _role(value: Any) -> str | None:
    text = _text_id(value)
    return text[:_MAX_ROLE] if text else None


@dataclass(frozen=True)
class StaffFound:
    """What recruitment's staff records say about one respondent email: withdrawn, and the
    records it matched as (hashed id, school)."""

    withdrawn: bool
    records: tuple[tuple[str, int], ...] = ()


def _insert(session: Session, model: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


class Processor:
    """The parsing worker's steps, on an engine (see the module's docstring)."""

    def __init__(
        self,
        *,
        engine: Engine,
        storage: ObjectStorage,
        directory: Directory,
        pseudonymiser: Pseudonymiser,
        worker_id: str | None = None,
        chunk_rows: int = 5000,
        stale_after: float = 120.0,
        max_attempts: int = 10,
        interval: float = 2.0,
        max_backoff: float = 300.0,
        errors_kept: int = 200,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.engine = engine
        self.storage = storage
        self.directory = directory
        self.pseudonymiser = pseudonymiser
        self.worker_id = (worker_id or worker_identity())[:100]
        self.chunk_rows = chunk_rows
        self.stale_after = stale_after
        self.max_attempts = max_attempts
        self.interval = interval
        self.max_backoff = max_backoff
        self.errors_kept = errors_kept
        self.should_stop = should_stop
        self._touched = 0.0

    # -- the worker's step ---------------------------------------------------------------------

    def step(self) -> bool:
        """Parse the next claimable export; False when there is none."""
        claim = self.claim()
        if claim is None:
            return False
        if isinstance(claim, Claim):
            self.process(claim)
        return True

    # -- 1. claim ------------------------------------------------------------------------------

    def _claimable(self, now: dt.datetime) -> Any:
        stale = now - dt.timedelta(seconds=self.stale_after)
        ready_rounds = select(SurveyRound.name)
        return and_(
            col(Export.round).in_(ready_rounds),
            or_(
                and_(
                    col(Export.status) == ExportStatus.received,
                    or_(col(Export.retry_at).is_(None), col(Export.retry_at) <= now),
                ),
                and_(
                    col(Export.status) == ExportStatus.parsing,
                    or_(col(Export.heartbeat_at).is_(None), col(Export.heartbeat_at) < stale),
                ),
            ),
        )

    def claim(self) -> Claim | bool | None:
        """Claim the next export: a Claim, True when one was settled at once (failed: its
        survey id is not the round's, or it failed too often), None when there is none."""
        now = utcnow()
        with transaction(self.engine) as session:
            stmt = select(Export).where(self._claimable(now)).order_by(col(Export.id)).limit(1)
            export = session.exec(claimable(session, stmt)).first()
            if export is None:
                return None
            rnd = session.get(SurveyRound, export.round)
            assert rnd is not None
            version = session.exec(
                select(CodebookVersion)
                .where(
                    CodebookVersion.round == rnd.name,
                    CodebookVersion.version == rnd.codebook_version,
                )
                .with_for_update()  # a PUT changing it in place waits, then sees it frozen
            ).one()
            previous = export.status
            if export.survey_id and export.survey_id != rnd.survey_id:
                self._mark_failed(
                    session,
                    export,
                    [
                        {
                            "problem": f"The export is of survey {export.survey_id!r}, but round "
                            f"{rnd.name!r} is survey {rnd.survey_id!r}. Correct the round "
                            f"(PUT /rounds/{rnd.name}) and re-score it, or send the export for "
                            "the right round."
                        }
                    ],
                )
                return True
            if export.attempts >= self.max_attempts:
                self._mark_failed(
                    session,
                    export,
                    [
                        {
                            "problem": f"Parsing did not complete in {export.attempts} attempts "
                            f"(last: {export.last_error or 'the worker stopped'})."
                        }
                    ],
                )
                return True
            if export.codebook_version_id != version.id:
                reset_counts(export)
                export.codebook_version_id = version.id
            if version.frozen_at is None:
                version.frozen_at = now
                session.add(version)
                audit(
                    session,
                    actor=WORKER_ACTOR,
                    action="codebook.frozen",
                    entity_type="round",
                    entity_id=rnd.name,
                    new={"codebook_version": version.version, "export_id": export.id},
                )
            export.status = ExportStatus.parsing
            export.claimed_by = self.worker_id
            export.heartbeat_at = now
            export.retry_at = None
            export.attempts += 1
            export.started_at = export.started_at or now
            session.add(export)
            audit(
                session,
                actor=WORKER_ACTOR,
                action="export.claimed",
                entity_type="export",
                entity_id=export.id,
                old={"status": previous},
                new={
                    "status": ExportStatus.parsing,
                    "attempt": export.attempts,
                    "resume_after_row": export.progress_row,
                    "codebook_version": version.version,
                    "worker": self.worker_id,
                },
                diff=False,
            )
            assert export.id is not None and version.id is not None
            return Claim(
                export_id=export.id,
                round=export.round,
                storage_key=export.storage_key,
                file_name=export.file_name,
                declared_format=export.declared_format,
                codebook=Codebook.model_validate(version.codebook),
                codebook_version_id=version.id,
                resume_after=export.progress_row,
            )

    # -- 2-4. process --------------------------------------------------------------------------

    def process(self, claim: Claim) -> None:
        try:
            _, warnings = self._parse(claim)
        except LostClaim:
            log.info("export %s was taken over; this worker stopped parsing it", claim.export_id)
        except Stopping:
            self._release(claim, error=None, backoff=False)
        except ExportFormatError as exc:
            self._fail(claim, exc)
        except UpstreamError as exc:
            log.warning("export %s: %s; retrying later", claim.export_id, exc.detail)
            self._release(claim, error=exc.detail, backoff=True)
        except Exception as exc:  # noqa: BLE001 - a failed attempt is retried, then failed
            if isinstance(exc, ProblemError) and exc.status == 404:
                self._fail(claim, ExportFormatError(f"The stored raw export is missing: {exc}"))
                return
            log.exception("export %s: parsing failed; retrying later", claim.export_id)
            self._release(claim, error=f"an internal error ({type(exc).__name__})", backoff=True)
        else:
            self._finish(claim, warnings)

    def _open(self, claim: Claim) -> Any:
        return contextlib.closing(self.storage.open(claim.storage_key))

    def _parse(self, claim: Claim) -> tuple[ExportFormat, list[str]]:
        codebook = claim.codebook
        warnings: list[str] = []
        with self._open(claim) as raw:
            head, _ = read_head(raw)
        fmt = detect_format(head, claim.declared_format, claim.file_name, warnings=warnings)
        self._record_format(claim, fmt)

        def reader(raw: Any) -> Any:
            return read_export(
                raw,
                format=fmt,
                chunk_rows=self.chunk_rows,
                required_columns=codebook.required_columns(),
                label_columns=codebook.label_columns(),
            )

        if self._needs_check(claim, fmt):
            with self._open(claim) as raw, reader(raw) as export:
                for _ in export:
                    self._check(claim, touch=True)
        manual = self._manual_links()
        linker = Linker(directory=self.directory, pseudonymiser=self.pseudonymiser, manual=manual)
        staff: dict[str, StaffFound] = {}
        suppressed = self._suppressed()
        open_items = self._open_items(claim.round)
        with self._open(claim) as raw, reader(raw) as export:
            columns = codebook.resolve(export.metadata.columns)
            for chunk in export:
                frame, row_errors = chunk.frame, chunk.row_errors
                if claim.resume_after:
                    frame = frame[frame.index > claim.resume_after]
                    row_errors = [e for e in row_errors if e.row > claim.resume_after]
                    if frame.empty and not row_errors:
                        self._check(claim, touch=True)
                        continue
                self._check(claim, touch=False)
                result, batch = self._prepare(
                    claim,
                    frame,
                    row_errors,
                    columns,
                    linker=linker,
                    staff=staff,
                    suppressed=suppressed,
                )
                self._write(claim, result, batch, open_items=open_items)
            warnings.extend(export.metadata.warnings)
        if export.metadata.user_missing:
            warnings.append(
                f"{export.metadata.user_missing} answer(s) carried an SPSS user-missing code "
                "and were treated as not answered."
            )
        return fmt, warnings

    def _needs_check(self, claim: Claim, fmt: ExportFormat) -> bool:
        """Whether to read the whole file once before writing anything.

        SPSS and JSON: always (damage shows only where it is; SPSS reads fast). Excel: no (its
        damage shows when the workbook is opened, and a second pass would double the slowest
        reader). CSV: only when its double quotes do not pair up. The one CSV damage that
        stops a file part-way is a quoted field never closed (a file cut short, a stray
        quote); in a CSV whose quotes pair up, one would need an odd number of literal quotes
        elsewhere as well, and counting quotes is a byte scan, not a second parse.
        """
        if fmt == "xlsx":
            return False
        if fmt != "csv":
            return True
        quotes = 0
        with self._open(claim) as raw:
            while block := raw.read(1024 * 1024):
                quotes += block.count(b'"')
        return quotes % 2 == 1

    def _record_format(self, claim: Claim, fmt: ExportFormat) -> None:
        with transaction(self.engine) as session:
            export = self._locked(session, claim)
            export.format = fmt
            session.add(export)

    def _check(self, claim: Claim, *, touch: bool) -> None:
        """Stop if asked to; refresh the heartbeat now and then (preflight, skipped chunks)."""
        if self.should_stop():
            raise Stopping
        if touch and time.monotonic() - self._touched > _TOUCH_EVERY:
            with transaction(self.engine) as session:
                self._locked(session, claim).heartbeat_at = utcnow()
            self._touched = time.monotonic()

    def _locked(self, session: Session, claim: Claim) -> Export:
        export = session.get(Export, claim.export_id, with_for_update=True, populate_existing=True)
        if (
            export is None
            or export.status != ExportStatus.parsing
            or export.claimed_by != self.worker_id
        ):
            raise LostClaim
        return export

    def _stamp(self) -> Any:
        """Now, as the ``updated_at`` column's type hands it to this database's driver."""
        column = _table(SurveyResponse).c.updated_at
        convert = column.type.bind_processor(self.engine.dialect)
        now = utcnow()
        return convert(now) if convert else now

    def _manual_links(self) -> dict[str, tuple[int, str | None]]:
        with transaction(self.engine) as session:
            rows = session.exec(select(ManualLink.email_hash, ManualLink.urn, ManualLink.la_code))
            return {h: (urn, la) for h, urn, la in rows.all()}

    # -- a chunk -------------------------------------------------------------------------------

    def _prepare(
        self,
        claim: Claim,
        frame: pd.DataFrame,
        row_errors: list[RowError],
        columns: CodebookColumns,
        *,
        linker: Linker,
        staff: dict[str, StaffFound],
        suppressed: frozenset[str],
    ) -> tuple[ChunkResult, dict[str, Any]]:
        """Score, link and pseudonymise a chunk (HTTP calls here, no transaction)."""
        result = ChunkResult(rows=len(frame))
        result.rejected = sum(e.rejected for e in row_errors)
        result.last_row = max([int(frame.index.max())] if len(frame) else [], default=0)
        result.last_row = max([result.last_row, *(e.row for e in row_errors)])
        errors: list[RowError] = list(row_errors)
        scored = score_frame(frame, claim.codebook, columns=columns, max_errors=self.errors_kept)
        errors.extend(scored.errors)
        result.error_count = len(row_errors) + scored.error_count

        rows = [int(r) for r in frame.index]
        ids = [_text_id(v) for v in frame[columns.respondent_id].tolist()]
        schools = frame[columns.email].tolist()
        respondent = (
            frame[columns.respondent_email].tolist()
            if columns.respondent_email
            else [None] * len(ids)
        )
        roles = [_role(v) for v in frame[columns.role].tolist()]

        # Which rows are kept: a usable response id, the last row of a repeated id.
        last: dict[str, int] = {}
        for i, rid in enumerate(ids):
            if rid is None:
                errors.append(RowError(rows[i], columns.respondent_id, "the response has no id"))
                result.error_count += 1
            elif len(rid) > _MAX_ID:
                errors.append(
                    RowError(rows[i], columns.respondent_id, f"the id is over {_MAX_ID} characters")
                )
                result.error_count += 1
            else:
                if rid in last:
                    errors.append(
                        RowError(
                            rows[last[rid]],
                            columns.respondent_id,
                            f"the same response id is in row {rows[i]}, which was kept",
                        )
                    )
                    result.error_count += 1
                last[rid] = i
        kept = sorted(last.values())

        # Teachers: a pseudonym from their email, else from the response id; withdrawals.
        teacher_emails: list[str | None] = []
        for i in kept:
            try:
                teacher_emails.append(email_key(respondent[i]))
            except InvalidEmail:
                teacher_emails.append(None)
        new = sorted({e for e in teacher_emails if e and e not in staff})
        if new:
            for address, answer in zip(new, self.directory.staff_by_emails(new), strict=True):
                staff[address] = self._staff_found(answer.get("staff") or [])
        keys = [
            (self.pseudonymiser.teacher_by_email(e), "email")
            if e
            else (self.pseudonymiser.teacher_by_id(ids[i] or ""), "id")
            for i, e in zip(kept, teacher_emails, strict=True)
        ]
        links = linker.link([schools[i] for i in kept])

        none = [None] * len(frame)
        scores = {
            name: _nullable(scored.scores[name].to_numpy()) if name in scored.scores else none
            for name in SCALE_NAMES
        }
        packed = pack(scored.items, claim.codebook)
        stamp = self._stamp()
        responses: list[tuple[Any, ...]] = []
        unmatched: list[tuple[str, int, Link]] = []
        withdrawn_ids: list[str] = []
        staff_links: dict[tuple[str, str], int] = {}
        for n, i in enumerate(kept):
            rid = ids[i]
            assert rid is not None
            key, source = keys[n]
            found = staff.get(teacher_emails[n] or "")
            if (found is not None and found.withdrawn) or key in suppressed:
                withdrawn_ids.append(rid)
                continue
            for staff_hash, staff_urn in found.records if found is not None else ():
                staff_links[(key, staff_hash)] = staff_urn
            link = links[n]
            if link.reason == "no-email":
                link = linker.blank(round=claim.round, response_id=rid)
            responses.append(
                (  # RESPONSE_COLUMNS' order
                    claim.round,
                    rid,
                    claim.export_id,
                    rows[i],
                    key,
                    source,
                    link.email_hash,
                    link.urn,
                    link.la_code,
                    link.kind.value if link.kind else None,
                    roles[i],
                    claim.codebook_version_id,
                    scores["knowledge"][i],
                    scores["attitudes"][i],
                    scores["use"][i],
                    packed[i],
                    stamp,
                )
            )
            if link.kind is None:
                result.unmatched += 1
                unmatched.append((rid, rows[i], link))
            else:
                result.linked[link.kind.value] = result.linked.get(link.kind.value, 0) + 1
        result.withdrawn = len(withdrawn_ids)
        errors.sort(key=lambda e: (e.row, e.column or ""))
        result.errors = errors
        batch = {
            "responses": responses,
            "unmatched": unmatched,
            "withdrawn": withdrawn_ids,
            "staff": [
                {"teacher_key": key, "staff_hash": h, "urn": urn}
                for (key, h), urn in sorted(staff_links.items())
            ],
        }
        return result, batch

    def _staff_found(self, records: list[dict[str, Any]]) -> StaffFound:
        """An address's staff records: withdrawn, or the records to check again later."""
        if withdrawn(records):
            return StaffFound(withdrawn=True)
        return StaffFound(
            withdrawn=False,
            records=tuple(
                (self.pseudonymiser.staff_record(r["id"]), int(r["urn"]))
                for r in records
                if r.get("id") is not None and r.get("urn") is not None
            ),
        )

    def _suppressed(self) -> frozenset[str]:
        """The teachers whose responses were deleted on request: few, read once per export."""
        with transaction(self.engine) as session:
            return frozenset(session.exec(select(TeacherWithdrawal.teacher_key)).all())

    def _open_items(self, round: str) -> set[str]:
        """The response ids of the round's open unmatched items (kept up to date while the
        export is written, so a chunk deletes items only when one can exist)."""
        with transaction(self.engine) as session:
            return set(
                session.exec(
                    select(UnmatchedResponse.response_id).where(
                        UnmatchedResponse.round == round,
                        UnmatchedResponse.status == UnmatchedStatus.open,
                    )
                ).all()
            )

    def _write(
        self, claim: Claim, result: ChunkResult, batch: dict[str, Any], *, open_items: set[str]
    ) -> None:
        """One chunk in one short transaction, if the export is still this worker's."""
        with transaction(self.engine) as session:
            export = self._locked(session, claim)
            responses = batch["responses"]
            if batch["withdrawn"]:
                session.exec(  # type: ignore[call-overload]
                    delete(SurveyResponse).where(
                        col(SurveyResponse.round) == claim.round,
                        col(SurveyResponse.response_id).in_(batch["withdrawn"]),
                    )
                )
            if responses:
                _upsert_responses(session, responses)
                self._queue(session, claim, responses, batch["unmatched"], open_items)
            if batch["staff"]:
                now = utcnow()
                session.exec(  # type: ignore[call-overload]
                    _insert(session, _table(TeacherStaff)).on_conflict_do_nothing(),
                    params=[link | {"found_at": now} for link in batch["staff"]],
                )
            export.rows += result.rows
            export.withdrawn += result.withdrawn
            export.rows_rejected += result.rejected
            export.unmatched += result.unmatched
            export.linked += sum(result.linked.values())
            for kind, n in result.linked.items():
                name = f"links_{kind}"
                setattr(export, name, getattr(export, name) + n)
            export.error_count += result.error_count
            room = self.errors_kept - len(export.errors)
            if room > 0 and result.errors:
                export.errors = [*export.errors, *(_problem(e) for e in result.errors[:room])]
            export.progress_row = max(export.progress_row, result.last_row)
            export.heartbeat_at = utcnow()
            session.add(export)
        self._touched = time.monotonic()

    def _queue(
        self,
        session: Session,
        claim: Claim,
        responses: list[tuple[Any, ...]],
        unmatched: list[tuple[str, int, Link]],
        open_items: set[str],
    ) -> None:
        """The unmatched queue for the chunk: no open item for a response linked now, and an
        item per unmatched response (updated if it is there already)."""
        linked = [r[_RESPONSE_ID] for r in responses if r[_URN] is not None]
        linked = [rid for rid in linked if rid in open_items]
        open_items.difference_update(linked)
        open_items.update(rid for rid, _, _ in unmatched)
        if linked:
            session.exec(  # type: ignore[call-overload]
                delete(UnmatchedResponse).where(
                    col(UnmatchedResponse.status) == UnmatchedStatus.open,
                    col(UnmatchedResponse.response_pk).in_(
                        select(SurveyResponse.id).where(
                            SurveyResponse.round == claim.round,
                            col(SurveyResponse.response_id).in_(linked),
                        )
                    ),
                )
            )
        if not unmatched:
            return
        ids = dict(
            session.exec(
                select(SurveyResponse.response_id, SurveyResponse.id).where(
                    SurveyResponse.round == claim.round,
                    col(SurveyResponse.response_id).in_([rid for rid, _, _ in unmatched]),
                )
            ).all()
        )
        now = utcnow()
        items = [
            {
                "response_pk": ids[rid],
                "round": claim.round,
                "export_id": claim.export_id,
                "row": row,
                "response_id": rid,
                "email_hash": link.email_hash,
                "email_domain": link.domain,
                "email_display": link.display,
                "reason": link.reason or "no-school",
                "detail": clean(link.detail or "")[:500],
                "status": UnmatchedStatus.open.value,
                "created_at": now,
                "updated_at": now,
            }
            for rid, row, link in unmatched
        ]
        insert = _insert(session, _table(UnmatchedResponse))
        kept = ("response_pk", "status", "created_at", "resolved_urn", "resolved_at")
        updated = {name: insert.excluded[name] for name in items[0] if name not in kept}
        session.exec(  # type: ignore[call-overload]
            insert.on_conflict_do_update(index_elements=["response_pk"], set_=updated),
            params=items,
        )

    # -- endings -------------------------------------------------------------------------------

    def _finish(self, claim: Claim, warnings: list[str]) -> None:
        with transaction(self.engine) as session:
            export = self._locked(session, claim)
            counts = dict(
                session.exec(
                    select(SurveyResponse.link_kind, func.count())
                    .where(SurveyResponse.export_id == claim.export_id)
                    .group_by(col(SurveyResponse.link_kind))
                ).all()
            )
            export.unmatched = int(counts.pop(None, 0))
            for kind in LinkKind:
                setattr(export, f"links_{kind.value}", int(counts.get(kind.value, 0)))
            export.linked = sum(int(counts.get(k.value, 0)) for k in LinkKind)
            export.skipped = max(
                0, export.rows - export.withdrawn - export.linked - export.unmatched
            )
            export.warnings = list(dict.fromkeys(warnings))
            export.status = ExportStatus.done
            export.finished_at = utcnow()
            export.claimed_by = None
            export.heartbeat_at = None
            export.last_error = None
            session.add(export)
            audit(
                session,
                actor=WORKER_ACTOR,
                action="export.done",
                entity_type="export",
                entity_id=export.id,
                old={"status": ExportStatus.parsing},
                new={
                    "status": ExportStatus.done,
                    "rows": export.rows,
                    "linked": export.linked,
                    "unmatched": export.unmatched,
                    "withdrawn": export.withdrawn,
                    "attempts": export.attempts,
                },
            )

    def _fail(self, claim: Claim, exc: ExportFormatError) -> None:
        problem: dict[str, Any] = {"problem": exc.detail}
        if isinstance(exc, MissingColumns):
            problem["missing"] = exc.missing
            problem["found"] = exc.found
        with transaction(self.engine) as session:
            try:
                export = self._locked(session, claim)
            except LostClaim:
                return
            problems = [problem]
            if export.progress_row:
                problems.append(
                    {
                        "problem": f"The responses before the damage (up to row "
                        f"{export.progress_row}) were written. Send the complete export again: "
                        "it updates them and adds the rest."
                    }
                )
            self._mark_failed(session, export, problems)

    def _mark_failed(
        self, session: Session, export: Export, problems: list[dict[str, Any]]
    ) -> None:
        previous = export.status
        export.errors = [*problems, *export.errors][: self.errors_kept]
        export.error_count += len(problems)
        export.status = ExportStatus.failed
        export.finished_at = utcnow()
        export.claimed_by = None
        export.heartbeat_at = None
        session.add(export)
        audit(
            session,
            actor=WORKER_ACTOR,
            action="export.failed",
            entity_type="export",
            entity_id=export.id,
            old={"status": previous},
            new={"status": ExportStatus.failed},
            reason=clean(str(problems[0].get("problem")))[:2000],
        )

    def _release(self, claim: Claim, *, error: str | None, backoff: bool) -> None:
        """Put the export back (its progress kept): now (shutting down) or after a back-off."""
        with transaction(self.engine) as session:
            try:
                export = self._locked(session, claim)
            except LostClaim:
                return
            export.status = ExportStatus.received
            export.claimed_by = None
            export.heartbeat_at = None
            export.last_error = error[:2000] if error else None
            if backoff:
                delay = min(
                    max(self.interval, 0.5) * 2 ** min(export.attempts, 16), self.max_backoff
                )
                export.retry_at = utcnow() + dt.timedelta(seconds=delay)
            session.add(export)


_RESPONSE_ID, _URN = 1, 7  # positions in RESPONSE_COLUMNS

#: The columns of a response row as the worker writes them (the upsert's VALUES order).
RESPONSE_COLUMNS = (
    "round",
    "response_id",
    "export_id",
    "row",
    "teacher_key",
    "teacher_key_source",
    "school_email_hash",
    "urn",
    "la_code",
    "link_kind",
    "role",
    "codebook_version_id",
    "knowledge",
    "attitudes",
    "use",
    "items",
    "updated_at",
)


def _upsert_sql(source: str) -> str:
    """``INSERT ... ON CONFLICT (round, response_id) DO UPDATE`` of the rows ``source`` gives."""
    columns = ", ".join(f'"{c}"' for c in RESPONSE_COLUMNS)
    updates = ", ".join(
        f'"{c}" = excluded."{c}"' for c in RESPONSE_COLUMNS if c not in ("round", "response_id")
    )
    return (
        f"INSERT INTO survey_response ({columns}) {source} "
        f'ON CONFLICT ("round", "response_id") DO UPDATE SET {updates}'
    )


_COLUMNS_SQL = ", ".join(f'"{c}"' for c in RESPONSE_COLUMNS)
_SQLITE_UPSERT = _upsert_sql(f"VALUES ({', '.join(['?'] * len(RESPONSE_COLUMNS))})")
#: A chunk is copied into a temporary table (emptied at commit), then upserted from it.
_PG_CHUNK_TABLE = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS survey_response_chunk ON COMMIT DELETE ROWS AS "
    f"SELECT {_COLUMNS_SQL} FROM survey_response WITH NO DATA"
)
_PG_COPY = f"COPY survey_response_chunk ({_COLUMNS_SQL}) FROM STDIN"
_PG_UPSERT = _upsert_sql(f"SELECT {_COLUMNS_SQL} FROM survey_response_chunk")


def _upsert_responses(session: Session, responses: list[tuple[Any, ...]]) -> None:
    """Upsert a chunk's responses (tuples in ``RESPONSE_COLUMNS`` order, no response id twice).

    A chunk is thousands of rows, and SQLAlchemy's per-row parameter processing would cost as
    much as the database's work, so they go to the driver as they are: on SQLite one
    ``executemany`` (in-process: nothing to save on round trips); on PostgreSQL ``COPY`` into a
    temporary table and one ``INSERT ... SELECT ... ON CONFLICT`` (a round trip per row, even
    pipelined, costs more than the insert). Values are plain numbers, text and bytes; the
    timestamp was converted by its column's type (``Processor._stamp``).
    """
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        connection.exec_driver_sql(_SQLITE_UPSERT, responses)
        return
    driver = connection.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor:
        cursor.execute(_PG_CHUNK_TABLE)
        with cursor.copy(_PG_COPY) as copy:
            for row in responses:
                copy.write_row(row)
        cursor.execute(_PG_UPSERT)


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


def _nullable(values: np.ndarray) -> list[float | None]:
    """Floats as a list, NaN as None (the database's NULL)."""
    cells = values.astype(object)
    cells[np.isnan(values.astype(float))] = None
    return cells.tolist()
