"""Cohorts, their sessions, the schools enrolled in them and those schools' attendees.

Creating a cohort, enrolling a school and refreshing attendees ask the recruitment (and for
enrolment the randomisation) service; no transaction is open while they are asked: the object is
looked up in one short transaction, the other services are asked, and the change is re-checked
and written in another.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from rlc_clients import RecruitmentClient
from rlc_shared.audit import utcnow
from rlc_shared.auth import Principal
from rlc_shared.db import Transactions
from rlc_shared.pagination import Page, PageParams, paginate
from rlc_shared.policy import Target, authorize, visibility
from workshops import upstream
from workshops.attendance import service as attendance_service
from workshops.auditing import audit, state
from workshops.cohorts.guard import check_allocation, check_school
from workshops.deps import cohort_missing
from workshops.errors import (
    CohortNameTaken,
    EnrolmentRefused,
    InvalidChange,
    LocalAuthorityNotRegistered,
)
from workshops.models import Attendee, Cohort, CohortSession, Enrolment, Programme
from workshops.programme import service as programme_service
from workshops.schemas import (
    AttendeePublic,
    CohortCreate,
    CohortPublic,
    EnrolmentPublic,
    RefreshResult,
    SessionPlan,
    SessionPublic,
    SessionUpdate,
)
from workshops.text import one_line
from workshops.upstream import AllocationCache

VSH = "virtual_school_head"
_SESSION_FIELDS = ["planned_on", "meeting_link", "facilitator", "mode", "actual_minutes"]


# --- cohorts ------------------------------------------------------------------------------


def _virtual_school_head(la: dict[str, Any]) -> str | None:
    virtual_school = la.get("virtual_school") or {}
    name = virtual_school.get("head_name")
    return one_line(name, 200) or None if name else None


def create_cohort(
    transactions: Transactions,
    *,
    data: CohortCreate,
    recruitment: RecruitmentClient,
    actor: Principal,
) -> CohortPublic:
    """A cohort of one local authority, with the programme's eight sessions (their planned
    dates unless ``data.sessions`` gives others) and the LA's Virtual School Head as attendee."""
    la = upstream.local_authority(recruitment, data.la_code)
    if la is None:
        raise LocalAuthorityNotRegistered(
            f"Local authority {data.la_code} has not registered with the trial (recruitment "
            "does not know it); register it there first."
        )
    plans: dict[str, SessionPlan] = {plan.key: plan for plan in data.sessions}
    try:
        return _create_cohort(transactions, data=data, plans=plans, la=la, actor=actor)
    except IntegrityError:
        # Another request created a cohort of the same name between the check and the insert
        # (the unique constraint fired): say so, as the check would have.
        with transactions() as session:
            _name_free(
                session, programme=programme_service.ensure_programme(session), name=data.name
            )
        raise


def _name_free(session: Session, *, programme: Programme, name: str) -> None:
    """409 if a cohort of the programme is already called ``name``."""
    taken = session.exec(
        select(Cohort.id).where(Cohort.programme_id == programme.id, Cohort.name == name)
    ).first()
    if taken is not None:
        raise CohortNameTaken(
            f"There is already a cohort called {name!r} (id {taken}); choose another name.",
            cohort_id=taken,
        )


def _create_cohort(
    transactions: Transactions,
    *,
    data: CohortCreate,
    plans: dict[str, SessionPlan],
    la: dict[str, Any],
    actor: Principal,
) -> CohortPublic:
    with transactions() as session:
        programme = programme_service.ensure_programme(session)
        _name_free(session, programme=programme, name=data.name)
        cohort = Cohort(
            programme_id=programme.id or 0,
            name=data.name,
            la_code=data.la_code,
            created_by=actor.sub,
        )
        session.add(cohort)
        session.flush()
        assert cohort.id is not None
        for planned in programme_service.sessions_of(session, programme=programme):
            plan = plans.get(planned.key)
            link = (plan.meeting_link if plan else None) or (
                data.meeting_link if planned.mode == "virtual" else None
            )
            session.add(
                CohortSession(
                    cohort_id=cohort.id,
                    programme_session_id=planned.id or 0,
                    key=planned.key,
                    position=planned.position,
                    kind=planned.kind,
                    number=planned.number,
                    title=planned.title,
                    mode=planned.mode,
                    planned_on=(plan.planned_on if plan and plan.planned_on else None)
                    or planned.planned_on,
                    duration_minutes=planned.duration_minutes,
                    meeting_link=link,
                    facilitator=planned.facilitator,
                )
            )
        head = _virtual_school_head(la)
        if head is not None:
            session.add(
                Attendee(cohort_id=cohort.id, kind=VSH, la_code=cohort.la_code, role=VSH, name=head)
            )
        audit(
            session,
            actor=actor,
            action="cohort.created",
            entity_type="cohort",
            entity_id=cohort.id,
            new=state(cohort, ["name", "la_code", "programme_id"])
            | {"planned": sorted(plans), "virtual_school_head": head is not None},
        )
        session.flush()
        return cohort_public(session, cohort=cohort)


def _counts(session: Session, cohort_ids: list[int]) -> tuple[dict[int, int], dict[int, int]]:
    if not cohort_ids:
        return {}, {}
    schools = dict(
        session.exec(
            select(Enrolment.cohort_id, func.count())
            .where(col(Enrolment.cohort_id).in_(cohort_ids))
            .group_by(col(Enrolment.cohort_id))
        ).all()
    )
    sittings = dict(
        session.exec(
            select(CohortSession.cohort_id, func.count())
            .where(col(CohortSession.cohort_id).in_(cohort_ids))
            .group_by(col(CohortSession.cohort_id))
        ).all()
    )
    return schools, sittings


def _public(cohort: Cohort, schools: dict[int, int], sittings: dict[int, int]) -> CohortPublic:
    out = CohortPublic.model_validate(cohort)
    out.schools = schools.get(cohort.id or 0, 0)
    out.sessions = sittings.get(cohort.id or 0, 0)
    return out


def cohort_public(session: Session, *, cohort: Cohort) -> CohortPublic:
    schools, sittings = _counts(session, [cohort.id or 0])
    return _public(cohort, schools, sittings)


def list_cohorts(
    session: Session, *, page: PageParams, la_code: str | None, principal: Principal
) -> Page[CohortPublic]:
    """The cohorts the token sees through ``workshop.read_attendance``: all of them, or its
    local authority's (a Virtual School) and the one its school is enrolled in (a school)."""
    stmt = select(Cohort)
    seen = visibility(principal, "workshop.read_attendance")
    if not seen.everything:
        stmt = stmt.where(
            or_(
                col(Cohort.la_code).in_(sorted(seen.la_codes)),
                col(Cohort.id).in_(
                    select(Enrolment.cohort_id).where(col(Enrolment.urn).in_(sorted(seen.urns)))
                ),
            )
        )
    if la_code:
        stmt = stmt.where(Cohort.la_code == la_code)
    rows, count, cursor = paginate(session, stmt, key=col(Cohort.id), params=page)
    schools, sittings = _counts(session, [c.id or 0 for c in rows])
    return Page(data=[_public(c, schools, sittings) for c in rows], count=count, next_cursor=cursor)


# --- sessions -----------------------------------------------------------------------------


def sessions_of(session: Session, *, cohort: Cohort) -> list[SessionPublic]:
    rows = session.exec(
        select(CohortSession)
        .where(CohortSession.cohort_id == cohort.id)
        .order_by(col(CohortSession.position))
    ).all()
    return [SessionPublic.model_validate(row) for row in rows]


def update_session(
    session: Session, *, cohort_session: CohortSession, data: SessionUpdate, actor: Principal
) -> SessionPublic:
    """Move a session (with its reason), change its link, facilitator or mode, or record how
    long it lasted (its attendance is then classified against that)."""
    locked = session.get(CohortSession, cohort_session.id, with_for_update=True)
    assert locked is not None
    before = state(locked, _SESSION_FIELDS)
    moved = data.planned_on is not None and data.planned_on != locked.planned_on
    if moved and data.reason is None:
        raise InvalidChange(
            f"Moving session {locked.id} from {locked.planned_on} to {data.planned_on} needs a "
            "reason (the field 'reason'); every date move is audited with it."
        )
    for name in _SESSION_FIELDS:
        value = getattr(data, name)
        if value is not None:
            setattr(locked, name, value)
    session.add(locked)
    after = state(locked, _SESSION_FIELDS)
    if moved:
        audit(
            session,
            actor=actor,
            action="session.moved",
            entity_type="session",
            entity_id=locked.id,
            old={"planned_on": before["planned_on"]},
            new={"planned_on": after["planned_on"]},
            reason=data.reason,
        )
    rest = [name for name in _SESSION_FIELDS if name != "planned_on"]
    audit(
        session,
        actor=actor,
        action="session.updated",
        entity_type="session",
        entity_id=locked.id,
        old={k: before[k] for k in rest},
        new={k: after[k] for k in rest},
        reason=data.reason,
    )
    if before["actual_minutes"] != after["actual_minutes"]:
        attendance_service.reclassify(
            session,
            actor=actor,
            session_ids=[locked.id or 0],
            reason=data.reason or "the session's actual length was recorded",
        )
    return SessionPublic.model_validate(locked)


# --- enrolment ----------------------------------------------------------------------------


def _find_cohort(session: Session, *, cohort_id: int, actor: Principal, action: str) -> Cohort:
    cohort = session.get(Cohort, cohort_id)
    if cohort is None:
        raise cohort_missing(cohort_id)
    authorize(
        actor, action, Target(la_code=cohort.la_code), hidden=lambda: cohort_missing(cohort_id)
    )
    return cohort


def _already_enrolled(session: Session, *, urn: int) -> None:
    existing = session.exec(select(Enrolment).where(Enrolment.urn == urn)).first()
    if existing is not None:
        raise EnrolmentRefused(
            f"School {urn} is already enrolled in cohort {existing.cohort_id}.",
            urn=urn,
            reason="already_enrolled",
            cohort_id=existing.cohort_id,
        )


def _staff_attendees(cohort: Cohort, school: dict[str, Any]) -> list[Attendee]:
    return [
        Attendee(
            cohort_id=cohort.id or 0,
            kind="staff",
            staff_id=int(member["id"]),
            urn=int(school["urn"]),
            la_code=cohort.la_code,
            role=str(member["role"]),
            name=one_line(member.get("name") or "", 200),
        )
        for member in school.get("staff") or []
    ]


def _parse_time(value: Any) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def enrol(
    transactions: Transactions,
    *,
    cohort_id: int,
    urn: int,
    allocations: AllocationCache,
    recruitment: RecruitmentClient,
    actor: Principal,
) -> EnrolmentPublic:
    """Enrol a school if the contamination guard admits it (see :mod:`.guard`), with its staff
    from recruitment as the cohort's attendees."""
    with transactions() as session:
        cohort = _find_cohort(session, cohort_id=cohort_id, actor=actor, action="workshop.manage")
        _already_enrolled(session, urn=urn)
        cohort_la = cohort.la_code
    allocation = check_allocation(urn, allocations.allocation(urn))
    school = check_school(urn, upstream.school(recruitment, urn), cohort_la_code=cohort_la)
    try:
        with transactions() as session:
            cohort = _find_cohort(
                session, cohort_id=cohort_id, actor=actor, action="workshop.manage"
            )
            _already_enrolled(session, urn=urn)
            enrolment = Enrolment(
                cohort_id=cohort_id,
                urn=urn,
                la_code=cohort.la_code,
                school_name=one_line(school.get("name") or "", 300),
                pupils=school.get("pupils"),
                run_id=str(allocation.get("run_id") or "")[:100],
                allocated_at=_parse_time(allocation.get("allocated_at")),
                enrolled_by=actor.sub,
            )
            session.add(enrolment)
            attendees = _staff_attendees(cohort, school)
            session.add_all(attendees)
            audit(
                session,
                actor=actor,
                action="school.enrolled",
                entity_type="enrolment",
                entity_id=urn,
                new={
                    "cohort_id": cohort_id,
                    "urn": urn,
                    "arm": allocation.get("arm"),
                    "run_id": enrolment.run_id,
                    "attendees": len(attendees),
                },
            )
            session.flush()
            out = EnrolmentPublic.model_validate(enrolment)
            out.attendees = len(attendees)
            return out
    except IntegrityError:
        # Enrolled (or its staff taken) by a concurrent request between the check and the write.
        with transactions() as session:
            _already_enrolled(session, urn=urn)
        raise


def list_enrolments(session: Session, *, cohort: Cohort, page: PageParams) -> Page[EnrolmentPublic]:
    stmt = select(Enrolment).where(Enrolment.cohort_id == cohort.id)
    rows, count, cursor = paginate(session, stmt, key=col(Enrolment.urn), params=page)
    urns = [row.urn for row in rows]
    attendees = (
        dict(
            session.exec(
                select(Attendee.urn, func.count())
                .where(col(Attendee.urn).in_(urns), col(Attendee.active))
                .group_by(col(Attendee.urn))
            ).all()
        )
        if urns
        else {}
    )
    data = []
    for row in rows:
        out = EnrolmentPublic.model_validate(row)
        out.attendees = attendees.get(row.urn, 0)
        data.append(out)
    return Page(data=data, count=count, next_cursor=cursor)


def list_attendees(
    session: Session, *, cohort: Cohort, page: PageParams, urn: int | None
) -> Page[AttendeePublic]:
    stmt = select(Attendee).where(Attendee.cohort_id == cohort.id)
    if urn is not None:
        stmt = stmt.where(Attendee.urn == urn)
    rows, count, cursor = paginate(session, stmt, key=col(Attendee.id), params=page)
    return Page(
        data=[AttendeePublic.model_validate(r) for r in rows], count=count, next_cursor=cursor
    )


def refresh_attendees(
    transactions: Transactions,
    *,
    cohort_id: int,
    recruitment: RecruitmentClient,
    actor: Principal,
    reason: str | None = None,
) -> RefreshResult:
    """Bring the cohort's attendees in line with recruitment: staff added there since enrolment
    are added, changed names and roles updated, staff no longer listed marked inactive (their
    attendance stays); the Virtual School Head likewise; the schools' pupils updated."""
    with transactions() as session:
        cohort = _find_cohort(session, cohort_id=cohort_id, actor=actor, action="workshop.manage")
        la_code = cohort.la_code
        urns = list(
            session.exec(select(Enrolment.urn).where(Enrolment.cohort_id == cohort_id)).all()
        )
    schools = {urn: upstream.school(recruitment, urn) for urn in urns}
    la = upstream.local_authority(recruitment, la_code) or {}
    added = updated = deactivated = 0
    with transactions() as session:
        cohort = _find_cohort(session, cohort_id=cohort_id, actor=actor, action="workshop.manage")
        existing = {
            (a.kind, a.staff_id): a
            for a in session.exec(select(Attendee).where(Attendee.cohort_id == cohort_id)).all()
        }
        wanted: dict[tuple[str, int | None], Attendee] = {}
        for urn, school in schools.items():
            if school is None:
                continue
            for attendee in _staff_attendees(cohort, school):
                wanted[("staff", attendee.staff_id)] = attendee
            enrolment = session.exec(select(Enrolment).where(Enrolment.urn == urn)).first()
            if enrolment is not None:
                enrolment.pupils = school.get("pupils")
                enrolment.refreshed_at = utcnow()
                session.add(enrolment)
        head = _virtual_school_head(la)
        if head is not None:
            wanted[(VSH, None)] = Attendee(
                cohort_id=cohort_id, kind=VSH, la_code=la_code, role=VSH, name=head
            )
        now = utcnow()
        for key, fresh in wanted.items():
            current = existing.get(key)
            if current is None:
                session.add(fresh)
                added += 1
                continue
            if (current.name, current.role, current.active) != (fresh.name, fresh.role, True):
                old = {"role": current.role, "active": current.active}
                current.name, current.role, current.active = fresh.name, fresh.role, True
                updated += 1
                # Names are personal data: a changed name is applied, never audited.
                audit(
                    session,
                    actor=actor,
                    action="attendee.updated",
                    entity_type="attendee",
                    entity_id=current.id,
                    old=old,
                    new={"role": current.role, "active": True},
                )
            current.synced_at = now
            session.add(current)
        for key, current in existing.items():
            if key not in wanted and current.active:
                current.active = False
                current.synced_at = now
                session.add(current)
                deactivated += 1
                audit(
                    session,
                    actor=actor,
                    action="attendee.deactivated",
                    entity_type="attendee",
                    entity_id=current.id,
                    old={"active": True},
                    new={"active": False},
                    reason="no longer listed by recruitment",
                )
        audit(
            session,
            actor=actor,
            action="attendees.refreshed",
            entity_type="cohort",
            entity_id=cohort_id,
            new={"added": added, "updated": updated, "deactivated": deactivated},
            reason=reason,
        )
    return RefreshResult(
        cohort_id=cohort_id,
        schools=len(urns),
        added=added,
        updated=updated,
        deactivated=deactivated,
    )
