"""School staff in the trial and their consent to data collection, and its withdrawal."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlmodel import Session, col, func, select

from recruitment.auditing import audit, staff_entity_id, state
from recruitment.errors import AlreadyWithdrawn, SchoolNotInTrial, WithdrawalAfterCutoff
from recruitment.models import School, StaffMember
from recruitment.schemas import StaffEmailMatch, StaffMatch, StaffMemberCreate
from recruitment.schools.service import WITHDRAWN
from rlc_shared.auth import Principal
from rlc_shared.emails import InvalidEmail, normalise_email
from rlc_shared.errors import Unprocessable

#: Audited fields: never the email (personal data); only whether one is held.
STAFF_FIELDS = [
    "urn",
    "name",
    "role",
    "data_collection_consent",
    "consented_on",
    "withdrawn_on",
    "withdrawal_covers",
    "withdrawal_reason",
]
ALL = "all"


def _audit(
    session: Session,
    member: StaffMember,
    *,
    action: str,
    before: dict | None,
    actor: Principal,
    reason: str | None = None,
) -> None:
    new = state(member, STAFF_FIELDS) | {"has_email": bool(member.email)}
    if before is not None:
        before = before | {"has_email": new["has_email"]}
    audit(
        session,
        actor=actor,
        action=action,
        entity_type="staff_member",
        entity_id=staff_entity_id(member.urn, member.id),
        old=before,
        new=new,
        reason=reason,
    )


def add_staff_member(
    session: Session, *, school: School, data: StaffMemberCreate, actor: Principal
) -> StaffMember:
    """Add a member of staff to a school that is in the trial."""
    if school.status is None or school.status == WITHDRAWN:
        raise SchoolNotInTrial(
            f"School {school.urn} is {'withdrawn' if school.status else 'not nominated'}; "
            "staff are recorded only for schools in the trial."
        )
    email = None
    if data.email and data.email.strip():
        try:
            email = normalise_email(data.email)
        except InvalidEmail as exc:
            raise Unprocessable(f"email: {exc}", code="invalid-email") from None
    member = StaffMember(urn=school.urn, name=data.name, role=data.role, email=email)
    session.add(member)
    session.flush()  # the id names the audit event
    _audit(session, member, action="staff_member.added", before=None, actor=actor)
    return member


def record_consent(
    session: Session,
    *,
    member: StaffMember,
    consented_on: dt.date,
    actor: Principal,
    today: dt.date,
) -> StaffMember:
    """A teacher's consent to data collection."""
    if member.withdrawn_on is not None:
        raise AlreadyWithdrawn(
            f"Staff member {member.id} withdrew on {member.withdrawn_on.isoformat()}; "
            "record a new staff member if they rejoin."
        )
    if consented_on > today:
        raise Unprocessable("consented_on: consent cannot be dated in the future.")
    before = state(member, STAFF_FIELDS)
    member.data_collection_consent = True
    member.consented_on = consented_on
    session.add(member)
    _audit(session, member, action="staff_member.consented", before=before, actor=actor)
    return member


def withdraw(
    session: Session,
    *,
    member: StaffMember,
    covers: Sequence[str] | str,
    reason: str | None,
    actor: Principal,
    today: dt.date,
    cutoff: dt.date,
) -> StaffMember:
    """A teacher withdraws (from ``covers``, or "all") today; refused after the cut-off."""
    if today > cutoff:
        raise WithdrawalAfterCutoff(
            f"Teachers could withdraw until {cutoff.isoformat()}; today is {today.isoformat()}, "
            "so the withdrawal cannot be recorded.",
            cutoff=cutoff.isoformat(),
        )
    if member.withdrawn_on is not None:
        raise AlreadyWithdrawn(
            f"Staff member {member.id} already withdrew on {member.withdrawn_on.isoformat()}."
        )
    scope = [ALL] if covers == ALL else sorted(set(covers))
    if not scope:
        raise Unprocessable("covers: say what the withdrawal covers, or 'all'.")
    before = state(member, STAFF_FIELDS)
    member.withdrawn_on = today
    member.withdrawal_covers = scope
    member.withdrawal_reason = reason
    if ALL in scope or "data_processing" in scope:
        member.data_collection_consent = False
    session.add(member)
    _audit(
        session, member, action="staff_member.withdrawn", before=before, actor=actor, reason=reason
    )
    return member


def staff_by_emails(session: Session, *, emails: list[str]) -> list[StaffEmailMatch]:
    """For each address, in order, the staff records that hold it (compared case-insensitively,
    after normalisation); one query. Addresses are never returned that the caller did not send."""
    keys: list[str | None] = []
    for raw in emails:
        try:
            keys.append(normalise_email(raw).casefold())
        except InvalidEmail:
            keys.append(None)
    wanted = sorted({k for k in keys if k})
    by_key: dict[str, list[StaffMatch]] = {}
    if wanted:
        rows = session.exec(
            select(StaffMember)
            .where(func.lower(StaffMember.email).in_(wanted))
            .order_by(col(StaffMember.id))
        ).all()
        for member in rows:
            by_key.setdefault((member.email or "").casefold(), []).append(
                StaffMatch.model_validate(member, from_attributes=True)
            )
    return [
        StaffEmailMatch(email=raw, staff=by_key.get(key, []) if key else [])
        for raw, key in zip(emails, keys, strict=True)
    ]
