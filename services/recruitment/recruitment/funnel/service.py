"""Recruitment funnel: per LA and overall, how many schools are at each stage and who is stuck."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session, col, func, select

from recruitment.errors import LocalAuthorityNotFound
from recruitment.models import LocalAuthority, School, SchoolStatus
from recruitment.schemas import Funnel, FunnelRow, StageCounts, StuckCounts
from rlc_shared.auth import Principal
from rlc_shared.policy import Target, authorize, visibility

STATUSES = [s.value for s in SchoolStatus]
NOMINATED, ELIGIBLE = SchoolStatus.nominated, SchoolStatus.eligible


def funnel_for(
    session: Session,
    *,
    principal: Principal,
    la_code: str | None,
    today: dt.date,
    consent_deadline: dt.date,
    stuck_after_days: int,
) -> Funnel:
    """The funnel the token may see: every LA, or (a Virtual School) its own LA's.

    An LA outside the token's scope is answered as an unregistered one.
    """
    vis = visibility(principal, "funnel.read")
    if not vis.everything and la_code is None:
        la_code = principal.la_code or ""
    if la_code is not None:
        authorize(
            principal,
            "funnel.read",
            Target(la_code=la_code),
            hidden=lambda: LocalAuthorityNotFound.for_code(la_code),
        )
    return funnel(
        session,
        today=today,
        consent_deadline=consent_deadline,
        stuck_after_days=stuck_after_days,
        la_code=la_code,
    )


def funnel(
    session: Session,
    *,
    today: dt.date,
    consent_deadline: dt.date,
    stuck_after_days: int,
    la_code: str | None = None,
) -> Funnel:
    """Counts by current status; "stuck": longer than ``stuck_after_days`` at one stage."""
    las_stmt = select(LocalAuthority).order_by(col(LocalAuthority.la_code))
    counts_stmt = (
        select(School.la_code, School.status, func.count())
        .where(col(School.status).is_not(None))
        .group_by(col(School.la_code), col(School.status))
    )
    threshold = dt.datetime.combine(
        today - dt.timedelta(days=stuck_after_days), dt.time.min, tzinfo=dt.UTC
    )
    stuck_nominated = (
        select(School.la_code, func.count())
        .where(School.status == NOMINATED, col(School.nominated_at) < threshold)
        .group_by(School.la_code)
    )
    stuck_eligible = (
        select(School.la_code, func.count())
        .where(School.status == ELIGIBLE, col(School.eligibility_decided_at) < threshold)
        .group_by(School.la_code)
    )
    if la_code is not None:
        las_stmt = las_stmt.where(LocalAuthority.la_code == la_code)
        counts_stmt = counts_stmt.where(School.la_code == la_code)
        stuck_nominated = stuck_nominated.where(School.la_code == la_code)
        stuck_eligible = stuck_eligible.where(School.la_code == la_code)

    rows: dict[str, FunnelRow] = {}
    for la in session.exec(las_stmt).all():
        rows[la.la_code] = FunnelRow(
            la_code=la.la_code,
            name=la.name,
            target_schools=la.target_schools,
            dsa_signed=la.dsa_signed_on is not None,
            in_trial=0,
            counts=StageCounts(),
            stuck=StuckCounts(),
        )

    def row(code: str) -> FunnelRow:
        # Schools nominated for an LA that has since gone from the register still count.
        return rows.setdefault(
            code,
            FunnelRow(
                la_code=code,
                name="(not registered)",
                target_schools=None,
                dsa_signed=False,
                in_trial=0,
                counts=StageCounts(),
                stuck=StuckCounts(),
            ),
        )

    for code, status, n in session.exec(counts_stmt).all():
        if status in STATUSES:
            setattr(row(code).counts, status, n)
            row(code).in_trial += n
    for code, n in session.exec(stuck_nominated).all():
        row(code).stuck.nominated = n
    for code, n in session.exec(stuck_eligible).all():
        row(code).stuck.eligible = n

    ordered = [rows[k] for k in sorted(rows)]
    overall = FunnelRow(
        la_code="ALL",
        name="All local authorities",
        target_schools=sum(r.target_schools or 0 for r in ordered),
        dsa_signed=bool(ordered) and all(r.dsa_signed for r in ordered),
        in_trial=sum(r.in_trial for r in ordered),
        counts=StageCounts(**{s: sum(getattr(r.counts, s) for r in ordered) for s in STATUSES}),
        stuck=StuckCounts(
            nominated=sum(r.stuck.nominated for r in ordered),
            eligible=sum(r.stuck.eligible for r in ordered),
        ),
    )
    return Funnel(
        today=today,
        consent_deadline=consent_deadline,
        days_to_consent_deadline=(consent_deadline - today).days,
        stuck_after_days=stuck_after_days,
        local_authorities=ordered,
        overall=overall,
    )
