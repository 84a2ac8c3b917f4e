"""The programme and its sessions, created once from the published schedule
(:func:`workshops.programme_defaults.default_programme`, data with a source for every fact)."""

from __future__ import annotations

import logging

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, col, select

from rlc_shared.auth import Principal
from rlc_shared.db import transaction
from workshops.auditing import audit, state
from workshops.errors import ProgrammeNotReady, ProgrammeSessionNotFound
from workshops.models import Programme, ProgrammeSession
from workshops.programme_defaults import default_programme
from workshops.schemas import ProgrammePublic, ProgrammeSessionPublic, ProgrammeSessionUpdate

log = logging.getLogger("workshops.programme")
SYSTEM_ACTOR = "workshops-service"
_SESSION_FIELDS = ["facilitator", "mode", "planned_on", "duration_minutes"]


def ensure_programme(session: Session) -> Programme:
    """The programme of the published schedule's year, created with its sessions if missing."""
    schedule = default_programme()
    found = session.exec(
        select(Programme).where(Programme.academic_year == schedule.academic_year)
    ).first()
    if found is not None:
        return found
    programme = Programme(academic_year=schedule.academic_year)
    session.add(programme)
    session.flush()
    assert programme.id is not None
    for position, planned in enumerate(schedule.sessions, start=1):
        session.add(
            ProgrammeSession(
                programme_id=programme.id,
                key=planned.key,
                position=position,
                kind=planned.kind,
                number=planned.number,
                title=planned.title,
                mode=planned.mode,
                planned_on=planned.planned_date,
                duration_minutes=planned.duration_minutes,
                audience=list(planned.audience),
                sources=planned.source.model_dump(),
            )
        )
    audit(
        session,
        actor=SYSTEM_ACTOR,
        action="programme.created",
        entity_type="programme",
        entity_id=programme.id,
        new={"academic_year": programme.academic_year, "sessions": len(schedule.sessions)},
        reason="the published schedule (programme_2021_22.json)",
    )
    session.flush()
    return programme


def seed(engine: Engine) -> bool:
    """Create the programme at start-up if the database is ready for it (else the first write
    that needs it does). Two processes starting at once: one creates, the other finds it."""
    try:
        with transaction(engine) as session:
            ensure_programme(session)
    except IntegrityError:
        return True  # created meanwhile by another process
    except SQLAlchemyError:
        log.warning("the programme cannot be created yet (database not migrated?)")
        return False
    return True


def sessions_of(session: Session, *, programme: Programme) -> list[ProgrammeSession]:
    return list(
        session.exec(
            select(ProgrammeSession)
            .where(ProgrammeSession.programme_id == programme.id)
            .order_by(col(ProgrammeSession.position))
        ).all()
    )


def programme_public(session: Session) -> ProgrammePublic:
    """The programme; a read never creates it (start-up and readiness do, or the first write)."""
    programme = session.exec(
        select(Programme).where(Programme.academic_year == default_programme().academic_year)
    ).first()
    if programme is None:
        raise ProgrammeNotReady(
            "The programme is not set up yet; it is created once the database is migrated. "
            "Try again shortly."
        )
    sessions = sessions_of(session, programme=programme)
    return ProgrammePublic(
        id=programme.id or 0,
        academic_year=programme.academic_year,
        created_at=programme.created_at,
        sessions=[ProgrammeSessionPublic.model_validate(s) for s in sessions],
    )


def update_session(
    session: Session, *, session_id: int, data: ProgrammeSessionUpdate, actor: Principal
) -> ProgrammeSessionPublic:
    """Change the programme's template; cohorts created from now on get it, existing cohorts'
    sessions keep their own dates (move those with PATCH /sessions/{id})."""
    ensure_programme(session)
    planned = session.get(ProgrammeSession, session_id, with_for_update=True)
    if planned is None:
        raise ProgrammeSessionNotFound(
            f"The programme has no session {session_id}; GET /programme lists them."
        )
    before = state(planned, _SESSION_FIELDS)
    for name in _SESSION_FIELDS:
        value = getattr(data, name)
        if value is not None:
            setattr(planned, name, value)
    session.add(planned)
    audit(
        session,
        actor=actor,
        action="programme_session.updated",
        entity_type="programme_session",
        entity_id=planned.id,
        old=before,
        new=state(planned, _SESSION_FIELDS),
        reason=data.reason,
    )
    return ProgrammeSessionPublic.model_validate(planned)
