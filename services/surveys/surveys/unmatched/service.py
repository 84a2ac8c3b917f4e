"""The unmatched queue: responses no rule could link to a school, and the evaluator's decisions.

Resolving an item assigns a URN with a reason (audited). The decision is kept for the school
email (``manual_link``, by its hash): every response with that email, in any export or round, is
linked to the school now (``manual``), later exports link it the same way, and the other open
items with that email are resolved with it. The round's scales and response rates, computed from
the linked responses, include them from then on. The URN is checked with the recruitment
service first (it must be a school in the trial), outside any transaction.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlmodel import Session, col, select, update

from rlc_clients import RecruitmentClient
from rlc_shared.audit import utcnow
from rlc_shared.db import Transactions
from rlc_shared.errors import UpstreamError
from rlc_shared.pagination import Page, PageParams, paginate
from surveys.auditing import audit
from surveys.errors import DependencyUnavailable, SchoolNotInTrial, UnmatchedNotFound
from surveys.models import (
    Export,
    LinkKind,
    ManualLink,
    RoundName,
    SurveyResponse,
    UnmatchedResponse,
    UnmatchedStatus,
)
from surveys.schemas import ResolveOut, UnmatchedPublic


def public(item: UnmatchedResponse) -> UnmatchedPublic:
    return UnmatchedPublic.model_validate(item, from_attributes=True)


def list_unmatched(
    session: Session,
    *,
    page: PageParams,
    round: RoundName | None,
    status: UnmatchedStatus | None,
    export_id: int | None,
) -> Page[UnmatchedPublic]:
    stmt = select(UnmatchedResponse)
    if round is not None:
        stmt = stmt.where(UnmatchedResponse.round == round.value)
    if status is not None:
        stmt = stmt.where(UnmatchedResponse.status == status.value)
    if export_id is not None:
        stmt = stmt.where(UnmatchedResponse.export_id == export_id)
    rows, count, cursor = paginate(session, stmt, key=col(UnmatchedResponse.id), params=page)
    return Page(data=[public(r) for r in rows], count=count, next_cursor=cursor)


def _missing(item_id: int) -> UnmatchedNotFound:
    return UnmatchedNotFound(f"There is no unmatched response {item_id}.")


def get_item(session: Session, *, item_id: int, lock: bool = False) -> UnmatchedResponse:
    item = session.get(UnmatchedResponse, item_id, with_for_update=lock or None)
    if item is None:
        raise _missing(item_id)
    return item


def trial_school(recruitment: RecruitmentClient, *, urn: int) -> dict[str, Any]:
    """The school's record if it is in the trial; 422 otherwise, 503 if recruitment is down."""
    try:
        school = recruitment.school(urn)
    except UpstreamError as exc:
        raise DependencyUnavailable(
            "The recruitment service, which says whether the URN is a trial school, cannot "
            f"answer now ({exc.detail}); nothing was changed. Try again shortly."
        ) from None
    if school is None:
        raise SchoolNotInTrial(f"The recruitment service has no school with URN {urn}.")
    if school.get("status") is None:
        raise SchoolNotInTrial(
            f"School {urn} is not in the trial (it was never nominated), so responses cannot "
            "be linked to it."
        )
    return school


def resolve(
    transactions: Transactions,
    *,
    recruitment: RecruitmentClient,
    item_id: int,
    urn: int,
    reason: str,
    actor: Any,
) -> ResolveOut:
    """``POST /unmatched/{id}/resolve``: link the response (and its email's others) to ``urn``."""
    with transactions() as session:
        get_item(session, item_id=item_id)
    school = trial_school(recruitment, urn=urn)
    la_code = school.get("la_code")
    with transactions() as session:
        return apply_resolution(
            session, item_id=item_id, urn=urn, la_code=la_code, reason=reason, actor=actor
        )


def apply_resolution(
    session: Session,
    *,
    item_id: int,
    urn: int,
    la_code: str | None,
    reason: str,
    actor: Any,
) -> ResolveOut:
    item = get_item(session, item_id=item_id, lock=True)
    before = {"status": item.status, "resolved_urn": item.resolved_urn}
    now = utcnow()
    who = actor.sub
    email_hash = item.email_hash
    if email_hash is not None:
        link = session.get(ManualLink, email_hash, with_for_update=True)
        old_link = {"urn": link.urn} if link is not None else None
        if link is None:
            link = ManualLink(
                email_hash=email_hash, urn=urn, la_code=la_code, reason=reason, set_by=who
            )
        else:
            link.urn, link.la_code, link.reason, link.set_by, link.set_at = (
                urn,
                la_code,
                reason,
                who,
                now,
            )
        session.add(link)
        audit(
            session,
            actor=actor,
            action="manual_link.set",
            entity_type="manual_link",
            entity_id=email_hash,
            old=old_link,
            new={"urn": urn, "la_code": la_code},
            reason=reason,
        )
        same_email = col(SurveyResponse.school_email_hash) == email_hash
        same_item_email = col(UnmatchedResponse.email_hash) == email_hash
    else:
        same_email = col(SurveyResponse.id) == item.response_pk
        same_item_email = col(UnmatchedResponse.id) == item.id

    # The counters of the exports the responses belong to: from their link to manual.
    moved = session.exec(
        select(SurveyResponse.export_id, SurveyResponse.link_kind).where(
            same_email, col(SurveyResponse.urn).is_distinct_from(urn)
        )
    ).all()
    changes: Counter[tuple[int, str | None]] = Counter(moved)
    for (export_id, kind), n in changes.items():
        export = session.get(Export, export_id, with_for_update=True)
        if export is None:
            continue
        if kind is None:
            export.unmatched -= n
            export.linked += n
        elif kind != LinkKind.manual:
            name = f"links_{kind}"
            setattr(export, name, max(0, getattr(export, name) - n))
        if kind != LinkKind.manual:
            export.links_manual += n
        session.add(export)
    linked = session.exec(  # type: ignore[call-overload]
        update(SurveyResponse)
        .where(same_email)
        .values(urn=urn, la_code=la_code, link_kind=LinkKind.manual.value, updated_at=now)
    ).rowcount
    others = [
        i
        for i in session.exec(
            select(UnmatchedResponse.id).where(same_item_email, UnmatchedResponse.id != item.id)
        ).all()
        if i is not None
    ]
    session.exec(  # type: ignore[call-overload]
        update(UnmatchedResponse)
        .where(same_item_email)
        .values(
            status=UnmatchedStatus.resolved.value,
            resolved_urn=urn,
            resolved_at=now,
            resolved_by=who,
            resolution_reason=reason,
            updated_at=now,
        )
    )
    audit(
        session,
        actor=actor,
        action="unmatched.resolved",
        entity_type="unmatched_response",
        entity_id=item.id,
        old=before,
        new={
            "status": UnmatchedStatus.resolved,
            "resolved_urn": urn,
            "responses_linked": linked,
            "also_resolved": others,
        },
        reason=reason,
        diff=False,
    )
    session.flush()
    session.refresh(item)
    return ResolveOut(
        **public(item).model_dump(), responses_linked=int(linked or 0), also_resolved=others
    )
