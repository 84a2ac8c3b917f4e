"""Attendance per attendee per session: the threshold, manual entry, listing, and the one place
report attendance is (re)computed and statuses (re)classified.

Statuses come from minutes and the threshold (:func:`workshops.attendance_rules.classify`) unless
a person set them (``status_fixed``): a manual ``present``/``partial``/``absent``. A session is
classified against its actual length when delivery staff recorded one, else its planned length.
Manual entries win over reports: an upload never overwrites what a person entered.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import and_, insert, or_
from sqlmodel import Session, col, select

from rlc_shared.auth import Principal
from rlc_shared.policy import Visibility, scope_filter, visibility
from workshops.attendance_rules import AttendanceThreshold, attended_minutes, classify
from workshops.auditing import audit, audit_many
from workshops.computed import COMPUTED
from workshops.errors import AttendeeNotFound, InvalidAttendance
from workshops.models import Attendance as AttendanceRowModel
from workshops.models import (
    AttendanceReport,
    Attendee,
    CohortSession,
    ReportParticipant,
    ThresholdSetting,
)
from workshops.schemas import (
    AttendanceEntries,
    AttendanceEntry,
    AttendanceList,
    AttendanceRow,
    ThresholdChange,
    ThresholdPublic,
    ThresholdResult,
)

MANUAL, REPORT = "manual", "report"
#: Report participants whose time counts: placed by the matcher, or by a reviewer.
PLACED = ("matched", "resolved")
_AUDITED = ["status", "minutes", "status_fixed", "on_behalf_of_id", "source"]


# --- the threshold ------------------------------------------------------------------------


def current_threshold(session: Session) -> tuple[AttendanceThreshold, ThresholdSetting | None]:
    """The threshold in force: the latest one set, else the default (75% of the session)."""
    latest = session.exec(
        select(ThresholdSetting).order_by(col(ThresholdSetting.id).desc()).limit(1)
    ).first()
    if latest is None:
        return AttendanceThreshold(), None
    return AttendanceThreshold(kind=latest.kind, value=latest.value), latest  # type: ignore[arg-type]


def threshold_public(session: Session) -> ThresholdPublic:
    threshold, setting = current_threshold(session)
    return ThresholdPublic(
        kind=threshold.kind,
        value=threshold.value,
        description=threshold.describe(),
        set_at=setting.set_at if setting else None,
        set_by=setting.set_by if setting else None,
    )


def set_threshold(session: Session, *, data: ThresholdChange, actor: Principal) -> ThresholdResult:
    """A new threshold, in force at once: every status that follows the threshold is
    re-classified (statuses a person set stay). Audited, with how many changed."""
    # Every session's row locked (PostgreSQL), in id order: an upload or an entry being made
    # meanwhile either finishes first (and is re-classified here) or waits and sees the new one.
    session.exec(select(CohortSession.id).order_by(col(CohortSession.id)).with_for_update()).all()
    before, _ = current_threshold(session)
    threshold = AttendanceThreshold(kind=data.kind, value=data.value)
    session.add(
        ThresholdSetting(kind=data.kind, value=data.value, set_by=actor.sub, reason=data.reason)
    )
    session.flush()
    changed = reclassify(
        session, actor=actor, reason=f"threshold changed to {threshold.describe()}"
    )
    audit(
        session,
        actor=actor,
        action="threshold.changed",
        entity_type="threshold",
        entity_id="attendance",
        old=before.model_dump(),
        new=threshold.model_dump() | {"reclassified": changed},
        reason=data.reason,
    )
    return ThresholdResult(threshold=threshold_public(session), reclassified=changed)


def session_minutes(cohort_session: CohortSession) -> int:
    """What attendance at the session is measured against: its actual length if recorded."""
    return cohort_session.actual_minutes or cohort_session.duration_minutes


def _snapshot(row: AttendanceRowModel) -> dict[str, Any]:
    return {name: getattr(row, name) for name in _AUDITED} | {"minutes": round(row.minutes, 2)}


def _entity(row: AttendanceRowModel) -> str:
    return f"{row.session_id}/{row.attendee_id}"


def reclassify(
    session: Session, *, actor: Any, reason: str, session_ids: Iterable[int] | None = None
) -> int:
    """Re-classify every status that follows the threshold (of ``session_ids``, or all);
    returns how many changed. Each change is audited."""
    threshold, _ = current_threshold(session)
    stmt = (
        select(AttendanceRowModel, CohortSession.duration_minutes, CohortSession.actual_minutes)
        .join(CohortSession, col(CohortSession.id) == AttendanceRowModel.session_id)
        .where(col(AttendanceRowModel.status_fixed).is_(False))
    )
    if session_ids is not None:
        stmt = stmt.where(col(AttendanceRowModel.session_id).in_(list(session_ids)))
    events = []
    for row, planned, actual in session.exec(stmt).all():
        status = classify(row.minutes, session_minutes=actual or planned, threshold=threshold)
        if status != row.status:
            old = _snapshot(row)
            row.status = status
            session.add(row)
            events.append((_entity(row), old, _snapshot(row)))
    audit_many(
        session, actor=actor, action="attendance.reclassified", entity_type="attendance",
        events=events, reason=reason,
    )  # fmt: skip
    return len(events)


# --- report attendance --------------------------------------------------------------------


def _interval(pair: list[str]) -> tuple[dt.datetime, dt.datetime]:
    return dt.datetime.fromisoformat(pair[0]), dt.datetime.fromisoformat(pair[1])


Interval = tuple[dt.datetime, dt.datetime]
#: A report participant's part in the computation: attendee, intervals, match method, outside.
Placed = tuple[int, list[Interval], str | None, bool]


def apply_reports(
    session: Session,
    *,
    cohort_session: CohortSession,
    actor: Any,
    reason: str,
    fresh: Sequence[Placed] = (),
    fresh_report_id: int | None = None,
) -> int:
    """Recompute the session's report attendance from every report of it not retracted: each
    placed participant's intervals, merged per attendee across devices and reports (overlaps
    once), classified by the threshold. Manual entries are left as they are; report rows of
    attendees no report places any more are removed. Returns the attendees with report time.

    ``fresh`` are the placed participants of report ``fresh_report_id``, just written in this
    transaction: the upload passes them as they are rather than reading them back."""
    threshold, _ = current_threshold(session)
    length = session_minutes(cohort_session)
    stmt = (
        select(
            ReportParticipant.attendee_id,
            ReportParticipant.intervals,
            ReportParticipant.match_method,
            ReportParticipant.outside_cohort,
        )
        .join(AttendanceReport, col(AttendanceReport.id) == ReportParticipant.report_id)
        .where(
            ReportParticipant.session_id == cohort_session.id,
            col(ReportParticipant.state).in_(PLACED),
            col(ReportParticipant.attendee_id).is_not(None),
            col(AttendanceReport.retracted_at).is_(None),
        )
        .order_by(col(ReportParticipant.id))
    )
    if fresh_report_id is not None:
        stmt = stmt.where(ReportParticipant.report_id != fresh_report_id)
    placed: list[Placed] = [
        (attendee_id or 0, [_interval(pair) for pair in intervals], method, outside)
        for attendee_id, intervals, method, outside in session.exec(stmt).all()
    ]
    gathered: dict[int, tuple[list[Interval], str | None, bool]] = {}
    for attendee_id, intervals, method, outside in [*placed, *fresh]:
        spans, first_method, _ = gathered.get(attendee_id, ([], method, outside))
        spans.extend(intervals)
        gathered[attendee_id] = (spans, first_method, outside)
    existing = {
        row.attendee_id: row
        for row in session.exec(
            select(AttendanceRowModel).where(AttendanceRowModel.session_id == cohort_session.id)
        ).all()
    }
    events: list[tuple[str, dict[str, Any] | None, dict[str, Any] | None]] = []
    added: list[dict[str, Any]] = []
    now, by = dt.datetime.now(dt.UTC), getattr(actor, "sub", str(actor))
    for attendee_id, (spans, method, outside) in gathered.items():
        row = existing.get(attendee_id)
        if row is not None and row.source == MANUAL:
            continue
        minutes = attended_minutes(spans)
        status = classify(minutes, session_minutes=length, threshold=threshold)
        if row is None:
            values = {
                "session_id": cohort_session.id,
                "attendee_id": attendee_id,
                "status": status,
                "minutes": minutes,
                "status_fixed": False,
                "on_behalf_of_id": None,
                "source": REPORT,
                "outside_cohort": outside,
                "match_method": method,
                "recorded_at": now,
                "recorded_by": by,
            }
            added.append(values)
            new = {name: values[name] for name in _AUDITED} | {"minutes": round(minutes, 2)}
            events.append((f"{cohort_session.id}/{attendee_id}", None, new))
            continue
        old = _snapshot(row)
        row.status, row.minutes, row.match_method, row.outside_cohort = (
            status,
            minutes,
            method,
            outside,
        )
        session.add(row)
        events.append((_entity(row), old, _snapshot(row)))
    for attendee_id, row in existing.items():
        if row.source == REPORT and attendee_id not in gathered:
            events.append((_entity(row), _snapshot(row), None))
            session.delete(row)
    if added:
        # One statement for the session's new rows (hundreds when a report comes in).
        session.execute(insert(AttendanceRowModel), added)
    audit_many(
        session, actor=actor, action="attendance.from_reports", entity_type="attendance",
        events=events, reason=reason,
    )  # fmt: skip
    return len(gathered)


# --- manual entry -------------------------------------------------------------------------


def find_attendee(session: Session, *, attendee_id: int | None, staff_id: int | None) -> Attendee:
    """The attendee named by its id or by recruitment's staff id (404 otherwise)."""
    if attendee_id is not None:
        found = session.get(Attendee, attendee_id)
        missing = f"There is no attendee {attendee_id}"
    else:
        found = session.exec(select(Attendee).where(Attendee.staff_id == staff_id)).first()
        missing = (
            f"No enrolled school has staff member {staff_id} among its attendees (if recruitment "
            "added them since enrolment, POST /cohorts/{id}/attendees/refresh)"
        )
    if found is None:
        raise AttendeeNotFound(missing + "; GET /cohorts/{id}/attendees lists a cohort's.")
    return found


def _manual_values(
    entry: AttendanceEntry, *, length: int, threshold: AttendanceThreshold
) -> tuple[str, float, bool]:
    """(status, minutes, status_fixed) of a manual entry."""
    if entry.status is None:
        minutes = float(entry.minutes or 0.0)
        return classify(minutes, session_minutes=length, threshold=threshold), minutes, False
    if entry.status == "present":
        return "present", float(entry.minutes if entry.minutes is not None else length), True
    if entry.status == "partial":
        return "partial", float(entry.minutes or 0.0), True
    return "absent", 0.0, True


def record_manual(
    session: Session,
    *,
    cohort_session: CohortSession,
    data: AttendanceEntries,
    actor: Principal,
) -> AttendanceList:
    """Enter attendance by hand for several attendees at once (a register); each entry replaces
    whatever was recorded for that attendee at this session."""
    locked = session.get(CohortSession, cohort_session.id, with_for_update=True)
    assert locked is not None
    threshold, _ = current_threshold(session)
    length = session_minutes(locked)
    seen: set[int] = set()
    events: list[tuple[str, dict[str, Any] | None, dict[str, Any] | None]] = []
    for number, entry in enumerate(data.entries, start=1):
        attendee = find_attendee(session, attendee_id=entry.attendee_id, staff_id=entry.staff_id)
        assert attendee.id is not None
        if attendee.id in seen:
            raise InvalidAttendance(f"Entry {number} names attendee {attendee.id} a second time.")
        seen.add(attendee.id)
        stand_in_for = None
        if entry.on_behalf_of_attendee_id is not None or entry.on_behalf_of_staff_id is not None:
            absent = find_attendee(
                session,
                attendee_id=entry.on_behalf_of_attendee_id,
                staff_id=entry.on_behalf_of_staff_id,
            )
            if absent.id == attendee.id:
                raise InvalidAttendance(f"Entry {number}: nobody attends on their own behalf.")
            if absent.urn is None or absent.urn != attendee.urn:
                raise InvalidAttendance(
                    f"Entry {number}: a stand-in attends for a colleague of the same school; "
                    f"attendee {absent.id} is not of school {attendee.urn}."
                )
            stand_in_for = absent.id
        if entry.minutes is not None and entry.minutes > length * 2:
            raise InvalidAttendance(
                f"Entry {number}: {entry.minutes:g} minutes is more than twice the session's "
                f"{length} minutes; check the figure (or record the session's actual length)."
            )
        status, minutes, fixed = _manual_values(entry, length=length, threshold=threshold)
        row = session.exec(
            select(AttendanceRowModel).where(
                AttendanceRowModel.session_id == locked.id,
                AttendanceRowModel.attendee_id == attendee.id,
            )
        ).first()
        old = _snapshot(row) if row is not None else None
        if row is None:
            row = AttendanceRowModel(
                session_id=locked.id or 0, attendee_id=attendee.id, status=status, source=MANUAL,
                recorded_by=actor.sub,
            )  # fmt: skip
        row.status, row.minutes, row.status_fixed = status, minutes, fixed
        row.on_behalf_of_id, row.source, row.match_method = stand_in_for, MANUAL, None
        row.outside_cohort = attendee.cohort_id != locked.cohort_id
        row.recorded_by, row.recorded_at = actor.sub, dt.datetime.now(dt.UTC)
        session.add(row)
        events.append((_entity(row), old, _snapshot(row)))
    audit_many(
        session, actor=actor, action="attendance.entered", entity_type="attendance",
        events=events, reason=data.reason,
    )  # fmt: skip
    session.flush()
    return attendance_list(session, cohort_session=locked, principal=actor)


# --- reading ------------------------------------------------------------------------------


def _row(
    attendee: Attendee, record: AttendanceRowModel | None, staff_ids: dict[int, int | None]
) -> AttendanceRow:
    stand_in = record.on_behalf_of_id if record is not None else None
    return AttendanceRow(
        urn=attendee.urn,
        staff_id=attendee.staff_id,
        role=attendee.role,  # type: ignore[arg-type]
        minutes=round(record.minutes, 2) if record is not None else 0.0,
        status=record.status if record is not None else "absent",  # type: ignore[arg-type]
        attendee_id=attendee.id or 0,
        kind=attendee.kind,  # type: ignore[arg-type]
        source=record.source if record is not None else None,  # type: ignore[arg-type]
        status_fixed=record.status_fixed if record is not None else False,
        on_behalf_of_attendee_id=stand_in,
        on_behalf_of_staff_id=staff_ids.get(stand_in) if stand_in is not None else None,
        outside_cohort=record.outside_cohort if record is not None else False,
        match_method=record.match_method if record is not None else None,
    )


def attendance_row(
    session: Session, *, cohort_session: CohortSession, attendee: Attendee
) -> AttendanceRow:
    record = session.exec(
        select(AttendanceRowModel).where(
            AttendanceRowModel.session_id == cohort_session.id,
            AttendanceRowModel.attendee_id == attendee.id,
        )
    ).first()
    staff_ids: dict[int, int | None] = {}
    if record is not None and record.on_behalf_of_id is not None:
        other = session.get(Attendee, record.on_behalf_of_id)
        staff_ids[record.on_behalf_of_id] = other.staff_id if other else None
    return _row(attendee, record, staff_ids)


def attendance_list(
    session: Session, *, cohort_session: CohortSession, principal: Principal
) -> AttendanceList:
    """One row per attendee: everyone of the cohort (absent when nothing is recorded) and anyone
    else recorded at this session; a school sees its own staff, a Virtual School its LA's
    (computed once per version of the attendance data)."""
    vis = visibility(principal, "workshop.read_attendance")
    return COMPUTED.get_or_compute(
        session,
        ("attendance", cohort_session.id, vis),
        lambda: _attendance_list(session, cohort_session=cohort_session, vis=vis),
    )


def _attendance_list(
    session: Session, *, cohort_session: CohortSession, vis: Visibility
) -> AttendanceList:
    stmt = (
        select(Attendee, AttendanceRowModel)
        .outerjoin(
            AttendanceRowModel,
            and_(
                col(AttendanceRowModel.attendee_id) == Attendee.id,
                col(AttendanceRowModel.session_id) == cohort_session.id,
            ),
        )
        .where(
            or_(
                and_(col(Attendee.cohort_id) == cohort_session.cohort_id, col(Attendee.active)),
                col(AttendanceRowModel.id).is_not(None),
            )
        )
        .order_by(col(Attendee.urn), col(Attendee.id))
    )
    condition = scope_filter(vis, la_code=col(Attendee.la_code), urn=col(Attendee.urn))
    if condition is not None:
        stmt = stmt.where(condition)
    pairs = session.exec(stmt).all()
    stand_ins = {r.on_behalf_of_id for _, r in pairs if r is not None and r.on_behalf_of_id}
    staff_ids: dict[int, int | None] = {}
    if stand_ins:
        for attendee_id, staff_id in session.exec(
            select(Attendee.id, Attendee.staff_id).where(col(Attendee.id).in_(stand_ins))
        ).all():
            staff_ids[attendee_id or 0] = staff_id
    return AttendanceList(
        session_id=cohort_session.id or 0,
        session_minutes=session_minutes(cohort_session),
        threshold=threshold_public(session),
        data=[_row(attendee, record, staff_ids) for attendee, record in pairs],
    )
