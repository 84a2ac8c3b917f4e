"""Date-times and durations as the exports write them, and the day/month order of a file.

A numeric date such as ``10/11/2021`` is 11 October in a US-style export and 10 November in a
UK-style one, and nothing in the single value says which. So every date-time of a file is read
first as a :class:`Stamp` holding both readings, and one order is chosen for the whole file by
:func:`resolve_date_order`:

1. A reading that makes any date impossible (a month over 12, 31/02) rules that order out
   (``14/10/2021`` can only be day first). If each order is ruled out by some date, the file mixes
   the two and is refused.
2. If every date reads the same either way (``10/10/2021``), the order does not matter.
3. Otherwise the reading that keeps the file consistent wins: the summary's end after its start
   and agreeing with its stated duration, every join and leave within a day of the meeting, no
   leave before its join. A meeting that ran past midnight, or a file with several dates, decides
   it this way.
4. Failing all that, the platform's convention: Zoom writes month first; a Teams export with
   12-hour AM/PM times comes from a US-style locale (month first), one with 24-hour times from a
   UK-style locale (day first), the trial being in England.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from workshops.attendance_reports.model import AttendanceReportError, DateOrder
from workshops.attendance_reports.text import shown

__all__ = ["Stamp", "parse_duration", "parse_stamp", "resolve_date_order"]

ORDERS: tuple[DateOrder, DateOrder] = ("month_first", "day_first")
ORDER_LABEL: dict[DateOrder, str] = {"month_first": "month/day", "day_first": "day/month"}

# 11/16/2021 03:55:12 PM, 10/14/21, 3:58:21 PM, 14/10/2021, 15:58:21, 16/11/2021 15:55 (Excel).
_NUMERIC = re.compile(
    r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4}|\d{2}),?\s+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?"
    r"\s*([AaPp])\.?\s?[Mm]\.?"
    r"|"
    r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4}|\d{2}),?\s+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?"
)
_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:,?\s+|T)(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?")
# Newer ICU locales put a narrow no-break space before AM/PM; spreadsheets add no-break spaces.
_SPACES = str.maketrans({"\u202f": " ", "\u00a0": " "})
_DURATION = re.compile(r"(?:(\d+)\s*h)?\s*(?:(\d+)\s*m(?:in)?)?\s*(?:(\d+)\s*s)?", re.IGNORECASE)
_CLOCK_DURATION = re.compile(r"(\d+):([0-5]\d):([0-5]\d)")
# A wrong day/month reading moves a date by at least a day; an hour of slack absorbs rounding.
_DURATION_SLACK_MINUTES = 60
_WINDOW = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Stamp:
    """One date-time of the file with its month-first and day-first readings (None if impossible)."""

    line: int
    text: str
    month_first: datetime | None
    day_first: datetime | None
    twelve_hour: bool

    def reading(self, order: DateOrder) -> datetime | None:
        return self.month_first if order == "month_first" else self.day_first

    def at(self, order: DateOrder, timezone: tzinfo | None = None) -> datetime:
        """The reading under ``order`` (which :func:`resolve_date_order` guarantees exists)."""
        value = self.reading(order)
        if value is None:  # only reachable if a caller skipped resolve_date_order
            raise AttendanceReportError(f"{shown(self.text)} is not a date.", line=self.line)
        return value if timezone is None else value.replace(tzinfo=timezone)


def _date_or_none(year: int, month: int, day: int, time: tuple[int, int, int]) -> datetime | None:
    try:
        return datetime(year, month, day, *time)
    except ValueError:
        return None


def parse_stamp(text: str, *, line: int, column: str) -> Stamp:
    """Read one date-time field; raises ``AttendanceReportError`` naming the line and column."""
    value = " ".join(text.translate(_SPACES).split())
    example = "e.g. 11/16/2021 03:55:12 PM or 16/11/2021, 15:55:12"
    iso = _ISO.fullmatch(value)
    numeric = None if iso else _NUMERIC.fullmatch(value)
    if iso is None and numeric is None:
        raise AttendanceReportError(
            f"the {column} {shown(value)} is not a date and time as Zoom or Teams write them "
            f"({example}).",
            line=line,
        )
    if iso is not None:
        first, second_part, year = int(iso.group(2)), int(iso.group(3)), int(iso.group(1))
        hour, minute, second = int(iso.group(4)), int(iso.group(5)), int(iso.group(6) or 0)
        meridiem = None
    elif numeric is not None:
        offset = 0 if numeric.group(1) is not None else 7  # which alternative matched
        first, second_part, year, hour, minute = (
            int(numeric.group(offset + i)) for i in range(1, 6)
        )
        second = int(numeric.group(offset + 6) or 0)
        meridiem = numeric.group(7).casefold() if offset == 0 else None
        year += 2000 if year < 100 else 0  # Teams' en-US "10/14/21"
    if meridiem is not None:
        if not 1 <= hour <= 12:
            raise AttendanceReportError(
                f"the {column} {shown(value)} has an hour that a 12-hour clock cannot show.",
                line=line,
            )
        hour = hour % 12 + (12 if meridiem == "p" else 0)
    if hour > 23 or minute > 59 or second > 59:
        raise AttendanceReportError(
            f"the {column} {shown(value)} is not a time of day ({example}).", line=line
        )
    time = (hour, minute, second)
    if iso is not None:
        both = _date_or_none(year, first, second_part, time)
        month_first = day_first = both
    else:
        month_first = _date_or_none(year, first, second_part, time)
        day_first = _date_or_none(year, second_part, first, time)
    if month_first is None and day_first is None:
        raise AttendanceReportError(
            f"the {column} {shown(value)} is not a real date ({example}).", line=line
        )
    return Stamp(line, value, month_first, day_first, twelve_hour=meridiem is not None)


def parse_duration(text: str, *, line: int, column: str) -> float | None:
    """Minutes in a duration field: ``1h 2m 5s``, ``45m 3s``, ``12s``, ``01:02:05`` or ``62``.

    An empty field is None (unknown), not zero.
    """
    value = text.strip()
    if not value:
        return None
    match = _DURATION.fullmatch(value)
    if match is not None and any(match.groups()):
        hours, minutes, seconds = (int(group or 0) for group in match.groups())
        return hours * 60 + minutes + seconds / 60
    clock = _CLOCK_DURATION.fullmatch(value)
    if clock is not None:
        hours, minutes, seconds = (int(group) for group in clock.groups())
        return hours * 60 + minutes + seconds / 60
    try:
        minutes_value = float(value)
    except ValueError:
        minutes_value = -1.0
    if minutes_value >= 0:
        return minutes_value
    raise AttendanceReportError(
        f"the {column} {shown(value)} is not a duration (e.g. 1h 2m 5s, 45m 3s or 62).",
        line=line,
    )


def _other(order: DateOrder) -> DateOrder:
    return "day_first" if order == "month_first" else "month_first"


def _consistent(
    order: DateOrder,
    *,
    stamps: Sequence[Stamp],
    spans: Sequence[tuple[Stamp, Stamp]],
    meeting_start: Stamp | None,
    meeting_end: Stamp | None,
    declared_minutes: float | None,
) -> bool:
    if any(leave.at(order) < join.at(order) for join, leave in spans):
        return False
    if meeting_start is None or meeting_end is None:
        return True
    start, end = meeting_start.at(order), meeting_end.at(order)
    if end < start:
        return False
    if declared_minutes is not None:
        actual = (end - start).total_seconds() / 60
        if abs(actual - declared_minutes) > _DURATION_SLACK_MINUTES:
            return False
    return all(start - _WINDOW <= stamp.at(order) <= end + _WINDOW for stamp in stamps)


def resolve_date_order(
    *,
    stamps: Sequence[Stamp],
    preferred: DateOrder,
    preferred_because: str,
    spans: Sequence[tuple[Stamp, Stamp]] = (),
    meeting_start: Stamp | None = None,
    meeting_end: Stamp | None = None,
    declared_minutes: float | None = None,
) -> tuple[DateOrder, str]:
    """The day/month order of the file and why (see the module docstring for the rule).

    ``stamps`` is every date-time of the file; ``spans`` the (join, leave) pairs.
    """
    impossible = {
        order: next((s for s in stamps if s.reading(order) is None), None) for order in ORDERS
    }
    mf_witness, df_witness = impossible["month_first"], impossible["day_first"]
    if mf_witness is not None and df_witness is not None:
        raise AttendanceReportError(
            f"The dates of this file are written in two orders: {shown(df_witness.text)} on line "
            f"{df_witness.line} can only be month/day, {shown(mf_witness.text)} on line "
            f"{mf_witness.line} only day/month. Upload the report as the platform exported it, "
            "without editing it in a spreadsheet."
        )
    for order in ORDERS:
        witness = impossible[_other(order)]
        if witness is not None:
            return order, (
                f"read as {ORDER_LABEL[order]}: {witness.text} on line {witness.line} cannot be "
                f"{ORDER_LABEL[_other(order)]}"
            )
    if all(s.month_first == s.day_first for s in stamps):
        return preferred, "every date in the file reads the same either way"
    consistent = [
        order
        for order in ORDERS
        if _consistent(
            order,
            stamps=stamps,
            spans=spans,
            meeting_start=meeting_start,
            meeting_end=meeting_end,
            declared_minutes=declared_minutes,
        )
    ]
    if len(consistent) == 1:
        return consistent[0], (
            f"read as {ORDER_LABEL[consistent[0]]}: only that reading agrees with the meeting's "
            "start, end and duration and keeps every leave after its join"
        )
    return preferred, f"read as {ORDER_LABEL[preferred]}: {preferred_because}"
