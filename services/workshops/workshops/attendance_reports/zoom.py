"""Zoom's participant report (Reports > Usage > Participants, exported as CSV).

The file may open with the meeting summary (a header row ``Meeting ID,Topic,Start Time,...``, one
value row and a blank line), then comes the participant table: one row per join, so a person who
left and rejoined has several rows. The columns differ between Zoom versions (``Name (Original
Name)`` or ``Name (original name)``, ``User Email`` or ``Email``, ``Guest``, ``Recording
Consent``, ``In Waiting Room``...), so they are found by name and the rest ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import tzinfo

from workshops.attendance_reports.datetimes import (
    Stamp,
    parse_duration,
    parse_stamp,
    resolve_date_order,
)
from workshops.attendance_reports.model import (
    AttendanceReport,
    AttendanceReportError,
    AttendanceRow,
    DateOrder,
    MeetingSummary,
    ReportParticipant,
)
from workshops.attendance_reports.text import Row, find_columns, header_keys, line_list

__all__ = ["is_zoom_participant_header", "parse_zoom_report"]

_NAME_ALIASES = (
    "Name (Original Name)",
    "User Name (Original Name)",
    "Name",
    "User Name",
    "Participant",
    "Display Name",
)
_PARTICIPANT_COLUMNS = {
    "name": _NAME_ALIASES,
    "email": ("User Email", "Email", "Attendee Email"),
    "join": ("Join Time",),
    "leave": ("Leave Time",),
    "duration": ("Duration (Minutes)", "Duration"),
    "guest": ("Guest",),
    "waiting": ("In Waiting Room",),
}
_SUMMARY_COLUMNS = {
    "meeting_id": ("Meeting ID",),
    "topic": ("Topic",),
    "start": ("Start Time",),
    "end": ("End Time",),
    "duration": ("Duration (Minutes)", "Duration"),
    "participants": ("Participants",),
}
_NAME_KEYS = frozenset(alias.casefold() for alias in _NAME_ALIASES)
_RENAMED = re.compile(r"(.*?\S)\s*\(([^()]*\S[^()]*)\)")
# Zoom rounds a row's duration up to the minute; a larger shortfall means merged rejoins.
_DURATION_SHORTFALL_MINUTES = 2.0


def is_zoom_participant_header(row: Row) -> bool:
    keys = header_keys(row)
    return "join time" in keys and bool(keys & _NAME_KEYS)


_YES_NO = {"yes": True, "y": True, "true": True, "no": False, "n": False, "false": False}


def _yes_no(value: str) -> bool | None:
    return _YES_NO.get(value.strip().casefold())


def _summary(rows: list[Row], end: int) -> tuple[dict[str, int | None], Row] | None:
    """The summary header's columns and its value row, if the file opens with one."""
    for index in range(end):
        if "meeting id" in header_keys(rows[index]):
            values = next((r for r in rows[index + 1 : end] if not r.blank), None)
            if values is None:
                raise AttendanceReportError(
                    "the meeting summary header has no row of values under it.",
                    line=rows[index].line,
                )
            return find_columns(rows[index], _SUMMARY_COLUMNS), values
    return None


@dataclass
class _MeetingFields:
    """The summary's fields other than its date-times (read before the date order is known)."""

    meeting_id: str | None = None
    topic: str | None = None
    declared_minutes: float | None = None
    declared_participants: int | None = None


@dataclass(frozen=True, slots=True)
class _ZoomRow:
    row: Row
    join: Stamp
    leave: Stamp | None
    minutes: float | None


def _parse_summary(
    rows: list[Row], header_at: int
) -> tuple[_MeetingFields, Stamp | None, Stamp | None]:
    fields = _MeetingFields()
    summary = _summary(rows, header_at)
    if summary is None:
        return fields, None, None
    columns, values = summary
    meeting_id = values.get(columns["meeting_id"]) or None
    if meeting_id is not None and meeting_id.replace(" ", "").isdigit():
        meeting_id = meeting_id.replace(" ", "")  # Zoom shows "812 3456 7890"
    fields.meeting_id = meeting_id
    fields.topic = values.get(columns["topic"]) or None
    start_text, end_text = values.get(columns["start"]), values.get(columns["end"])
    start = parse_stamp(start_text, line=values.line, column="Start Time") if start_text else None
    end = parse_stamp(end_text, line=values.line, column="End Time") if end_text else None
    fields.declared_minutes = parse_duration(
        values.get(columns["duration"]), line=values.line, column="Duration (Minutes)"
    )
    count = values.get(columns["participants"])
    fields.declared_participants = int(count) if count.isdigit() else None
    return fields, start, end


def _parse_rows(rows: list[Row], columns: dict[str, int | None]) -> list[_ZoomRow]:
    parsed = []
    for row in rows:
        if row.blank:
            continue
        join_text, leave_text = row.get(columns["join"]), row.get(columns["leave"])
        if not join_text:
            raise AttendanceReportError("the row has no Join Time.", line=row.line)
        join = parse_stamp(join_text, line=row.line, column="Join Time")
        leave = parse_stamp(leave_text, line=row.line, column="Leave Time") if leave_text else None
        minutes = parse_duration(row.get(columns["duration"]), line=row.line, column="Duration")
        parsed.append(_ZoomRow(row, join, leave, minutes))
    return parsed


@dataclass
class _Person:
    name: str
    email: str | None
    original_name: str | None = None
    guests: list[bool] = field(default_factory=list)
    rows: list[AttendanceRow] = field(default_factory=list)

    def participant(self) -> ReportParticipant:
        minutes = [row.reported_minutes for row in self.rows]
        return ReportParticipant(
            name=self.name,
            email=self.email,
            rows=tuple(self.rows),
            original_name=self.original_name,
            # A guest only if every row that says anything says Yes.
            guest=all(self.guests) if self.guests else None,
            reported_total_minutes=(
                sum(m for m in minutes if m is not None) if None not in minutes else None
            ),
        )


def parse_zoom_report(rows: list[Row], *, timezone: tzinfo | None = None) -> AttendanceReport:
    """Parse the rows of a Zoom participant report (see the module docstring)."""
    header_at = next((i for i, row in enumerate(rows) if is_zoom_participant_header(row)), None)
    if header_at is None:
        raise AttendanceReportError(
            "This Zoom file has no participant table: no line has the 'Name (Original Name)' and "
            "'Join Time' columns. Export the participants report from Zoom's Usage reports."
        )
    header = rows[header_at]
    columns = find_columns(header, _PARTICIPANT_COLUMNS)
    if columns["leave"] is None:
        raise AttendanceReportError(
            "the Zoom participant table has a 'Join Time' column but no 'Leave Time' column.",
            line=header.line,
        )
    renamed_column = "original name" in header.get(columns["name"]).casefold()
    fields, start, end = _parse_summary(rows, header_at)
    parsed = _parse_rows(rows[header_at + 1 :], columns)

    stamps = [s for s in (start, end) if s is not None]
    stamps += [p.join for p in parsed] + [p.leave for p in parsed if p.leave is not None]
    order: DateOrder
    order, reason = resolve_date_order(
        stamps=stamps,
        preferred="month_first",
        preferred_because="Zoom writes dates month first (MM/DD/YYYY)",
        spans=[(p.join, p.leave) for p in parsed if p.leave is not None],
        meeting_start=start,
        meeting_end=end,
        declared_minutes=fields.declared_minutes,
    )
    meeting = MeetingSummary(
        meeting_id=fields.meeting_id,
        topic=fields.topic,
        started_at=start.at(order, timezone) if start else None,
        ended_at=end.at(order, timezone) if end else None,
        declared_minutes=fields.declared_minutes,
        declared_participants=fields.declared_participants,
    )
    latest = max((s.at(order, timezone) for s in stamps), default=None)
    fallback_leave = meeting.ended_at or latest

    people: dict[tuple[str, str], _Person] = {}
    inferred: list[int] = []
    short: list[int] = []
    for p in parsed:
        line = p.row.line
        joined_at = p.join.at(order, timezone)
        left_at = p.leave.at(order, timezone) if p.leave else fallback_leave
        if p.leave is None:
            inferred.append(line)
        if left_at is None or left_at < joined_at:
            raise AttendanceReportError("the Leave Time is before the Join Time.", line=line)
        span = (left_at - joined_at).total_seconds() / 60
        if p.leave and p.minutes is not None and span - p.minutes > _DURATION_SHORTFALL_MINUTES:
            short.append(line)
        name, original = p.row.get(columns["name"]), None
        renamed = _RENAMED.fullmatch(name) if renamed_column else None
        if renamed is not None:
            name, original = renamed.group(1), renamed.group(2).strip()
        email = p.row.get(columns["email"]) or None
        # One person, several rows: by address when Zoom has one, else by the name shown.
        key = ("email", email.casefold()) if email else ("name", name.casefold())
        person = people.setdefault(key, _Person(name=name, email=email))
        person.original_name = person.original_name or original
        guest = _yes_no(p.row.get(columns["guest"]))  # None without the column
        if guest is not None:
            person.guests.append(guest)
        person.rows.append(
            AttendanceRow(
                line=line,
                joined_at=joined_at,
                left_at=left_at,
                reported_minutes=p.minutes,
                in_waiting_room=_yes_no(p.row.get(columns["waiting"])) is True,
                left_at_inferred=p.leave is None,
            )
        )

    warnings = []
    if inferred:
        warnings.append(
            f"{line_list(inferred)}: no Leave Time; the person is taken to have stayed until the "
            "meeting ended."
        )
    if short:
        warnings.append(
            f"{line_list(short)}: the reported duration is shorter than the time between join and "
            "leave, as when Zoom's 'Show unique users' merges a person's rejoins into one row; "
            "attendance is computed from the join and leave times and may be overstated there."
        )
    return AttendanceReport(
        platform="zoom",
        layout="zoom_participants",
        meeting=meeting,
        participants=tuple(person.participant() for person in people.values()),
        date_order=order,
        date_order_reason=reason,
        warnings=tuple(warnings),
    )
