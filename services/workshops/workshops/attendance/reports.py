"""Uploaded attendance reports: read within the size limit, parsed (Zoom or Teams, from the
content), matched to the attendees, stored, and turned into the session's attendance.

An upload is one unit: the file is stored, the report and its participants written and the
session's attendance recomputed in one transaction (the stored file is deleted again if it rolls
back), so a failed upload leaves the session's attendance as it was. The same file again changes
nothing. Recruitment is asked who holds the report's addresses before that transaction opens.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

from fastapi.responses import StreamingResponse
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from rlc_clients import RecruitmentClient
from rlc_shared.audit import utcnow
from rlc_shared.auth import Principal
from rlc_shared.db import Transactions, on_rollback
from rlc_shared.errors import NotFound
from rlc_shared.storage import ObjectStorage
from workshops import upstream
from workshops.attendance import service as attendance
from workshops.attendance_reports import (
    AttendanceReport as ParsedReport,
)
from workshops.attendance_reports import (
    AttendanceReportError,
    parse_attendance_report,
)
from workshops.attendance_reports import (
    ReportParticipant as ParsedParticipant,
)
from workshops.attendance_rules import (
    AttendeeMatch,
    SchoolStaff,
    UnmatchedAttendee,
    alias_key,
    attended_minutes,
    email_key,
    match_attendees,
)
from workshops.auditing import audit
from workshops.deps import session_missing
from workshops.errors import (
    InvalidAttendanceReport,
    ReportAlreadyRetracted,
    ReportFileMissing,
    ReportNotFound,
    ReportOfAnotherSession,
    ReportTooLarge,
)
from workshops.models import (
    AttendanceReport,
    Attendee,
    AttendeeAlias,
    Cohort,
    CohortSession,
    ReportParticipant,
)
from workshops.schemas import ReportPublic, ReportResult
from workshops.text import one_line

CHUNK = 64 * 1024
#: A report whose meeting is further than this from the session's date gets a warning.
DATE_SLACK = dt.timedelta(days=7)


def read_report(stream: BinaryIO, *, limit: int) -> bytes:
    """The uploaded bytes, refused past ``limit`` before anything is parsed."""
    buffer = bytearray()
    while chunk := stream.read(CHUNK):
        buffer.extend(chunk)
        if len(buffer) > limit:
            raise ReportTooLarge(
                f"The attendance report is larger than {limit:,} bytes; a participant report "
                "of one meeting is far smaller: check that this is the right file."
            )
    if not buffer:
        raise InvalidAttendanceReport("The file is empty; upload the report the platform exported.")
    return bytes(buffer)


def alias_digest(key: str) -> str:
    """How an alias key is stored: its SHA-256, never the name or address itself."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _raw_identities(participant: ParsedParticipant) -> list[str]:
    return [v for v in (participant.email, participant.name, participant.original_name) if v]


def _addresses(participant: ParsedParticipant) -> list[str]:
    return [a for a in map(email_key, _raw_identities(participant)) if a is not None]


def _kept(value: str | None, length: int) -> str | None:
    return one_line(value, length) or None if value else None


def _utc(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


# --- looking the report up ----------------------------------------------------------------


def _session(session: Session, *, session_id: int, lock: bool = False) -> CohortSession:
    found = session.get(CohortSession, session_id, with_for_update=lock or None)
    if found is None:
        raise session_missing(session_id)
    return found


def _same_file(session: Session, *, session_id: int, sha256: str) -> AttendanceReport | None:
    """The report of this session with these bytes; 409 if they were uploaded for another."""
    found = session.exec(
        select(AttendanceReport)
        .where(AttendanceReport.sha256 == sha256)
        .order_by(col(AttendanceReport.id))
    ).all()
    for report in found:
        if report.session_id == session_id:
            return report
    for report in found:
        if report.retracted_at is None:
            raise ReportOfAnotherSession(
                f"This file was already uploaded for session {report.session_id} (report "
                f"{report.id}); one export is one meeting. Retract it there first if it was "
                "uploaded to the wrong session.",
                report_id=report.id,
                session_id=report.session_id,
            )
    return None


def _result(
    session: Session, report: AttendanceReport, *, duplicate: bool, recorded: int | None = None
) -> ReportResult:
    if recorded is None:
        recorded = _recorded(session, report)
    warnings = list(report.warnings)
    if duplicate and report.retracted_at is not None:
        warnings.append(
            f"This file was uploaded before (report {report.id}) and that report was retracted "
            f"on {report.retracted_at:%Y-%m-%d}; it still does not count."
        )
    return ReportResult(
        report_id=report.id or 0,
        session_id=report.session_id,
        duplicate=duplicate,
        platform=report.platform,  # type: ignore[arg-type]
        layout=report.layout,
        date_order=report.date_order,
        participants=report.participants,
        matched=report.matched,
        unmatched=report.unmatched,
        attendees_recorded=recorded,
        sha256=report.sha256,
        warnings=warnings,
    )


def _recorded(session: Session, report: AttendanceReport) -> int:
    """How many attendees the session's reports (not retracted) place."""
    found = session.exec(
        select(ReportParticipant.attendee_id)
        .join(AttendanceReport, col(AttendanceReport.id) == ReportParticipant.report_id)
        .where(
            ReportParticipant.session_id == report.session_id,
            col(ReportParticipant.state).in_(attendance.PLACED),
            col(AttendanceReport.retracted_at).is_(None),
        )
        .distinct()
    ).all()
    return len([a for a in found if a is not None])


# --- matching -----------------------------------------------------------------------------


@dataclass
class _Placed:
    state: str
    attendee_id: int | None = None
    method: str | None = None
    outside: bool = False
    reason: str | None = None
    candidates: tuple[int, ...] = ()


def _placements(
    session: Session,
    *,
    parsed: ParsedReport,
    cohort_id: int,
    holders: list[dict[str, Any]],
    vsh_email: str | None,
) -> list[_Placed]:
    """Where each participant of the report goes, in report order (see
    :func:`workshops.attendance_rules.match_attendees`): an attendee of this cohort; one of
    another cohort (by address or alias: ``outside``); or the review list, including people
    whose address belongs to staff of a school that is in no cohort (e.g. a control school)."""
    cohort = list(
        session.exec(
            select(Attendee).where(Attendee.cohort_id == cohort_id, col(Attendee.active))
        ).all()
    )
    # Who of recruitment's staff holds each address in the report.
    address_of: dict[int, str] = {}
    outsiders: dict[int, tuple[dict[str, Any], str]] = {}
    for holder in holders:
        for member in holder.get("staff") or []:
            address_of[int(member["id"])] = str(holder["email"])
    known = (
        {
            a.staff_id: a
            for a in session.exec(
                select(Attendee).where(col(Attendee.staff_id).in_(sorted(address_of)))
            ).all()
        }
        if address_of
        else {}
    )
    for holder in holders:
        for member in holder.get("staff") or []:
            if int(member["id"]) not in known:
                outsiders[int(member["id"])] = (member, str(holder["email"]))
    # Aliases a reviewer stored, looked up by the digests of this report's names and addresses.
    raw_by_digest: dict[str, list[str]] = {}
    for participant in parsed.participants:
        for raw in _raw_identities(participant):
            raw_by_digest.setdefault(alias_digest(alias_key(raw)), []).append(raw)
    aliases: dict[str, int] = {}
    alias_targets: set[int] = set()
    if raw_by_digest:
        for digest, attendee_id in session.exec(
            select(AttendeeAlias.key_sha256, AttendeeAlias.attendee_id).where(
                col(AttendeeAlias.key_sha256).in_(sorted(raw_by_digest))
            )
        ).all():
            alias_targets.add(attendee_id)
            for raw in raw_by_digest[digest]:
                aliases[raw] = attendee_id
    cohort_ids = {a.id for a in cohort}
    others = {a.id: a for a in known.values() if a.id not in cohort_ids}
    missing_targets = alias_targets - cohort_ids - set(others)
    if missing_targets:
        for a in session.exec(select(Attendee).where(col(Attendee.id).in_(missing_targets))).all():
            others[a.id] = a

    def as_staff(a: Attendee) -> SchoolStaff:
        email = address_of.get(a.staff_id) if a.staff_id is not None else vsh_email
        if a.staff_id is None and a.cohort_id != cohort_id:
            email = None
        return SchoolStaff(
            staff_id=a.id or 0, urn=a.urn or 0, role=a.role, name=a.name, email=email
        )

    cohort_staff = [as_staff(a) for a in cohort]
    everyone = [as_staff(a) for a in others.values()]
    # Staff recruitment knows but no cohort has: negative ids, so they are never an attendee.
    everyone += [
        SchoolStaff(staff_id=-sid, urn=int(m["urn"]), role=str(m["role"]), name="", email=email)
        for sid, (m, email) in outsiders.items()
    ]
    matching = match_attendees(
        parsed.participants, staff=everyone, cohort_staff=cohort_staff, aliases=aliases
    )
    cohort_of = {a.id: a.cohort_id for a in [*cohort, *others.values()]}
    placed: dict[int, _Placed] = {}
    for match in matching.matched:
        found = _from_match(match)
        if found.attendee_id is not None:
            # An inactive attendee of this cohort is not of another one.
            found.outside = cohort_of.get(found.attendee_id) != cohort_id
        placed[id(match.participant)] = found
    for unmatched in matching.unmatched:
        placed[id(unmatched.participant)] = _from_unmatched(unmatched)
    return [placed[id(p)] for p in parsed.participants]


def _from_match(match: AttendeeMatch[ParsedParticipant]) -> _Placed:
    if match.staff.staff_id < 0:
        return _Placed(
            state="unmatched",
            reason=(
                f"the address belongs to a member of staff of school {match.staff.urn}, which "
                "is not enrolled in any cohort (a control or non-participating school?)"
            ),
        )
    return _Placed(
        state="matched",
        attendee_id=match.staff.staff_id,
        method=match.method,
        outside=match.outside_cohort,
    )


def _from_unmatched(unmatched: UnmatchedAttendee[ParsedParticipant]) -> _Placed:
    return _Placed(
        state="unmatched",
        reason=unmatched.reason,
        candidates=tuple(i for i in unmatched.candidate_staff_ids if i > 0),
    )


def _warnings(parsed: ParsedReport, *, planned_on: dt.date, zone: ZoneInfo) -> list[str]:
    found = list(parsed.warnings)
    started = parsed.meeting.started_at
    if started is None:
        joins = [row.joined_at for p in parsed.participants for row in p.rows]
        started = min(joins) if joins else None
    if started is not None:
        day = started.astimezone(zone).date() if started.tzinfo else started.date()
        if abs(day - planned_on) > DATE_SLACK:
            found.append(
                f"The meeting in this report took place on {day.isoformat()}, but the session "
                f"is planned for {planned_on.isoformat()}: check it is the right session's report."
            )
    if not parsed.participants:
        found.append("The report lists no participants.")
    return found[:50]


# --- the upload ---------------------------------------------------------------------------


def upload(
    transactions: Transactions,
    *,
    session_id: int,
    stream: BinaryIO,
    storage: ObjectStorage,
    recruitment: RecruitmentClient,
    timezone: ZoneInfo,
    max_bytes: int,
    actor: Principal,
) -> ReportResult:
    """Upload one Zoom or Teams report for the session: the counts of matched and unmatched."""
    data = read_report(stream, limit=max_bytes)
    sha256 = hashlib.sha256(data).hexdigest()
    with transactions() as session:
        cohort_session = _session(session, session_id=session_id)
        earlier = _same_file(session, session_id=session_id, sha256=sha256)
        if earlier is not None:
            return _result(session, earlier, duplicate=True)
        planned_on = cohort_session.planned_on
        # The cohort's local authority, whose Virtual School Head may attend.
        cohort = session.get(Cohort, cohort_session.cohort_id)
        la_code = cohort.la_code if cohort is not None else ""
    try:
        parsed = parse_attendance_report(data, timezone=timezone)
    except AttendanceReportError as exc:
        raise InvalidAttendanceReport(
            f"This file cannot be used as the session's attendance: {exc}", line=exc.line
        ) from None
    addresses = sorted({a for p in parsed.participants for a in _addresses(p)})
    holders = upstream.staff_by_emails(recruitment, addresses)
    la = upstream.local_authority(recruitment, la_code) or {}
    vsh_email = email_key((la.get("virtual_school") or {}).get("contact_email"))
    warnings = _warnings(parsed, planned_on=planned_on, zone=timezone)
    try:
        return _store(
            transactions,
            session_id=session_id,
            data=data,
            sha256=sha256,
            parsed=parsed,
            holders=holders,
            vsh_email=vsh_email,
            warnings=warnings,
            storage=storage,
            actor=actor,
        )
    except IntegrityError:
        # The same file stored by a concurrent upload of it: that one's result stands.
        with transactions() as session:
            earlier = _same_file(session, session_id=session_id, sha256=sha256)
            if earlier is None:
                raise
            return _result(session, earlier, duplicate=True)


def _store(
    transactions: Transactions,
    *,
    session_id: int,
    data: bytes,
    sha256: str,
    parsed: ParsedReport,
    holders: list[dict[str, Any]],
    vsh_email: str | None,
    warnings: list[str],
    storage: ObjectStorage,
    actor: Principal,
) -> ReportResult:
    with transactions() as session:
        # One upload of a session at a time (PostgreSQL: the row lock; SQLite: one writer).
        cohort_session = _session(session, session_id=session_id, lock=True)
        earlier = _same_file(session, session_id=session_id, sha256=sha256)
        if earlier is not None:
            return _result(session, earlier, duplicate=True)
        key = f"attendance-reports/session-{session_id}/{uuid.uuid4().hex}.txt"
        stored = storage.put(key, io.BytesIO(data), content_type="application/octet-stream")
        on_rollback(session, lambda: storage.delete(stored.key))
        placements = _placements(
            session,
            parsed=parsed,
            cohort_id=cohort_session.cohort_id,
            holders=holders,
            vsh_email=vsh_email,
        )
        matched = sum(p.state == "matched" for p in placements)
        report = AttendanceReport(
            session_id=session_id,
            sha256=sha256,
            storage_key=stored.key,
            size_bytes=stored.size,
            platform=parsed.platform,
            layout=parsed.layout,
            date_order=parsed.date_order,
            meeting_started_at=(
                parsed.meeting.started_at.astimezone(dt.UTC) if parsed.meeting.started_at else None
            ),
            participants=len(placements),
            matched=matched,
            unmatched=len(placements) - matched,
            warnings=warnings,
            uploaded_by=actor.sub,
        )
        session.add(report)
        session.flush()
        assert report.id is not None
        rows = []
        for position, (participant, placed) in enumerate(
            zip(parsed.participants, placements, strict=True), start=1
        ):
            review = placed.state == "unmatched"
            rows.append(
                {
                    "report_id": report.id,
                    "session_id": session_id,
                    "position": position,
                    "state": placed.state,
                    "attendee_id": placed.attendee_id,
                    "match_method": placed.method,
                    "outside_cohort": placed.outside,
                    # Names and addresses are kept only for the review list.
                    "name": _kept(participant.name, 300) if review else None,
                    "email": _kept(participant.email, 320) if review else None,
                    "original_name": _kept(participant.original_name, 300) if review else None,
                    "reason": placed.reason,
                    "candidate_ids": list(placed.candidates),
                    "lines": list(participant.lines),
                    "intervals": [[_utc(a), _utc(b)] for a, b in participant.intervals],
                    "minutes": round(attended_minutes(participant.intervals), 2),
                    "resolved_at": None,
                    "resolved_by": None,
                }
            )
        if rows:
            # One statement for the whole report (a cohort's session has hundreds of people).
            session.execute(insert(ReportParticipant), rows)
        fresh = [
            (placed.attendee_id, list(participant.intervals), placed.method, placed.outside)
            for participant, placed in zip(parsed.participants, placements, strict=True)
            if placed.attendee_id is not None
        ]
        recorded = attendance.apply_reports(
            session,
            cohort_session=cohort_session,
            actor=actor,
            reason=f"attendance report {report.id} uploaded",
            fresh=fresh,
            fresh_report_id=report.id,
        )
        audit(
            session,
            actor=actor,
            action="attendance_report.uploaded",
            entity_type="attendance_report",
            entity_id=report.id,
            new={
                "session_id": session_id,
                "sha256": sha256,
                "platform": report.platform,
                "layout": report.layout,
                "participants": report.participants,
                "matched": report.matched,
                "unmatched": report.unmatched,
                "attendees_recorded": recorded,
            },
        )
        return _result(session, report, duplicate=False, recorded=recorded)


# --- reading and retracting ---------------------------------------------------------------


def list_reports(session: Session, *, cohort_session: CohortSession) -> list[ReportPublic]:
    rows = session.exec(
        select(AttendanceReport)
        .where(AttendanceReport.session_id == cohort_session.id)
        .order_by(col(AttendanceReport.id))
    ).all()
    return [ReportPublic.model_validate(r) for r in rows]


def get_report(session: Session, *, report_id: int, lock: bool = False) -> AttendanceReport:
    report = session.get(AttendanceReport, report_id, with_for_update=lock or None)
    if report is None:
        raise ReportNotFound(f"There is no attendance report {report_id}.")
    return report


def report_public(session: Session, *, report_id: int) -> ReportPublic:
    return ReportPublic.model_validate(get_report(session, report_id=report_id))


def retract(session: Session, *, report_id: int, reason: str, actor: Principal) -> ReportPublic:
    """Take a report back (uploaded to the wrong session, a wrong export): its participants no
    longer count and leave the review list; the session's attendance is recomputed without it.
    The record and the file are kept."""
    report = get_report(session, report_id=report_id, lock=True)
    if report.retracted_at is not None:
        raise ReportAlreadyRetracted(
            f"Report {report_id} was already retracted on {report.retracted_at:%Y-%m-%d}."
        )
    cohort_session = _session(session, session_id=report.session_id, lock=True)
    report.retracted_at, report.retracted_by, report.retraction_reason = utcnow(), actor.sub, reason
    session.add(report)
    session.flush()
    attendance.apply_reports(
        session,
        cohort_session=cohort_session,
        actor=actor,
        reason=f"attendance report {report_id} retracted: {reason}",
    )
    audit(
        session,
        actor=actor,
        action="attendance_report.retracted",
        entity_type="attendance_report",
        entity_id=report_id,
        old={"retracted": False},
        new={"retracted": True},
        reason=reason,
    )
    return ReportPublic.model_validate(report)


def report_file(session: Session, *, storage: ObjectStorage, report_id: int) -> StreamingResponse:
    """The uploaded file as it was received, as an attachment (never rendered).

    The file is opened before the response starts, so a file missing from object storage is a
    404 problem saying so (the report's record stays), and a store that cannot be reached a 503
    (from the storage layer), never a 500 or a truncated download."""
    report = get_report(session, report_id=report_id)
    try:
        body = storage.open(report.storage_key)
    except NotFound:
        raise ReportFileMissing(
            f"The file of attendance report {report_id} is missing from object storage; its "
            "record and the attendance computed from it are kept. Restore the file from a "
            "backup, or retract the report and upload the export again.",
            report_id=report_id,
        ) from None

    def chunks() -> Iterator[bytes]:
        with body:
            while chunk := body.read(CHUNK):
                yield chunk

    name = f"attendance-report-{report.id}-{report.platform}.csv"
    return StreamingResponse(
        chunks(),
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
