"""Local authorities: expressions of interest, data sharing agreements, their Virtual School."""

from __future__ import annotations

import datetime as dt
from typing import BinaryIO

from sqlalchemy import bindparam
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from recruitment.auditing import audit, state
from recruitment.documents import require_document, store_document
from recruitment.errors import (
    InvalidUpload,
    LocalAuthorityAlreadyRegistered,
    LocalAuthorityNotFound,
    OverrideNotAllowed,
    RegistrationAfterDeadline,
)
from recruitment.models import LocalAuthority, VirtualSchool
from recruitment.schemas import (
    LocalAuthorityCreate,
    LocalAuthorityPublic,
    LocalAuthorityUpdate,
    VirtualSchoolIn,
    VirtualSchoolPublic,
)
from rlc_shared.audit import utcnow
from rlc_shared.auth import Principal
from rlc_shared.content import media_type
from rlc_shared.emails import InvalidEmail, normalise_email
from rlc_shared.errors import Forbidden, Unprocessable
from rlc_shared.pagination import Page, PageParams, paginate
from rlc_shared.policy import Target, authorize, permits, scope_filter, visibility
from rlc_shared.storage import ObjectStorage

LA_FIELDS = [
    "la_code",
    "name",
    "eoi_on",
    "eoi_contact_name",
    "late_override_reason",
    "target_schools",
    "dsa_signed_on",
    "dsa_reference",
    "dsa_document_key",
    "dsa_document_sha256",
]
VS_FIELDS = ["la_code", "head_name", "contact_phone"]


def _email_or_none(value: str | None, field: str) -> str | None:
    if value is None or not value.strip():
        return None
    try:
        return normalise_email(value)
    except InvalidEmail as exc:
        raise Unprocessable(f"{field}: {exc}", code="invalid-email") from None


def register(
    session: Session,
    *,
    data: LocalAuthorityCreate,
    actor: Principal,
    today: dt.date,
    deadline: dt.date,
) -> LocalAuthority:
    """Record an LA's expression of interest; after the deadline only with a manager's override.

    The deadline is checked against the day the registration reaches us (``today``), not the
    date the caller says the EOI was made, which a caller could back-date.
    """
    authorize(
        actor,
        "la.register",
        Target(la_code=data.la_code),
        hidden=lambda: Forbidden("A Virtual School registers only its own local authority."),
    )
    if session.get(LocalAuthority, data.la_code) is not None:
        raise LocalAuthorityAlreadyRegistered(f"Local authority {data.la_code} is registered.")
    eoi_on = data.eoi_on or today
    if eoi_on > today:
        raise Unprocessable("eoi_on: the expression of interest cannot be dated in the future.")
    override = data.late_override_reason
    if override and not permits(actor, "la.update"):
        raise OverrideNotAllowed("Only a trial manager can accept a late expression of interest.")
    if today > deadline and not override:
        raise RegistrationAfterDeadline(
            f"Expressions of interest closed on {deadline.isoformat()}; this one arrived on "
            f"{today.isoformat()}. A trial manager can accept it with a late_override_reason.",
            deadline=deadline.isoformat(),
        )
    la = LocalAuthority(
        la_code=data.la_code,
        name=data.name,
        eoi_on=eoi_on,
        eoi_contact_name=data.contact_name,
        eoi_contact_email=_email_or_none(data.contact_email, "contact_email"),
        late_override_reason=override if today > deadline else None,
        target_schools=data.target_schools,
        registered_by=actor.actor,
    )
    session.add(la)
    audit(
        session,
        actor=actor,
        action="local_authority.registered",
        entity_type="local_authority",
        entity_id=la.la_code,
        new=state(la, LA_FIELDS),
        reason=la.late_override_reason,
    )
    return la


def update(
    session: Session, *, la: LocalAuthority, data: LocalAuthorityUpdate, actor: Principal
) -> LocalAuthority:
    before = state(la, LA_FIELDS)
    for key, value in data.model_dump(exclude_unset=True).items():
        if value is not None:
            setattr(la, key, value)
    session.add(la)
    audit(
        session,
        actor=actor,
        action="local_authority.updated",
        entity_type="local_authority",
        entity_id=la.la_code,
        old=before,
        new=state(la, LA_FIELDS),
    )
    return la


def sign_data_sharing_agreement(
    session: Session,
    *,
    la: LocalAuthority,
    signed_on: dt.date,
    reference: str,
    document: BinaryIO,
    content_type: str | None,
    storage: ObjectStorage,
    actor: Principal,
    today: dt.date,
) -> LocalAuthority:
    """Record the signed DSA; the document goes to object storage first (an orphan if we fail)."""
    reference = reference.strip()
    if not reference or len(reference) > 100:
        raise InvalidUpload("reference: give the agreement's reference (at most 100 characters).")
    if signed_on > today:
        raise InvalidUpload("signed_on: the agreement cannot be signed in the future.")
    stored = store_document(
        storage,
        session=session,
        folder=f"dsa/{la.la_code}",
        stream=document,
        content_type=content_type,
    )
    before = state(la, LA_FIELDS)
    la.dsa_signed_on = signed_on
    la.dsa_reference = reference
    la.dsa_document_key = stored.key
    la.dsa_document_sha256 = stored.sha256
    la.dsa_content_type = media_type(content_type)
    session.add(la)
    audit(
        session,
        actor=actor,
        action="local_authority.dsa_signed",
        entity_type="local_authority",
        entity_id=la.la_code,
        old=before,
        new=state(la, LA_FIELDS),
    )
    return la


def get_virtual_school(session: Session, *, la_code: str) -> VirtualSchool | None:
    return session.exec(select(VirtualSchool).where(VirtualSchool.la_code == la_code)).first()


def set_virtual_school(
    session: Session, *, la: LocalAuthority, data: VirtualSchoolIn, actor: Principal
) -> VirtualSchool:
    """Create or replace the LA's one Virtual School."""
    vs = get_virtual_school(session, la_code=la.la_code)
    before = state(vs, VS_FIELDS) if vs is not None else None
    if vs is None:
        vs = VirtualSchool(la_code=la.la_code, head_name=data.head_name)
    vs.head_name = data.head_name
    vs.contact_email = _email_or_none(data.contact_email, "contact_email")
    vs.contact_phone = data.contact_phone
    vs.updated_at = utcnow()
    session.add(vs)
    audit(
        session,
        actor=actor,
        action="virtual_school.set",
        entity_type="local_authority",
        entity_id=la.la_code,
        old=before,
        new=state(vs, VS_FIELDS),
    )
    return vs


def dsa_document_key(la: LocalAuthority) -> str:
    return require_document(
        la.dsa_document_key, f"Local authority {la.la_code} has no signed agreement on file."
    )


def public_page(session: Session, las: list[LocalAuthority]) -> list[LocalAuthorityPublic]:
    """LAs with their Virtual School (one query for the whole page)."""
    codes = [la.la_code for la in las]
    schools = {
        vs.la_code: vs
        for vs in session.exec(
            select(VirtualSchool).where(col(VirtualSchool.la_code).in_(codes))
        ).all()
    }
    out = []
    for la in las:
        item = LocalAuthorityPublic.model_validate(la)
        vs = schools.get(la.la_code)
        item.virtual_school = VirtualSchoolPublic.model_validate(vs) if vs else None
        out.append(item)
    return out


def public(session: Session, la: LocalAuthority) -> LocalAuthorityPublic:
    return public_page(session, [la])[0]


# The hot read, prebuilt: the LA and its Virtual School in one round trip.
_LA = LocalAuthority.__table__  # type: ignore[attr-defined]
_VS = VirtualSchool.__table__  # type: ignore[attr-defined]
_VS_COLUMNS = [c.label(f"vs_{c.name}") for c in _VS.c]
_LA_WITH_VS = (
    core_select(_LA, *_VS_COLUMNS)
    .outerjoin(_VS, _VS.c.la_code == _LA.c.la_code)
    .where(_LA.c.la_code == bindparam("la_code"))
)


def la_record(session: Session, *, la_code: str, principal: Principal) -> LocalAuthorityPublic:
    """One registered LA with its Virtual School, if the token may read it (an LA out of scope
    is answered as an unregistered one)."""
    row = session.execute(_LA_WITH_VS, {"la_code": la_code}).mappings().first()
    if row is None:
        raise LocalAuthorityNotFound.for_code(la_code)
    authorize(
        principal,
        "la.read",
        Target(la_code=la_code),
        hidden=lambda: LocalAuthorityNotFound.for_code(la_code),
    )
    vs = {c.name: row[f"vs_{c.name}"] for c in _VS.c}
    return LocalAuthorityPublic.model_validate(
        {
            **{c.name: row[c.name] for c in _LA.c},
            "virtual_school": vs if vs["la_code"] is not None else None,
        }
    )


def list_local_authorities(
    session: Session, *, principal: Principal, page: PageParams
) -> Page[LocalAuthorityPublic]:
    """The registered LAs the token may read (a Virtual School: its own)."""
    stmt = select(LocalAuthority)
    condition = scope_filter(visibility(principal, "la.read"), la_code=col(LocalAuthority.la_code))
    if condition is not None:
        stmt = stmt.where(condition)
    rows, count, cursor = paginate(session, stmt, key=LocalAuthority.la_code, params=page)
    return Page(data=public_page(session, rows), count=count, next_cursor=cursor)
