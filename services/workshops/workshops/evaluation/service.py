"""Observations of sessions, case-study schools and their interviews, and the incentives owed to
control-group case-study schools.

Selecting a case study asks the randomisation service for the school's arm (either arm may be
selected; a control school is owed the incentive) and recruitment whether it is still in the
trial, and stops at the protocol's target (14 schools taking part, from the programme's data); scheduling an interview with a named member of staff asks recruitment whether they
withdrew from case-study interviews. Neither is asked with a transaction open.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from rlc_clients import RecruitmentClient
from rlc_shared.audit import utcnow
from rlc_shared.auth import Principal
from rlc_shared.db import Transactions
from rlc_shared.pagination import Page, PageParams, paginate
from workshops import upstream
from workshops.auditing import audit, state
from workshops.errors import (
    CaseStudyNotFound,
    CaseStudyRefused,
    CaseStudyTargetReached,
    IncentiveChangeRefused,
    IncentiveNotFound,
    InterviewNotFound,
    InterviewRefused,
    InvalidChange,
    ObservationNotFound,
)
from workshops.evaluation.checklist import FIDELITY_ITEMS, FIDELITY_KEYS, RATINGS, fidelity_score
from workshops.models import CaseStudy, CohortSession, Incentive, Interview, Observation
from workshops.programme_defaults import default_programme
from workshops.schemas import (
    ArmCounts,
    CaseStudyCreate,
    CaseStudyPublic,
    CaseStudySummary,
    Checklist,
    ChecklistItem,
    IncentivePublic,
    IncentiveUpdate,
    InterviewCreate,
    InterviewPublic,
    InterviewUpdate,
    ObservationCreate,
    ObservationPublic,
)
from workshops.upstream import AllocationCache

PENNY = Decimal("0.01")
#: What a teacher's withdrawal must cover for them not to be interviewed.
INTERVIEW_SCOPES = frozenset({"case_study_interviews", "all"})


def pence(amount: Decimal) -> int:
    return int((amount / PENNY).to_integral_value())


def pounds(value: int) -> Decimal:
    return (Decimal(value) * PENNY).quantize(PENNY)


# --- observations -------------------------------------------------------------------------


def checklist() -> Checklist:
    return Checklist(
        ratings=list(RATINGS),  # type: ignore[arg-type]
        items=[ChecklistItem(key=k, text=t) for k, t in FIDELITY_ITEMS],
    )


def record_observation(
    session: Session, *, cohort_session: CohortSession, data: ObservationCreate, actor: Principal
) -> ObservationPublic:
    unknown = sorted(set(data.ratings) - FIDELITY_KEYS)
    if unknown:
        raise InvalidChange(
            f"Not items of the fidelity checklist: {', '.join(unknown)}; GET /fidelity-checklist "
            "lists them."
        )
    ordered: dict[str, str] = {
        key: data.ratings[key] for key, _ in FIDELITY_ITEMS if key in data.ratings
    }
    row = Observation(
        session_id=cohort_session.id or 0,
        observer=data.observer,
        observed_on=data.observed_on or cohort_session.planned_on,
        ratings=ordered,
        notes=data.notes,
        fidelity_score=fidelity_score(ordered),
        recorded_by=actor.sub,
    )
    session.add(row)
    session.flush()
    audit(
        session,
        actor=actor,
        action="observation.recorded",
        entity_type="observation",
        entity_id=row.id,
        new=state(row, ["session_id", "observed_on", "ratings", "fidelity_score"]),
    )
    return ObservationPublic.model_validate(row)


def list_observations(
    session: Session, *, page: PageParams, session_id: int | None
) -> Page[ObservationPublic]:
    stmt = select(Observation)
    if session_id is not None:
        stmt = stmt.where(Observation.session_id == session_id)
    rows, count, cursor = paginate(session, stmt, key=col(Observation.id), params=page)
    return Page(
        data=[ObservationPublic.model_validate(r) for r in rows], count=count, next_cursor=cursor
    )


def get_observation(session: Session, *, observation_id: int) -> ObservationPublic:
    row = session.get(Observation, observation_id)
    if row is None:
        raise ObservationNotFound(f"There is no observation {observation_id}.")
    return ObservationPublic.model_validate(row)


# --- case studies -------------------------------------------------------------------------


def _incentive_public(row: Incentive) -> IncentivePublic:
    return IncentivePublic(
        id=row.id or 0,
        case_study_id=row.case_study_id,
        urn=row.urn,
        amount=pounds(row.amount_pence),
        status=row.status,  # type: ignore[arg-type]
        paid_on=row.paid_on,
        payment_reference=row.payment_reference,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _case_studies_public(session: Session, rows: list[CaseStudy]) -> list[CaseStudyPublic]:
    ids = [r.id for r in rows]
    counts: dict[int, int] = (
        dict(
            session.exec(
                select(Interview.case_study_id, func.count())
                .where(col(Interview.case_study_id).in_(ids))
                .group_by(col(Interview.case_study_id))
            ).all()
        )
        if ids
        else {}
    )
    incentives = (
        {
            i.case_study_id: i
            for i in session.exec(
                select(Incentive).where(col(Incentive.case_study_id).in_(ids))
            ).all()
        }
        if ids
        else {}
    )
    out = []
    for r in rows:
        incentive = incentives.get(r.id or 0)
        out.append(
            CaseStudyPublic(
                id=r.id or 0,
                urn=r.urn,
                la_code=r.la_code,
                arm=r.arm,  # type: ignore[arg-type]
                run_id=r.run_id,
                status=r.status,  # type: ignore[arg-type]
                reason=r.reason,
                selected_at=r.selected_at,
                selected_by=r.selected_by,
                withdrawn_at=r.withdrawn_at,
                interviews=counts.get(r.id or 0, 0),
                incentive=_incentive_public(incentive) if incentive is not None else None,
            )
        )
    return out


def _case_study(session: Session, *, case_study_id: int, lock: bool = False) -> CaseStudy:
    row = session.get(CaseStudy, case_study_id, with_for_update=lock or None)
    if row is None:
        raise CaseStudyNotFound(
            f"There is no case study {case_study_id}; GET /case-studies lists them."
        )
    return row


@dataclass(frozen=True)
class CaseStudyTarget:
    """How many case-study schools may be selected, and where that number comes from."""

    number: int
    source: str
    control_with_incentive: int


def case_study_target(configured: int | None) -> CaseStudyTarget:
    """The setting's target if one is set, else the programme's published one (14)."""
    plan = default_programme().case_studies
    if configured is None:
        return CaseStudyTarget(
            plan.target, "programme documents (programme_2021_22.json)", plan.control_with_incentive
        )
    return CaseStudyTarget(
        configured, "setting WORKSHOPS_CASE_STUDY_TARGET", plan.control_with_incentive
    )


def _selected_by_arm(session: Session) -> dict[tuple[str, str], int]:
    rows = session.exec(
        select(CaseStudy.status, CaseStudy.arm, func.count()).group_by(
            col(CaseStudy.status), col(CaseStudy.arm)
        )
    ).all()
    return {(status, arm): count for status, arm, count in rows}


def _within_target(session: Session, *, target: CaseStudyTarget) -> None:
    """409 once as many case studies are taking part as the target (withdrawn ones not counted:
    a school that withdrew may be replaced)."""
    counts = _selected_by_arm(session)
    intervention = counts.get(("selected", "intervention"), 0)
    control = counts.get(("selected", "control"), 0)
    selected = intervention + control
    if selected >= target.number:
        schools = "school" if target.number == 1 else "schools"
        raise CaseStudyTargetReached(
            f"The protocol selects {target.number} case-study {schools} and {selected} "
            f"{'is' if selected == 1 else 'are'} selected ({intervention} intervention, "
            f"{control} control); withdraw one (POST /case-studies/{{id}}/withdrawal) before "
            "selecting another school.",
            target=target.number,
            selected=selected,
        )


def _lock_case_studies(session: Session) -> None:
    """Serialise selections until this transaction ends, so two at once cannot both pass the
    target. PostgreSQL: a table lock that conflicts with itself and with any insert (reads go
    on). SQLite: the transaction began with ``BEGIN IMMEDIATE``, so it is the only writer."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"LOCK TABLE {CaseStudy.__tablename__} IN SHARE ROW EXCLUSIVE MODE"))


def case_study_summary(session: Session, *, target: CaseStudyTarget) -> CaseStudySummary:
    counts = _selected_by_arm(session)
    by_arm = ArmCounts(
        intervention=counts.get(("selected", "intervention"), 0),
        control=counts.get(("selected", "control"), 0),
    )
    selected = by_arm.intervention + by_arm.control
    return CaseStudySummary(
        target=target.number,
        target_source=target.source,
        selected=selected,
        remaining=max(target.number - selected, 0),
        withdrawn=sum(n for (status, _), n in counts.items() if status == "withdrawn"),
        by_arm=by_arm,
        control_with_incentive=target.control_with_incentive,
    )


def _not_yet_selected(session: Session, *, urn: int) -> None:
    existing = session.exec(select(CaseStudy).where(CaseStudy.urn == urn)).first()
    if existing is not None:
        raise CaseStudyRefused(
            f"School {urn} is already case study {existing.id} ({existing.status}).",
            case_study_id=existing.id,
        )


def select_case_study(
    transactions: Transactions,
    *,
    data: CaseStudyCreate,
    allocations: AllocationCache,
    recruitment: RecruitmentClient,
    incentive: Decimal,
    target: CaseStudyTarget,
    actor: Principal,
) -> CaseStudyPublic:
    """Select a randomised school (either arm) for a case study, up to the protocol's target; a
    control school is owed the incentive (the protocol's £1,500 unless configured otherwise)."""
    urn = data.urn
    with transactions() as session:
        _not_yet_selected(session, urn=urn)
        _within_target(session, target=target)
    allocation = allocations.allocation(urn)
    if allocation is None or allocation.get("test"):
        raise CaseStudyRefused(
            f"School {urn} has no live allocation; case-study schools are randomised schools "
            "(of either arm)."
        )
    if allocation.get("in_error"):
        raise CaseStudyRefused(
            f"School {urn}'s allocation is marked as made in error; it is not selected while "
            "that stands."
        )
    school = upstream.school(recruitment, urn)
    if school is None:
        raise CaseStudyRefused(f"The recruitment service does not know school {urn}.")
    if school.get("status") == "withdrawn" or school.get("withdrawn_on"):
        raise CaseStudyRefused(
            f"School {urn} has withdrawn from the trial; it cannot be a case study."
        )
    arm = str(allocation.get("arm"))
    try:
        with transactions() as session:
            _lock_case_studies(session)
            _not_yet_selected(session, urn=urn)
            _within_target(session, target=target)
            row = CaseStudy(
                urn=urn,
                la_code=str(school.get("la_code") or allocation.get("la_code") or ""),
                arm=arm,
                run_id=str(allocation.get("run_id") or ""),
                status="selected",
                reason=data.reason,
                selected_by=actor.sub,
            )
            session.add(row)
            session.flush()
            owed = None
            if arm == "control":
                owed = Incentive(
                    case_study_id=row.id or 0, urn=urn, amount_pence=pence(incentive), status="owed"
                )
                session.add(owed)
                session.flush()
            audit(
                session,
                actor=actor,
                action="case_study.selected",
                entity_type="case_study",
                entity_id=row.id,
                new={
                    "urn": urn,
                    "arm": arm,
                    "incentive_pence": owed.amount_pence if owed else None,
                },
                reason=data.reason,
            )
            return _case_studies_public(session, [row])[0]
    except IntegrityError:
        with transactions() as session:
            _not_yet_selected(session, urn=urn)
        raise


def list_case_studies(
    session: Session, *, page: PageParams, arm: str | None
) -> Page[CaseStudyPublic]:
    stmt = select(CaseStudy)
    if arm is not None:
        stmt = stmt.where(CaseStudy.arm == arm)
    rows, count, cursor = paginate(session, stmt, key=col(CaseStudy.id), params=page)
    return Page(data=_case_studies_public(session, list(rows)), count=count, next_cursor=cursor)


def get_case_study(session: Session, *, case_study_id: int) -> CaseStudyPublic:
    return _case_studies_public(session, [_case_study(session, case_study_id=case_study_id)])[0]


def withdraw_case_study(
    session: Session, *, case_study_id: int, reason: str, actor: Principal
) -> CaseStudyPublic:
    """The school no longer takes part: scheduled interviews are cancelled, an incentive not yet
    paid is cancelled (a paid one stays paid)."""
    row = _case_study(session, case_study_id=case_study_id, lock=True)
    if row.status == "withdrawn":
        raise CaseStudyRefused(f"Case study {case_study_id} is already withdrawn.")
    row.status, row.withdrawn_at = "withdrawn", utcnow()
    session.add(row)
    cancelled = 0
    for interview in session.exec(
        select(Interview).where(
            Interview.case_study_id == case_study_id, Interview.status == "scheduled"
        )
    ).all():
        interview.status, interview.updated_at = "cancelled", utcnow()
        session.add(interview)
        cancelled += 1
    incentive = session.exec(
        select(Incentive).where(Incentive.case_study_id == case_study_id)
    ).first()
    incentive_old = incentive.status if incentive is not None else None
    if incentive is not None and incentive.status == "owed":
        incentive.status, incentive.updated_at = "cancelled", utcnow()
        session.add(incentive)
    audit(
        session,
        actor=actor,
        action="case_study.withdrawn",
        entity_type="case_study",
        entity_id=case_study_id,
        old={"status": "selected", "incentive": incentive_old},
        new={
            "status": "withdrawn",
            "interviews_cancelled": cancelled,
            "incentive": incentive.status if incentive is not None else None,
        },
        reason=reason,
    )
    session.flush()
    return _case_studies_public(session, [row])[0]


# --- interviews ---------------------------------------------------------------------------


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _staff_member(school: dict[str, Any] | None, staff_id: int) -> dict[str, Any] | None:
    for member in (school or {}).get("staff") or []:
        if member.get("id") == staff_id:
            return member
    return None


def add_interview(
    transactions: Transactions,
    *,
    case_study_id: int,
    data: InterviewCreate,
    recruitment: RecruitmentClient,
    actor: Principal,
) -> InterviewPublic:
    """Schedule an interview (45-60 minutes) with a member of the case-study school's staff."""
    with transactions() as session:
        study = _case_study(session, case_study_id=case_study_id)
        if study.status != "selected":
            raise InterviewRefused(
                f"Case study {case_study_id} is withdrawn; no interview is scheduled for it."
            )
        urn = study.urn
    role = data.role
    if data.staff_id is not None:
        member = _staff_member(upstream.school(recruitment, urn), data.staff_id)
        if member is None:
            raise InterviewRefused(
                f"Staff member {data.staff_id} is not on school {urn}'s staff list in recruitment."
            )
        covers = set(member.get("withdrawal_covers") or [])
        if member.get("withdrawn_on") and covers & INTERVIEW_SCOPES:
            raise InterviewRefused(
                f"Staff member {data.staff_id} has withdrawn from case-study interviews "
                f"(on {member.get('withdrawn_on')}); they are not interviewed."
            )
        if role is not None and role != member.get("role"):
            raise InvalidChange(
                f"Staff member {data.staff_id} is recorded as {member.get('role')}, not {role}."
            )
        role = member.get("role")
    with transactions() as session:
        study = _case_study(session, case_study_id=case_study_id, lock=True)
        if study.status != "selected":
            raise InterviewRefused(f"Case study {case_study_id} is withdrawn.")
        row = Interview(
            case_study_id=case_study_id,
            role=str(role),
            staff_id=data.staff_id,
            scheduled_at=_aware(data.scheduled_at),
            duration_minutes=data.duration_minutes,
            status=data.status,
            created_by=actor.sub,
        )
        session.add(row)
        session.flush()
        audit(
            session,
            actor=actor,
            action="interview.scheduled",
            entity_type="interview",
            entity_id=row.id,
            new=state(
                row,
                ["case_study_id", "role", "staff_id", "scheduled_at", "duration_minutes", "status"],
            ),
        )
        return InterviewPublic.model_validate(row)


def list_interviews(session: Session, *, case_study_id: int) -> list[InterviewPublic]:
    _case_study(session, case_study_id=case_study_id)
    rows = session.exec(
        select(Interview)
        .where(Interview.case_study_id == case_study_id)
        .order_by(col(Interview.scheduled_at), col(Interview.id))
    ).all()
    return [InterviewPublic.model_validate(r) for r in rows]


def update_interview(
    session: Session, *, interview_id: int, data: InterviewUpdate, actor: Principal
) -> InterviewPublic:
    row = session.get(Interview, interview_id, with_for_update=True)
    if row is None:
        raise InterviewNotFound(f"There is no interview {interview_id}.")
    fields = ["scheduled_at", "duration_minutes", "status"]
    before = state(row, fields)
    if data.scheduled_at is not None:
        row.scheduled_at = _aware(data.scheduled_at)
    if data.duration_minutes is not None:
        row.duration_minutes = data.duration_minutes
    if data.status is not None:
        row.status = data.status
    row.updated_at = utcnow()
    session.add(row)
    audit(
        session,
        actor=actor,
        action="interview.updated",
        entity_type="interview",
        entity_id=interview_id,
        old=before,
        new=state(row, fields),
        reason=data.reason,
    )
    return InterviewPublic.model_validate(row)


# --- incentives ---------------------------------------------------------------------------


def list_incentives(
    session: Session, *, page: PageParams, status: str | None
) -> Page[IncentivePublic]:
    stmt = select(Incentive)
    if status is not None:
        stmt = stmt.where(Incentive.status == status)
    rows, count, cursor = paginate(session, stmt, key=col(Incentive.id), params=page)
    return Page(data=[_incentive_public(r) for r in rows], count=count, next_cursor=cursor)


def _incentive(session: Session, *, incentive_id: int, lock: bool = False) -> Incentive:
    row = session.get(Incentive, incentive_id, with_for_update=lock or None)
    if row is None:
        raise IncentiveNotFound(
            f"There is no incentive {incentive_id}; GET /incentives lists them."
        )
    return row


def get_incentive(session: Session, *, incentive_id: int) -> IncentivePublic:
    return _incentive_public(_incentive(session, incentive_id=incentive_id))


def update_incentive(
    session: Session, *, incentive_id: int, data: IncentiveUpdate, actor: Principal, today: dt.date
) -> IncentivePublic:
    """Record the payment (``paid``, with its date and reference), cancel or re-instate an unpaid
    incentive, or correct its amount while it is owed. A paid incentive stays paid."""
    row = _incentive(session, incentive_id=incentive_id, lock=True)
    fields = ["amount_pence", "status", "paid_on", "payment_reference"]
    before = state(row, fields)
    if row.status == "paid" and (
        (data.status is not None and data.status != "paid") or data.amount is not None
    ):
        raise IncentiveChangeRefused(
            f"Incentive {incentive_id} was paid on {row.paid_on}; a paid incentive is not "
            "cancelled or re-priced (only its payment reference or date can be corrected)."
        )
    if data.amount is not None:
        if row.status != "owed" and data.status in (None, row.status):
            raise IncentiveChangeRefused(
                f"Incentive {incentive_id} is {row.status}; only an owed amount is corrected."
            )
        row.amount_pence = pence(data.amount)
    if data.status is not None:
        row.status = data.status
    if data.payment_reference is not None:
        row.payment_reference = data.payment_reference
    if data.paid_on is not None:
        if row.status != "paid":
            raise InvalidChange("A payment date is only recorded with status 'paid'.")
        row.paid_on = data.paid_on
    if row.status == "paid" and row.paid_on is None:
        row.paid_on = today
    if row.status != "paid":
        row.paid_on = None
    row.updated_at = utcnow()
    session.add(row)
    audit(
        session,
        actor=actor,
        action="incentive.updated",
        entity_type="incentive",
        entity_id=incentive_id,
        old=before,
        new=state(row, fields),
        reason=data.reason,
    )
    return _incentive_public(row)
