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
from dataclasses import dataclass
from typing import Any, BinaryIO

from sqlmodel import Session

from recruitment.auditing import audit, state
from recruitment.documents import require_document, store_document
from recruitment.eligibility import assess_eligibility
from recruitment.errors import (
    AllocationStatementInvalid,
    ConsentIncomplete,
    InvalidTransition,
    InvalidUpload,
    LocalAuthorityNotRegistered,
    RandomisationConflict,
    RandomisationKeysUnavailable,
)
from recruitment.models import LocalAuthority, School, SchoolEmail, SchoolStatus
from recruitment.schools.queries import current_email
from rlc_shared.audit import utcnow
from rlc_shared.auth import KeySet, Principal, verify_jws
from rlc_shared.content import media_type
from rlc_shared.emails import InvalidEmail, normalise_email
from rlc_shared.errors import Unauthorized, Unprocessable
from rlc_shared.storage import ObjectStorage

S = SchoolStatus
NOMINATED, ELIGIBLE, INELIGIBLE = S.nominated, S.eligible, S.ineligible
CONSENTED, RANDOMISED, WITHDRAWN = S.consented, S.randomised, S.withdrawn

#: Where each status can go next (None: a GIAS school not yet nominated).
TRANSITIONS: dict[str | None, tuple[SchoolStatus, ...]] = {
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
    "randomisation_log_index",
    "randomisation_entry_hash",
    "withdrawn_on",
    "withdrawal_reason",
    "withdrawn_from_status",
]


def check_transition(school: School, requested: SchoolStatus) -> None:
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
        storage,
        session=session,
        folder=f"consent/{school.urn}",
        stream=form,
        content_type=content_type,
    )
    before = state(school, LIFECYCLE_FIELDS)
    school.status = CONSENTED
    school.consent_head_teacher = head_teacher
    school.consent_on = consent_on
    school.consent_random_allocation = True
    school.consent_evaluation = True
    school.consent_form_key = stored.key
    school.consent_form_sha256 = stored.sha256
    school.consent_form_content_type = media_type(content_type)
    school.consented_at = utcnow()
    session.add(school)
    _audit_change(session, school=school, before=before, action="school.consented", actor=actor)
    return school


#: What the randomisation service signs for each allocation it notifies (its log's entry too).
STATEMENT_TYPE = "rlc.allocation"


@dataclass(frozen=True)
class VerifiedAllocation:
    """An allocation whose statement the randomisation service's key was checked to sign."""

    urn: int
    run_id: str
    arm: str
    test: bool
    #: Where the randomisation log holds it (the run.executed entry), as the statement says.
    entry_index: int | None
    entry_hash: str | None


def verify_allocation_statement(
    statement: str, *, keys: KeySet, urn: int, run_id: str, arm: str, test: bool
) -> VerifiedAllocation:
    """The allocation, if the randomisation service signed exactly this one.

    Only the randomisation service holds the key, and it signs only allocations its log holds, so
    an arm can never be set by hand (or by another service's token) with no log entry behind it.

    Checking may fetch the randomisation service's JWKS over HTTP (the first time, when the
    cached keys are stale or the ``kid`` is new), so it is called before any transaction is
    opened: it needs no database at all.
    """
    try:
        payload = verify_jws(statement, keys=keys)
    except ValueError as exc:
        raise AllocationStatementInvalid(
            f"The allocation statement was refused: {exc}; only the randomisation service can "
            "record an arm."
        ) from None
    except Unauthorized:
        # KeySet's answer when the JWKS cannot be fetched and no key is cached: about the
        # randomisation service's keys, not the caller's token, and worth retrying.
        raise RandomisationKeysUnavailable(
            "The randomisation service's public keys (its JWKS) could not be fetched to check "
            "the allocation statement; nothing was recorded. Try again shortly."
        ) from None
    expected = {"typ": STATEMENT_TYPE, "urn": urn, "run_id": run_id, "arm": arm, "test": test}
    differs = sorted(k for k, v in expected.items() if payload.get(k) != v)
    if differs:
        raise AllocationStatementInvalid(
            f"The signed allocation statement does not match this request ({', '.join(differs)} "
            "differ); nothing was recorded."
        )
    index, entry_hash = payload.get("entry_index"), payload.get("entry_hash")
    return VerifiedAllocation(
        urn=urn,
        run_id=run_id,
        arm=arm,
        test=test,
        entry_index=index if isinstance(index, int) and not isinstance(index, bool) else None,
        entry_hash=entry_hash if isinstance(entry_hash, str) else None,
    )


def consent_form_key(school: School) -> str:
    return require_document(
        school.consent_form_key, f"School {school.urn} has no signed consent form on file."
    )


def mark_randomised(
    session: Session, *, school: School, allocation: VerifiedAllocation, actor: Principal
) -> bool:
    """Record the randomisation service's allocation; True if something was recorded.

    ``allocation`` comes from :func:`verify_allocation_statement`, checked before the school
    was loaded (no transaction is open while the keys may be fetched). Idempotent per run: the
    same run and arm again records nothing. Test-mode runs record nothing at all (not even an
    audit event): they must leave the trial exactly as it was.
    """
    if allocation.urn != school.urn:
        raise AllocationStatementInvalid(
            f"The signed allocation statement is for school {allocation.urn}, not {school.urn}; "
            "nothing was recorded."
        )
    run_id, arm = allocation.run_id, allocation.arm
    if allocation.test:
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
    school.randomisation_log_index = allocation.entry_index
    school.randomisation_entry_hash = allocation.entry_hash
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
