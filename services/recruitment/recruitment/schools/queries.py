"""Reading schools: search within the token's scope, records, history, emails, and the shapes
the API returns (one query per kind of related row for a whole page, never one per school)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, or_
from sqlalchemy import select as core_select
from sqlmodel import Session, col, func, select

from recruitment.errors import NoSchoolWithEmail, SchoolNotFound
from recruitment.models import AuditEvent, School, SchoolEmail, SchoolStatus, StaffMember
from recruitment.schemas import (
    EmailMatch,
    HistoryEvent,
    RandomisableSchool,
    SchoolByEmail,
    SchoolEmailPublic,
    SchoolPublic,
    SchoolRecord,
    StaffMemberPublic,
)
from rlc_shared.auth import Principal
from rlc_shared.emails import InvalidEmail, normalise_email
from rlc_shared.errors import Unprocessable
from rlc_shared.pagination import Page, PageParams, paginate
from rlc_shared.policy import Target, Visibility, authorize, scope_filter, visibility
from rlc_shared.versions import VersionedCache

# Hot reads are prebuilt Core statements with bound parameters: building a statement costs more
# than running it, and loading ORM objects more than validating the response from the row.
_SCHOOL = School.__table__  # type: ignore[attr-defined]
_EMAIL = SchoolEmail.__table__  # type: ignore[attr-defined]
_STAFF = StaffMember.__table__  # type: ignore[attr-defined]
_SCHOOL_BY_URN = core_select(_SCHOOL).where(_SCHOOL.c.urn == bindparam("urn"))
_EMAILS_OF = (
    core_select(_EMAIL)
    .where(_EMAIL.c.urn == bindparam("urn"))
    .order_by(_EMAIL.c.valid_from.desc(), _EMAIL.c.id.desc())
)
_STAFF_OF = core_select(_STAFF).where(_STAFF.c.urn == bindparam("urn")).order_by(_STAFF.c.id)


#: Schools' records, once per version of the schools' data (any change to a school, its emails or
#: staff makes a new one): a record costs one query for the token instead of three.
RECORDS = VersionedCache("schools", size=4096)


def school_record(session: Session, *, urn: int, principal: Principal) -> SchoolRecord:
    """A school's full record (GIAS attributes, trial progress, emails, staff), if the token may
    read it; a school out of scope is answered as a missing one."""
    record = RECORDS.get_or_compute(session, urn, lambda: _load_record(session, urn))
    if record is None:
        raise SchoolNotFound.for_urn(urn)
    authorize(
        principal,
        "school.read",
        Target(la_code=record.la_code, urn=urn),
        hidden=lambda: SchoolNotFound.for_urn(urn),
    )
    return record


def _load_record(session: Session, urn: int) -> SchoolRecord | None:
    """Three prebuilt queries: the school, its GIAS emails, its staff."""
    row = session.execute(_SCHOOL_BY_URN, {"urn": urn}).mappings().first()
    if row is None:
        return None
    history = session.execute(_EMAILS_OF, {"urn": urn}).mappings().all()
    staff = session.execute(_STAFF_OF, {"urn": urn}).mappings().all()
    return SchoolRecord.model_validate(
        {
            **row,
            "gias_email": next((e["email"] for e in history if e["valid_to"] is None), None),
            "email_history": history,
            "staff": [{**m, "has_email": bool(m["email"])} for m in staff],
        }
    )


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


def find_by_email(session: Session, *, raw_email: str, principal: Principal) -> tuple[School, bool]:
    """The school whose current or earlier GIAS email this is, and whether it is current.

    A current address wins over an earlier one; among several (federated schools share one
    address), the most recently set, then the lowest URN. Only schools the token may read are
    considered: for anyone else an address of another school is answered exactly as one that no
    school ever had, so 404 cannot tell a school whose address it is.
    """
    try:
        key = normalise_email(raw_email).casefold()
    except InvalidEmail as exc:
        raise Unprocessable(str(exc), code="invalid-email") from None
    stmt = select(SchoolEmail).join(School, col(School.urn) == SchoolEmail.urn)
    condition = scope_filter(
        visibility(principal, "school.read"), la_code=col(School.la_code), urn=col(School.urn)
    )
    if condition is not None:
        stmt = stmt.where(condition)
    match = session.exec(
        stmt.where(SchoolEmail.email_key == key).order_by(
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


def _email_key(raw: str) -> str | None:
    try:
        return normalise_email(raw).casefold()
    except InvalidEmail:
        return None


def lookup_emails(session: Session, *, emails: list[str], principal: Principal) -> list[EmailMatch]:
    """For each address, in order, the school whose current or earlier GIAS email it is (among
    the schools the token may read), by the same rule as :func:`find_by_email`; one query."""
    keys = [_email_key(e) for e in emails]
    wanted = sorted({k for k in keys if k})
    stmt = (
        select(SchoolEmail, School.la_code)
        .join(School, col(School.urn) == SchoolEmail.urn)
        .where(col(SchoolEmail.email_key).in_(wanted))
    )
    condition = scope_filter(
        visibility(principal, "school.read"), la_code=col(School.la_code), urn=col(School.urn)
    )
    if condition is not None:
        stmt = stmt.where(condition)
    best: dict[str, tuple[Any, SchoolEmail, str]] = {}
    for email, la_code in session.exec(stmt).all() if wanted else []:
        # Current first, then the most recently set, then the lowest URN (find_by_email's order).
        rank = (email.valid_to is not None, -email.valid_from.timestamp(), email.urn)
        held = best.get(email.email_key)
        if held is None or rank < held[0]:
            best[email.email_key] = (rank, email, la_code)
    out = []
    for raw, key in zip(emails, keys, strict=True):
        hit = best.get(key) if key else None
        if hit is None:
            out.append(EmailMatch(email=raw, urn=None, match=None))
        else:
            _, email, la_code = hit
            out.append(
                EmailMatch(
                    email=raw,
                    urn=email.urn,
                    match="current" if email.valid_to is None else "historical",
                    la_code=la_code,
                )
            )
    return out


def public_page(session: Session, schools: list[School]) -> list[SchoolPublic]:
    emails = current_emails(session, urns=[s.urn for s in schools])
    return [
        SchoolPublic.model_validate(s).model_copy(update={"gias_email": emails.get(s.urn)})
        for s in schools
    ]


def public(session: Session, school: School) -> SchoolPublic:
    return public_page(session, [school])[0]


def staff_public(member: StaffMember) -> StaffMemberPublic:
    return StaffMemberPublic.model_validate(member).model_copy(
        update={"has_email": bool(member.email)}
    )


def staff_of(session: Session, *, urn: int) -> list[StaffMember]:
    return list(
        session.exec(
            select(StaffMember).where(StaffMember.urn == urn).order_by(col(StaffMember.id))
        ).all()
    )


def record(session: Session, school: School) -> SchoolRecord:
    """A school's full record: GIAS attributes, trial progress, emails and staff (two queries:
    the current email is the newest of the history)."""
    history = email_history(session, urn=school.urn)
    current = next((e.email for e in history if e.valid_to is None), None)
    return SchoolRecord.model_validate(school).model_copy(
        update={
            "gias_email": current,
            "email_history": [SchoolEmailPublic.model_validate(e) for e in history],
            "staff": [staff_public(m) for m in staff_of(session, urn=school.urn)],
        }
    )


def by_email(session: Session, *, raw_email: str, principal: Principal) -> SchoolByEmail:
    school, is_current = find_by_email(session, raw_email=raw_email, principal=principal)
    return SchoolByEmail(
        **public(session, school).model_dump(),
        email_match="current" if is_current else "historical",
    )


def scoped_schools(principal: Principal) -> Any:
    """The schools the token may read, as a statement to filter further."""
    condition = scope_filter(
        visibility(principal, "school.read"), la_code=col(School.la_code), urn=col(School.urn)
    )
    stmt = select(School)
    return stmt if condition is None else stmt.where(condition)


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
    return select(School).where(
        School.status == SchoolStatus.consented,
        School.eligible == True,  # noqa: E712
    )


def history(urn: int) -> Any:
    """The school's audit events, including its staff's (``<urn>/<id>``) and GIAS changes."""
    return select(AuditEvent).where(
        or_(
            (col(AuditEvent.entity_type) == "school") & (col(AuditEvent.entity_id) == str(urn)),
            (col(AuditEvent.entity_type) == "staff_member")
            & col(AuditEvent.entity_id).startswith(f"{urn}/"),
        )
    )


#: Pages of the school search as read, once per version of the schools' data.
PAGES = VersionedCache("schools", size=64)


def list_schools(
    session: Session, *, principal: Principal, page: PageParams, **filters: Any
) -> Page[SchoolPublic]:
    """Search the schools the token may see, ordered by URN (rows read with Core, the page's
    current emails in one more query; a page once per version of the schools' data)."""
    vis = visibility(principal, "school.read")
    key = (vis, tuple(sorted(filters.items())), page.limit, repr(page.after))
    return PAGES.get_or_compute(session, key, lambda: _schools_page(session, vis, page, filters))


def _schools_page(
    session: Session, vis: Visibility, page: PageParams, filters: dict[str, Any]
) -> Page[SchoolPublic]:
    condition = scope_filter(vis, la_code=_SCHOOL.c.la_code, urn=_SCHOOL.c.urn)
    stmt = filter_schools(
        core_select(_SCHOOL) if condition is None else core_select(_SCHOOL).where(condition),
        **filters,
    )
    rows, count, cursor = paginate(session, stmt, key=_SCHOOL.c.urn, params=page)
    emails = current_emails(session, urns=[r.urn for r in rows])
    return Page(
        data=[
            SchoolPublic.model_validate({**r._mapping, "gias_email": emails.get(r.urn)})
            for r in rows
        ],
        count=count,
        next_cursor=cursor,
    )


def list_randomisable(
    session: Session, *, page: PageParams, la_code: str | None
) -> Page[RandomisableSchool]:
    stmt = randomisable()
    if la_code:
        stmt = stmt.where(School.la_code == la_code)
    rows, count, cursor = paginate(session, stmt, key=School.urn, params=page)
    return Page(
        data=[RandomisableSchool.model_validate(s) for s in rows], count=count, next_cursor=cursor
    )


def history_page(session: Session, *, urn: int, page: PageParams) -> Page[HistoryEvent]:
    rows, count, cursor = paginate(session, history(urn), key=AuditEvent.id, params=page)
    return Page(
        data=[HistoryEvent.model_validate(e) for e in rows], count=count, next_cursor=cursor
    )
