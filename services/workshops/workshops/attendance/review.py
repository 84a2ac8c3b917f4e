"""The review list: report participants nobody could place, and how delivery staff resolve them.

Resolving names the attendee (and, unless told not to, remembers the participant's address and
display name for next time, as digests); dismissing says the participant is not an attendee (a
facilitator, a guest). Either way the participant's name and address are cleared. A remembered
alias also places every other participant still on a review list under the same name or address.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from rlc_shared.audit import utcnow
from rlc_shared.auth import Principal
from workshops.attendance import service as attendance
from workshops.attendance.reports import alias_digest
from workshops.attendance_rules import alias_key
from workshops.auditing import audit
from workshops.errors import ParticipantAlreadyResolved, ParticipantNotFound
from workshops.models import (
    AttendanceReport,
    Attendee,
    AttendeeAlias,
    CohortSession,
    ReportParticipant,
)
from workshops.schemas import (
    ParticipantState,
    Resolution,
    ResolutionResult,
    UnmatchedList,
    UnmatchedPublic,
)


def _public(row: ReportParticipant) -> UnmatchedPublic:
    return UnmatchedPublic(
        id=row.id or 0,
        report_id=row.report_id,
        session_id=row.session_id,
        state=row.state,  # type: ignore[arg-type]
        name=row.name,
        email=row.email,
        original_name=row.original_name,
        minutes=row.minutes,
        lines=list(row.lines),
        reason=row.reason,
        candidate_attendee_ids=list(row.candidate_ids),
        attendee_id=row.attendee_id,
    )


def unmatched(
    session: Session, *, cohort_session: CohortSession, state: ParticipantState
) -> UnmatchedList:
    """The session's participants in ``state`` (``unmatched``: the review list), of reports not
    retracted, in upload and report order."""
    rows = session.exec(
        select(ReportParticipant)
        .join(AttendanceReport, col(AttendanceReport.id) == ReportParticipant.report_id)
        .where(
            ReportParticipant.session_id == cohort_session.id,
            ReportParticipant.state == state,
            col(AttendanceReport.retracted_at).is_(None),
        )
        .order_by(col(ReportParticipant.id))
    ).all()
    return UnmatchedList(session_id=cohort_session.id or 0, data=[_public(r) for r in rows])


def _keys(row: ReportParticipant) -> dict[str, str]:
    """The alias keys of a participant's address and names: {digest: kind}."""
    found: dict[str, str] = {}
    for raw in (row.email, row.name, row.original_name):
        if raw:
            key = alias_key(raw)
            found[alias_digest(key)] = key.split(":", 1)[0]
    return found


def _clear(row: ReportParticipant, *, state: str, actor: Principal) -> None:
    row.state = state
    row.name = row.email = row.original_name = None
    row.resolved_at, row.resolved_by = utcnow(), actor.sub


def _remember(
    session: Session, *, keys: dict[str, str], attendee: Attendee, actor: Principal
) -> int:
    stored = 0
    for digest, kind in keys.items():
        alias = session.exec(
            select(AttendeeAlias).where(AttendeeAlias.key_sha256 == digest)
        ).first()
        if alias is not None and alias.attendee_id == attendee.id:
            continue
        old = {"attendee_id": alias.attendee_id} if alias is not None else None
        if alias is None:
            alias = AttendeeAlias(
                key_sha256=digest, kind=kind, attendee_id=attendee.id or 0, created_by=actor.sub
            )
        alias.attendee_id, alias.created_by, alias.created_at = (
            attendee.id or 0,
            actor.sub,
            utcnow(),
        )
        session.add(alias)
        session.flush()
        audit(
            session,
            actor=actor,
            action="alias.stored",
            entity_type="attendee_alias",
            entity_id=alias.id,
            old=old,
            new={"attendee_id": attendee.id, "kind": kind},
        )
        stored += 1
    return stored


def _place_others(
    session: Session, *, keys: dict[str, str], attendee: Attendee, actor: Principal
) -> set[int]:
    """Place every other participant on a review list under one of ``keys``; their sessions."""
    sessions: set[int] = set()
    for row in session.exec(
        select(ReportParticipant).where(ReportParticipant.state == "unmatched")
    ).all():
        if not keys.keys() & _keys(row).keys():
            continue
        target = session.get(CohortSession, row.session_id)
        row.attendee_id, row.match_method = attendee.id, "reviewed_alias"
        row.outside_cohort = target is not None and target.cohort_id != attendee.cohort_id
        _clear(row, state="resolved", actor=actor)
        session.add(row)
        audit(
            session,
            actor=actor,
            action="participant.resolved",
            entity_type="report_participant",
            entity_id=row.id,
            old={"state": "unmatched"},
            new={"state": "resolved", "attendee_id": attendee.id, "by": "stored alias"},
        )
        sessions.add(row.session_id)
    return sessions


def resolve(
    session: Session,
    *,
    cohort_session: CohortSession,
    participant_id: int,
    data: Resolution,
    actor: Principal,
) -> ResolutionResult:
    """Resolve one participant of the session's review list (see the module's docstring)."""
    row = session.get(ReportParticipant, participant_id, with_for_update=True)
    if row is None or row.session_id != cohort_session.id:
        raise ParticipantNotFound(
            f"Session {cohort_session.id} has no report participant {participant_id}; GET "
            f"/sessions/{cohort_session.id}/attendance/unmatched lists its review list."
        )
    if row.state != "unmatched":
        raise ParticipantAlreadyResolved(
            f"Participant {participant_id} was already {row.state}; nothing was changed."
        )
    locked = session.get(CohortSession, cohort_session.id, with_for_update=True)
    assert locked is not None
    event: dict[str, Any] = {"report_id": row.report_id, "lines": list(row.lines)}
    if data.dismiss:
        _clear(row, state="dismissed", actor=actor)
        session.add(row)
        audit(
            session,
            actor=actor,
            action="participant.dismissed",
            entity_type="report_participant",
            entity_id=row.id,
            old={"state": "unmatched"},
            new=event | {"state": "dismissed"},
            reason=data.reason,
        )
        return ResolutionResult(participant=_public(row), attendance=None, aliases_stored=0)
    attendee = attendance.find_attendee(
        session, attendee_id=data.attendee_id, staff_id=data.staff_id
    )
    keys = _keys(row)
    row.attendee_id, row.match_method = attendee.id, "reviewed"
    row.outside_cohort = attendee.cohort_id != locked.cohort_id
    _clear(row, state="resolved", actor=actor)
    session.add(row)
    audit(
        session,
        actor=actor,
        action="participant.resolved",
        entity_type="report_participant",
        entity_id=row.id,
        old={"state": "unmatched"},
        new=event | {"state": "resolved", "attendee_id": attendee.id},
        reason=data.reason,
    )
    stored = 0
    affected = {locked.id or 0}
    if data.remember and keys:
        stored = _remember(session, keys=keys, attendee=attendee, actor=actor)
        affected |= _place_others(session, keys=keys, attendee=attendee, actor=actor)
    session.flush()
    for session_id in sorted(affected):
        target = session.get(CohortSession, session_id)
        if target is not None:
            attendance.apply_reports(
                session,
                cohort_session=target,
                actor=actor,
                reason=f"report participant {participant_id} resolved",
            )
    session.flush()
    return ResolutionResult(
        participant=_public(row),
        attendance=attendance.attendance_row(session, cohort_session=locked, attendee=attendee),
        aliases_stored=stored,
    )
