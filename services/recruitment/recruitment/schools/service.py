"""Schools in the trial: nomination, eligibility, consent, randomisation, withdrawal, GIAS email.

The lifecycle only moves forward:

    (not nominated) -> nominated -> eligible | ineligible -> consented -> randomised
    and withdrawn from any status once nominated.

Re-assessment: a school's eligibility can be assessed again (eligible <-> ineligible) until it
consents, because the Virtual School's counts are often corrected after the first entry; once a
school has consented its eligibility is fixed (consent was given on that basis).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, BinaryIO

from sqlalchemy import or_
from sqlmodel import Session, col, func, select

from recruitment.auditing import audit, state
from recruitment.documents import store_document
from recruitment.eligibility import assess_eligibility
from recruitment.errors import (
    ConsentIncomplete,
    InvalidTransition,
    InvalidUpload,
    LocalAuthorityNotRegistered,
    NoSchoolWithEmail,
    RandomisationConflict,
)
from recruitment.models import AuditEvent, LocalAuthority, School, SchoolEmail
from rlc_shared.audit import utcnow
from rlc_shared.auth import Principal, Role
from rlc_shared.emails import InvalidEmail, normalise_email
from rlc_shared.errors import Unprocessable
from rlc_shared.storage import ObjectStorage

NOMINATED, ELIGIBLE, INELIGIBLE = "nominated", "eligible", "ineligible"
CONSENTED, RANDOMISED, WITHDRAWN = "consented", "randomised", "withdrawn"
STATUSES = (NOMINATED, ELIGIBLE, INELIGIBLE, CONSENTED, RANDOMISED, WITHDRAWN)

#: Where each status can go next (None: a GIAS school not yet nominated).
TRANSITIONS: dict[str | None, tuple[str, ...]] = {
    None: (NOMINATED,),
    NOMINATED: (ELIGIBLE, INELIGIBLE, WITHDRAWN),
    ELIGIBLE: (ELIGIBLE, INELIGIBLE, CONSENTED, WITHDRAWN),
    INELIGIBLE: (ELIGIBLE, INELIGIBLE, WITHDRAWN),
    CONSENTED: (RANDOMISED, WITHDRAWN),
    RANDOMISED: (WITHDRAWN,),
    WITHDRAWN: (),
}

LIFECYCLE_FIELDS = [
    "status",
    "nominated_at",
    "year56_social_worker_pupils",
    "year56_looked_after_pupils",
    "eligible",
    "eligibility_reasons",
    "looked_after_flag",
    "consent_head_teacher",
    "consent_on",
    "consent_random_allocation",
    "consent_evaluation",
    "consent_form_key",
    "consent_form_sha256",
    "randomisation_run_id",
    "arm",
    "withdrawn_on",
    "withdrawal_reason",
    "withdrawn_from_status",
]


def check_transition(school: School, requested: str) -> None:
    allowed = TRANSITIONS[school.status]
    if requested not in allowed:
        raise InvalidTransition(
            urn=school.urn, current=school.status, requested=requested, allowed=list(allowed)
        )


def _audit_change(
    session: Session,
    *,
    school: School,
    before: dict[str, Any],
    action: str,
    actor: Principal | str,
    reason: str | None = None,
) -> None:
    audit(
        session,
        actor=actor,
        action=action,
        entity_type="school",
        entity_id=school.urn,
        old=before,
        new=state(school, LIFECYCLE_FIELDS),
        reason=reason,
    )


def nominate(session: Session, *, school: School, actor: Principal) -> School:
    """A Virtual School (or a trial manager) puts one of its LA's schools forward."""
    check_transition(school, NOMINATED)
    if session.get(LocalAuthority, school.la_code) is None:
        raise LocalAuthorityNotRegistered(
            f"School {school.urn} belongs to local authority {school.la_code}, which has not "
            "registered an expression of interest; register the LA first."
        )
    before = state(school, LIFECYCLE_FIELDS)
    school.status = NOMINATED
    school.nominated_at = utcnow()
    school.nominated_by = actor.actor
    session.add(school)
    _audit_change(session, school=school, before=before, action="school.nominated", actor=actor)
    return school


def assess(
    session: Session,
    *,
    school: School,
    social_worker_pupils: int | None,
    looked_after_pupils: int | None,
    actor: Principal,
) -> School:
    """Record the Virtual School's counts and the eligibility decision with its reasons."""
    decision = assess_eligibility(
        phase=school.phase,
        status=school.gias_status,
        establishment_type=school.establishment_type,
        low_age=school.low_age,
        high_age=school.high_age,
        year56_social_worker_pupils=social_worker_pupils,
        year56_looked_after_pupils=looked_after_pupils,
    )
    check_transition(school, ELIGIBLE if decision.eligible else INELIGIBLE)
    before = state(school, LIFECYCLE_FIELDS)
    school.status = ELIGIBLE if decision.eligible else INELIGIBLE
    school.year56_social_worker_pupils = social_worker_pupils
    school.year56_looked_after_pupils = looked_after_pupils
    school.eligible = decision.eligible
    school.eligibility_reasons = list(decision.reasons)
    school.looked_after_flag = decision.looked_after_flag
    school.eligibility_decided_at = utcnow()
    session.add(school)
    _audit_change(
        session, school=school, before=before, action="school.eligibility_assessed", actor=actor
    )
    return school


def consent(
    session: Session,
    *,
    school: School,
    head_teacher: str,
    consent_on: dt.date,
    random_allocation: bool,
    evaluation: bool,
    form: BinaryIO,
    content_type: str | None,
    storage: ObjectStorage,
    actor: Principal,
    today: dt.date,
) -> School:
    """The head teacher's consent to random allocation and to the evaluation, with the form."""
    check_transition(school, CONSENTED)
    missing = [
        what
        for what, given in (("random allocation", random_allocation), ("evaluation", evaluation))
        if not given
    ]
    if missing:
        raise ConsentIncomplete(
            f"A school takes part only with consent to both random allocation and the "
            f"evaluation; consent to {' and '.join(missing)} was not given."
        )
    head_teacher = head_teacher.strip()
    if not head_teacher or len(head_teacher) > 200:
        raise InvalidUpload("head_teacher_name: give the head teacher's name (max 200 chars).")
    if consent_on > today:
        raise InvalidUpload("consent_date: consent cannot be dated in the future.")
    stored = store_document(
        storage, folder=f"consent/{school.urn}", stream=form, content_type=content_type
    )
    before = state(school, LIFECYCLE_FIELDS)
    school.status = CONSENTED
    school.consent_head_teacher = head_teacher
    school.consent_on = consent_on
    school.consent_random_allocation = True
    school.consent_evaluation = True
    school.consent_form_key = stored.key
    school.consent_form_sha256 = stored.sha256
    school.consent_form_content_type = (content_type or "").split(";")[0].strip().lower()
    school.consented_at = utcnow()
    session.add(school)
    _audit_change(session, school=school, before=before, action="school.consented", actor=actor)
    return school


def mark_randomised(
    session: Session, *, school: School, run_id: str, arm: str, test: bool, actor: Principal
) -> bool:
    """Record the randomisation service's allocation; True if something was recorded.

    Idempotent per run: the same run and arm again records nothing. Test-mode runs record nothing
    at all (not even an audit event): they must leave the trial exactly as it was.
    """
    if test:
        return False
    if school.randomisation_run_id == run_id and school.arm == arm:
        # A repeat (e.g. a retried notification), even if the school has withdrawn since.
        return False
    if school.randomisation_run_id is not None:
        if school.randomisation_run_id != run_id:
            raise RandomisationConflict(
                f"School {school.urn} was already randomised by run {school.randomisation_run_id}"
                f"; run {run_id} cannot randomise it again.",
                current_run_id=school.randomisation_run_id,
            )
        raise RandomisationConflict(
            f"Run {run_id} already allocated school {school.urn} to {school.arm}, not {arm}."
        )
    check_transition(school, RANDOMISED)
    before = state(school, LIFECYCLE_FIELDS)
    school.status = RANDOMISED
    school.randomisation_run_id = run_id
    school.arm = arm
    school.randomised_at = utcnow()
    session.add(school)
    _audit_change(session, school=school, before=before, action="school.randomised", actor=actor)
    return True


def withdraw(
    session: Session,
    *,
    school: School,
    reason: str,
    withdrawn_on: dt.date | None,
    actor: Principal,
    today: dt.date,
) -> School:
    """Withdraw a school from the trial, with the reason and the date."""
    check_transition(school, WITHDRAWN)
    when = withdrawn_on or today
    if when > today:
        raise Unprocessable("withdrawn_on: a withdrawal cannot be dated in the future.")
    before = state(school, LIFECYCLE_FIELDS)
    school.withdrawn_from_status = school.status
    school.status = WITHDRAWN
    school.withdrawn_on = when
    school.withdrawal_reason = reason
    session.add(school)
    _audit_change(
        session, school=school, before=before, action="school.withdrawn", actor=actor, reason=reason
    )
    return school


# --- GIAS email ---------------------------------------------------------------------------------


def current_email(session: Session, *, urn: int) -> SchoolEmail | None:
    return session.exec(
        select(SchoolEmail).where(SchoolEmail.urn == urn, col(SchoolEmail.valid_to).is_(None))
    ).first()


def current_emails(session: Session, *, urns: list[int]) -> dict[int, str]:
    """The current GIAS email of each of ``urns`` that has one (one query for a whole page)."""
    if not urns:
        return {}
    rows = session.exec(
        select(SchoolEmail.urn, SchoolEmail.email).where(
            col(SchoolEmail.urn).in_(urns), col(SchoolEmail.valid_to).is_(None)
        )
    ).all()
    return dict(rows)


def email_history(session: Session, *, urn: int) -> list[SchoolEmail]:
    return list(
        session.exec(
            select(SchoolEmail)
            .where(SchoolEmail.urn == urn)
            .order_by(col(SchoolEmail.valid_from).desc(), col(SchoolEmail.id).desc())
        ).all()
    )


def set_email(
    session: Session,
    *,
    urn: int,
    email: str,
    current: SchoolEmail | None,
    source: str,
    actor: Principal | str,
    reason: str | None = None,
    now: dt.datetime | None = None,
) -> bool:
    """Make ``email`` (already normalised) the school's GIAS email; False if it already is."""
    if current is not None and current.email == email:
        return False
    now = now or utcnow()
    old = None
    if current is not None:
        old = {"gias_email": current.email}
        current.valid_to = now
        session.add(current)
    session.add(
        SchoolEmail(
            urn=urn,
            email=email,
            email_key=email.casefold(),
            valid_from=now,
            source=source,
            set_by=getattr(actor, "actor", None) or str(actor),
        )
    )
    audit(
        session,
        actor=actor,
        action="school.gias_email_set",
        entity_type="school",
        entity_id=urn,
        old=old,
        new={"gias_email": email, "source": source},
        reason=reason,
    )
    return True


def set_email_by_manager(
    session: Session, *, school: School, raw_email: str, reason: str | None, actor: Principal
) -> bool:
    try:
        email = normalise_email(raw_email)
    except InvalidEmail as exc:
        raise Unprocessable(str(exc), code="invalid-email") from None
    current = current_email(session, urn=school.urn)
    return set_email(
        session,
        urn=school.urn,
        email=email,
        current=current,
        source="trial_manager",
        actor=actor,
        reason=reason,
    )


def find_by_email(session: Session, *, raw_email: str) -> tuple[School, bool]:
    """The school whose current or earlier GIAS email this is, and whether it is current.

    A current address wins over an earlier one; among several (federated schools share one
    address), the most recently set, then the lowest URN.
    """
    try:
        key = normalise_email(raw_email).casefold()
    except InvalidEmail as exc:
        raise Unprocessable(str(exc), code="invalid-email") from None
    match = session.exec(
        select(SchoolEmail)
        .where(SchoolEmail.email_key == key)
        .order_by(
            col(SchoolEmail.valid_to).is_(None).desc(),
            col(SchoolEmail.valid_from).desc(),
            col(SchoolEmail.urn),
        )
    ).first()
    if match is None:
        raise NoSchoolWithEmail("No school has, or has had, that GIAS email address.")
    school = session.get(School, match.urn)
    assert school is not None
    return school, match.valid_to is None


# --- queries --------------------------------------------------------------------------------------


def scoped_schools(principal: Principal) -> Any:
    """The schools the caller may see, as a statement to filter further."""
    stmt = select(School)
    wide = (Role.trial_manager, Role.evaluator, Role.delivery, Role.auditor, Role.service)
    if principal.has(*wide):
        return stmt
    conditions = []
    if principal.has(Role.virtual_school) and principal.la_code:
        conditions.append(col(School.la_code) == principal.la_code)
    if principal.has(Role.school) and principal.urn is not None:
        conditions.append(col(School.urn) == principal.urn)
    if not conditions:
        return stmt.where(School.urn == -1)  # no scope claim: nothing
    return stmt.where(or_(*conditions))


def filter_schools(
    stmt: Any,
    *,
    la_code: str | None = None,
    status: str | None = None,
    in_trial: bool | None = None,
    eligible: bool | None = None,
    name: str | None = None,
    urn: int | None = None,
    phase: str | None = None,
) -> Any:
    if la_code:
        stmt = stmt.where(School.la_code == la_code)
    if status:
        stmt = stmt.where(School.status == status)
    if in_trial is not None:
        stmt = stmt.where(
            col(School.status).is_not(None) if in_trial else col(School.status).is_(None)
        )
    if eligible is not None:
        stmt = stmt.where(School.eligible == eligible)
    if name:
        escaped = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(func.lower(School.name).like(f"%{escaped.lower()}%", escape="\\"))
    if urn is not None:
        stmt = stmt.where(School.urn == urn)
    if phase:
        stmt = stmt.where(School.phase == phase)
    return stmt


def randomisable() -> Any:
    """Consented, eligible, not withdrawn, not yet randomised."""
    return select(School).where(School.status == CONSENTED, School.eligible == True)  # noqa: E712


def history(urn: int) -> Any:
    """The school's audit events, including its staff's (``<urn>/<id>``) and GIAS changes."""
    return select(AuditEvent).where(
        or_(
            (col(AuditEvent.entity_type) == "school") & (col(AuditEvent.entity_id) == str(urn)),
            (col(AuditEvent.entity_type) == "staff_member")
            & col(AuditEvent.entity_id).startswith(f"{urn}/"),
        )
    )
