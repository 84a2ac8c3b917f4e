"""Cost items: category, one-off or recurring, an amount or hours × a rate, one enrolled
school's or programme-wide. Stored in whole pence (and hours in hundredths), listed with the
school's pupils (GIAS's count, from recruitment at enrolment or the last attendee refresh), so
that analytics can compute the cost per school and per pupil."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from sqlmodel import Session, col, select

from rlc_shared.audit import utcnow
from rlc_shared.auth import Principal
from rlc_shared.pagination import Page, PageParams, paginate
from workshops.auditing import audit, state
from workshops.errors import CostItemNotFound, CostRefused, InvalidChange
from workshops.models import CostItem, Enrolment
from workshops.schemas import CostItemCreate, CostItemPublic, CostItemUpdate

PENNY, HUNDREDTH = Decimal("0.01"), Decimal("0.01")
_FIELDS = [
    "category",
    "recurrence",
    "amount_pence",
    "hours_hundredths",
    "rate_pence",
    "urn",
    "description",
    "incurred_on",
]


def _units(value: Decimal | None) -> int | None:
    return None if value is None else int((value / PENNY).to_integral_value())


def _decimal(units: int | None) -> Decimal | None:
    return None if units is None else (Decimal(units) * PENNY).quantize(PENNY)


def cost_of(row: CostItem) -> Decimal:
    """The item's cost in pounds: its amount, or hours × rate rounded half up to the penny."""
    if row.amount_pence is not None:
        return (Decimal(row.amount_pence) * PENNY).quantize(PENNY)
    hours = Decimal(row.hours_hundredths or 0) * HUNDREDTH
    rate = Decimal(row.rate_pence or 0) * PENNY
    return (hours * rate).quantize(PENNY, rounding=ROUND_HALF_UP)


def _public(row: CostItem, enrolment: Enrolment | None) -> CostItemPublic:
    return CostItemPublic(
        id=row.id or 0,
        category=row.category,  # type: ignore[arg-type]
        recurrence=row.recurrence,  # type: ignore[arg-type]
        amount=_decimal(row.amount_pence),
        hours=_decimal(row.hours_hundredths),
        rate=_decimal(row.rate_pence),
        cost=cost_of(row),
        urn=row.urn,
        pupils=enrolment.pupils if enrolment is not None else None,
        la_code=enrolment.la_code if enrolment is not None else None,
        description=row.description,
        incurred_on=row.incurred_on,
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
    )


def _enrolments(session: Session, urns: list[int]) -> dict[int, Enrolment]:
    if not urns:
        return {}
    return {
        e.urn: e for e in session.exec(select(Enrolment).where(col(Enrolment.urn).in_(urns))).all()
    }


def _enrolled(session: Session, urn: int) -> Enrolment:
    enrolment = session.exec(select(Enrolment).where(Enrolment.urn == urn)).first()
    if enrolment is None:
        raise CostRefused(
            f"School {urn} is not enrolled in the programme; a school's costs are for enrolled "
            "(intervention) schools; record a cost shared by all of them without a URN."
        )
    return enrolment


def create_item(session: Session, *, data: CostItemCreate, actor: Principal) -> CostItemPublic:
    enrolment = _enrolled(session, data.urn) if data.urn is not None else None
    row = CostItem(
        category=data.category,
        recurrence=data.recurrence,
        amount_pence=_units(data.amount),
        hours_hundredths=_units(data.hours),
        rate_pence=_units(data.rate),
        urn=data.urn,
        description=data.description,
        incurred_on=data.incurred_on,
        created_by=actor.sub,
    )
    session.add(row)
    session.flush()
    audit(
        session,
        actor=actor,
        action="cost_item.created",
        entity_type="cost_item",
        entity_id=row.id,
        new=state(row, _FIELDS),
    )
    return _public(row, enrolment)


def update_item(
    session: Session, *, item_id: int, data: CostItemUpdate, actor: Principal
) -> CostItemPublic:
    """Correct an item; switching between an amount and hours × rate gives the other side."""
    row = session.get(CostItem, item_id, with_for_update=True)
    if row is None:
        raise CostItemNotFound(f"There is no cost item {item_id}; GET /costs lists them.")
    before = state(row, _FIELDS)
    if data.category is not None:
        row.category = data.category
    if data.recurrence is not None:
        row.recurrence = data.recurrence
    if data.description is not None:
        row.description = data.description
    if data.incurred_on is not None:
        row.incurred_on = data.incurred_on
    timed = data.hours is not None or data.rate is not None
    if data.amount is not None and timed:
        raise InvalidChange("Give an amount, or hours and a rate, not both.")
    if data.amount is not None:
        row.amount_pence, row.hours_hundredths, row.rate_pence = _units(data.amount), None, None
    elif timed:
        hours = _units(data.hours) if data.hours is not None else row.hours_hundredths
        rate = _units(data.rate) if data.rate is not None else row.rate_pence
        if hours is None or rate is None:
            raise InvalidChange("An item costed by time needs both hours and a rate.")
        row.amount_pence, row.hours_hundredths, row.rate_pence = None, hours, rate
    row.updated_at = utcnow()
    session.add(row)
    audit(
        session,
        actor=actor,
        action="cost_item.updated",
        entity_type="cost_item",
        entity_id=item_id,
        old=before,
        new=state(row, _FIELDS),
        reason=data.reason,
    )
    return _public(row, _enrolments(session, [row.urn] if row.urn else []).get(row.urn or 0))


def list_items(
    session: Session,
    *,
    page: PageParams,
    urn: int | None,
    category: str | None,
    programme_wide: bool | None,
) -> Page[CostItemPublic]:
    stmt = select(CostItem)
    if urn is not None:
        stmt = stmt.where(CostItem.urn == urn)
    if category is not None:
        stmt = stmt.where(CostItem.category == category)
    if programme_wide is not None:
        column = col(CostItem.urn)
        stmt = stmt.where(column.is_(None) if programme_wide else column.is_not(None))
    rows, count, cursor = paginate(session, stmt, key=col(CostItem.id), params=page)
    enrolments = _enrolments(session, sorted({r.urn for r in rows if r.urn is not None}))
    return Page(
        data=[_public(r, enrolments.get(r.urn) if r.urn else None) for r in rows],
        count=count,
        next_cursor=cursor,
    )


def get_item(session: Session, *, item_id: int) -> CostItemPublic:
    row = session.get(CostItem, item_id)
    if row is None:
        raise CostItemNotFound(f"There is no cost item {item_id}; GET /costs lists them.")
    return _public(row, _enrolments(session, [row.urn] if row.urn else []).get(row.urn or 0))
