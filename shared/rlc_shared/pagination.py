"""Limit/cursor pagination: stable under inserts, capped page sizes."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy import BigInteger, ColumnElement, Integer, String
from sqlmodel import Session, func, select

from rlc_shared.errors import BadRequest

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    data: list[T]
    count: int | None = None
    next_cursor: str | None = None


class PageParams(BaseModel):
    limit: int
    after: Any | None = None


_BAD_CURSOR = "The cursor is not one this API returned; start again without it."


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Any:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(_BAD_CURSOR) from exc
    if value is None:
        raise BadRequest(_BAD_CURSOR)
    return value


def _checked_key_value(value: Any, key: Any) -> Any:
    """The cursor's value if it can be compared with ``key``'s column, else 400.

    A tampered cursor (a string for an integer key, ``{}``, ``true``, a number beyond the
    column's range) would otherwise reach the database and fail there.
    """
    column_type = getattr(key, "type", None)
    if isinstance(column_type, Integer):
        limit = 2**63 if isinstance(column_type, BigInteger) else 2**31
        if isinstance(value, int) and not isinstance(value, bool) and -limit <= value < limit:
            return value
    elif isinstance(column_type, String):
        if isinstance(value, str) and len(value) <= (column_type.length or 1000):
            return value
    raise BadRequest(_BAD_CURSOR)


async def page_params(
    request: Request,
    limit: Annotated[int | None, Query(ge=1, description="page size (capped)")] = None,
    cursor: Annotated[str | None, Query(description="next_cursor from the previous page")] = None,
) -> PageParams:
    settings = request.app.state.settings
    size = min(limit or settings.default_page_size, settings.max_page_size)
    return PageParams(limit=size, after=decode_cursor(cursor) if cursor else None)


PageDep = Annotated[PageParams, Depends(page_params)]


def paginate(
    session: Session,
    statement: Any,
    *,
    key: ColumnElement[Any] | Any,
    params: PageParams,
    with_count: bool = True,
) -> tuple[list[Any], int | None, str | None]:
    """Keyset pagination on a unique, ordered ``key`` column."""
    count = None
    if with_count:
        count = session.exec(select(func.count()).select_from(statement.subquery())).one()
    if params.after is not None:
        statement = statement.where(key > _checked_key_value(params.after, key))
    rows = list(session.exec(statement.order_by(key).limit(params.limit + 1)).all())
    next_cursor = None
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        last = rows[-1]
        name = str(key.key)
        value = getattr(last, name) if hasattr(last, name) else last[0]
        next_cursor = encode_cursor(value)
    return rows, count, next_cursor
