"""Teams' older attendance list: one table of events, ``Full Name``, ``User Action``, ``Timestamp``.

Each row is one event: ``Joined``, ``Left`` or ``Joined before`` (the person was already in the
meeting when the list started). Events are paired per person in time order into (join, leave)
intervals. A second join while already in (another device) is absorbed: the interval closes when
the last device leaves. A join with no leave lasts until the last timestamp of the file, which
is the nearest this layout comes to a meeting end; a leave with no join before it starts at the
first timestamp. Both are flagged as warnings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from workshops.attendance_reports.datetimes import Stamp, parse_stamp, resolve_date_order
from workshops.attendance_reports.model import (
    AttendanceReport,
    AttendanceReportError,
    AttendanceRow,
    MeetingSummary,
    ReportParticipant,
)
from workshops.attendance_reports.teams import NAME_ALIASES, preferred_order, split_guest_marker
from workshops.attendance_reports.text import Row, find_columns, header_keys, line_list

__all__ = ["is_teams_legacy_header", "parse_teams_legacy_report"]

_COLUMNS = {
    "name": NAME_ALIASES,
    "action": ("User Action", "Action"),
    "timestamp": ("Timestamp",),
    "email": ("Email",),
}
_JOINS = frozenset({"joined", "joined before"})
_LEAVES = frozenset({"left"})


def is_teams_legacy_header(row: Row) -> bool:
    keys = header_keys(row)
    return "timestamp" in keys and ("user action" in keys or "action" in keys)


@dataclass(frozen=True, slots=True)
class _Event:
    line: int
    joins: bool
    at: Stamp


@dataclass
class _Person:
    name: str
    email: str | None
    guest: bool | None
    events: list[_Event] = field(default_factory=list)


def _read_events(rows: list[Row]) -> list[_Person]:
    header_at = next(i for i, row in enumerate(rows) if is_teams_legacy_header(row))
    columns = find_columns(rows[header_at], _COLUMNS)
    if columns["name"] is None:
        raise AttendanceReportError(
            "the Teams attendance list has no 'Full Name' column.", line=rows[header_at].line
        )
    people: dict[str, _Person] = {}
    for row in rows[header_at + 1 :]:
        if row.blank:
            continue
        action = " ".join(row.get(columns["action"]).split()).casefold()
        if action not in _JOINS | _LEAVES:
            # The value is not quoted back: in a damaged row it could be someone's name.
            raise AttendanceReportError(
                "the User Action is not 'Joined', 'Joined before' or 'Left'.", line=row.line
            )
        text = row.get(columns["timestamp"])
        if not text:
            raise AttendanceReportError("the row has no Timestamp.", line=row.line)
        stamp = parse_stamp(text, line=row.line, column="Timestamp")
        name, guest = split_guest_marker(row.get(columns["name"]))
        email = row.get(columns["email"]) or None
        key = f"email:{email.casefold()}" if email else f"name:{name.casefold()}"
        person = people.setdefault(key, _Person(name=name, email=email, guest=guest))
        person.events.append(_Event(row.line, action in _JOINS, stamp))
    if not people:
        raise AttendanceReportError("This Teams attendance list has a header but no events.")
    return list(people.values())


def parse_teams_legacy_report(
    rows: list[Row], *, timezone: tzinfo | None = None
) -> AttendanceReport:
    """Parse the rows of Teams' older Joined/Left attendance list (see the module docstring)."""
    people = _read_events(rows)
    stamps = [event.at for person in people for event in person.events]
    preferred, because = preferred_order(stamps)
    order, reason = resolve_date_order(
        stamps=stamps, preferred=preferred, preferred_because=because
    )
    times = [stamp.at(order, timezone) for stamp in stamps]
    first, last = min(times), max(times)

    no_leave: list[int] = []
    no_join: list[int] = []
    participants = []
    for person in people:
        events = sorted(person.events, key=lambda e: (e.at.at(order), e.line))
        rows_out: list[AttendanceRow] = []
        inside = 0  # devices in the meeting
        opened: tuple[int, datetime] | None = None
        for event in events:
            at = event.at.at(order, timezone)
            if event.joins:
                inside += 1
                if opened is None:
                    opened = (event.line, at)
            elif inside > 0:
                inside -= 1
                if inside == 0 and opened is not None:
                    rows_out.append(AttendanceRow(line=opened[0], joined_at=opened[1], left_at=at))
                    opened = None
            elif not rows_out:  # left without having joined: in before the list began
                no_join.append(event.line)
                rows_out.append(AttendanceRow(line=event.line, joined_at=first, left_at=at))
            # else: a repeated Left after the person had already left; nothing to close.
        if opened is not None:
            no_leave.append(opened[0])
            rows_out.append(
                AttendanceRow(
                    line=opened[0], joined_at=opened[1], left_at=last, left_at_inferred=True
                )
            )
        participants.append(
            ReportParticipant(
                name=person.name, email=person.email, rows=tuple(rows_out), guest=person.guest
            )
        )

    warnings = []
    if no_leave:
        warnings.append(
            f"{line_list(sorted(no_leave))}: a join with no matching 'Left'; the person is taken "
            "to have stayed until the last timestamp of the list."
        )
    if no_join:
        warnings.append(
            f"{line_list(sorted(no_join))}: a 'Left' with no join before it; the person is taken "
            "to have been in from the first timestamp of the list."
        )
    return AttendanceReport(
        platform="teams",
        layout="teams_legacy",
        meeting=MeetingSummary(),
        participants=tuple(participants),
        date_order=order,
        date_order_reason=reason,
        warnings=tuple(warnings),
    )
