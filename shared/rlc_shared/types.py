"""Request types that say what the trial's identifiers are, so bad input is a clear 422, never a
database error: a URN is a six-digit DfE number, a row id fits its column, a date-time is written
as a date-time (``?until=0`` is not 1970), a count is a number (``false`` is not 0)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BeforeValidator, Field, Strict

#: GIAS URNs are six-digit numbers (100000 is the first ever issued).
URN_MIN, URN_MAX = 100_000, 999_999
#: Integer primary keys: a 32-bit signed column on PostgreSQL.
ID_MAX = 2**31 - 1

_URN_TEXT = "the school's URN: its six-digit DfE number (GIAS), e.g. 100001"

Urn = Annotated[int, Strict(), Field(ge=URN_MIN, le=URN_MAX, description=_URN_TEXT)]
UrnPath = Annotated[int, Path(ge=URN_MIN, le=URN_MAX, description=_URN_TEXT, examples=[100001])]
UrnQuery = Annotated[
    int | None, Query(ge=URN_MIN, le=URN_MAX, description=_URN_TEXT, examples=[100001])
]
RowId = Annotated[int, Path(ge=1, le=ID_MAX, description="the record's id", examples=[1])]

#: Numbers and flags in JSON bodies: a person sending ``false`` or ``"12"`` is told, not guessed.
Int = Annotated[int, Strict()]
Bool = Annotated[bool, Strict()]

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _iso(value: Any) -> Any:
    if isinstance(value, str) and not _ISO_DATE.match(value.strip()):
        raise ValueError("write it as an ISO 8601 date-time, e.g. 2021-10-01T00:00:00Z")
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("write it as an ISO 8601 date-time, e.g. 2021-10-01T00:00:00Z")
    return value


def _iso_date(value: Any) -> Any:
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        raise ValueError("write it as an ISO 8601 date, e.g. 2021-10-01")
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("write it as an ISO 8601 date, e.g. 2021-10-01")
    return value


def _no_nul(value: Any) -> Any:
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    return value


#: Text from a form or a query: a NUL character is refused (PostgreSQL cannot store one).
Text = Annotated[str, BeforeValidator(_no_nul)]

IsoDateTime = Annotated[dt.datetime, BeforeValidator(_iso)]
IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]
