"""Microsoft Teams' attendance report, as "Download attendance list" saves it.

UTF-16 with a BOM, tab-separated, in sections::

    1. Summary                 label<TAB>value rows (Meeting title, Start time, Meeting duration...)
    2. Participants            Name, First Join, Last Leave, In-Meeting Duration, Email,
                               Participant ID (UPN), Role: one row per person
    3. In-Meeting Activities   Name, Join Time, Leave Time, Duration, Email, Role: one row per join

The 2021 variant opens with ``Meeting Summary`` and labels such as ``Meeting Start Time``, then a
table with ``Full Name``, ``Join Time`` and ``Leave Time``; it parses the same way. Intervals come
from the per-join table when there is one, else from each person's first join and last leave.
The older single-table layout (Joined/Left events) is in :mod:`.teams_legacy`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Literal

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

__all__ = [
    "NAME_ALIASES",
    "is_teams_section_header",
    "parse_teams_report",
    "preferred_order",
    "split_guest_marker",
    "table_kind",
]

NAME_ALIASES = ("Name", "Full Name", "Participant", "Display Name")
_PARTICIPANT_COLUMNS = {
    "name": NAME_ALIASES,
    "join": ("First Join", "First join time"),
    "leave": ("Last Leave", "Last leave time"),
    "duration": ("In-Meeting Duration", "Duration"),
    "email": ("Email",),
    "upn": ("Participant ID (UPN)", "Participant ID"),
    "role": ("Role",),
}
_ACTIVITY_COLUMNS = {
    "name": NAME_ALIASES,
    "join": ("Join Time",),
    "leave": ("Leave Time",),
    "duration": ("Duration", "In-Meeting Duration"),
    "email": ("Email",),
    "upn": ("Participant ID (UPN)", "Participant ID"),
    "role": ("Role",),
}
_SUMMARY_LABELS = {
    "meeting title": "topic",
    "title": "topic",
    "meeting id": "meeting_id",
    "attended participants": "participants",
    "total number of participants": "participants",
    "start time": "start",
    "meeting start time": "start",
    "end time": "end",
    "meeting end time": "end",
    "meeting duration": "duration",
}
_SECTION = re.compile(r"\d+\.\s*\S.*|meeting summary", re.IGNORECASE)
_NAME_KEYS = frozenset(alias.casefold() for alias in NAME_ALIASES)
_GUEST_MARKER = re.compile(r"(.*?\S)\s*\((?:guest|external|unverified)\)", re.IGNORECASE)

TableKind = Literal["participants", "activities"]
_TIME_COLUMNS: dict[TableKind, tuple[str, str]] = {
    "participants": ("First Join", "Last Leave"),
    "activities": ("Join Time", "Leave Time"),
}


def is_teams_section_header(row: Row) -> bool:
    """``1. Summary``, ``2. Participants``, ``Meeting Summary``: one field, nothing after it."""
    filled = [f for f in row.fields if f]
    return len(filled) == 1 and row.fields[0] == filled[0] and bool(_SECTION.fullmatch(filled[0]))


def split_guest_marker(name: str) -> tuple[str, bool | None]:
    """Teams shows guests as "Jane Smith (Guest)"/"(External)": the bare name, and True if marked."""
    marked = _GUEST_MARKER.fullmatch(name)
    return (marked.group(1), True) if marked else (name, None)


def preferred_order(stamps: list[Stamp]) -> tuple[DateOrder, str]:
    """Teams follows the downloader's locale: AM/PM times are US style, 24-hour times UK style."""
    if any(stamp.twelve_hour for stamp in stamps):
        return "month_first", "12-hour AM/PM times are written by US-style locales, month first"
    return "day_first", "24-hour times are written by UK-style locales, day first"


def table_kind(row: Row) -> TableKind | None:
    keys = header_keys(row)
    if not keys & _NAME_KEYS:
        return None
    if "first join" in keys or "first join time" in keys:
        return "participants"
    if "join time" in keys and "leave time" in keys:
        return "activities"
    return None


@dataclass(frozen=True, slots=True)
class _Entry:
    """One data row of either table, its date-times not yet resolved."""

    kind: TableKind
    line: int
    name: str
    email: str | None
    upn: str | None
    role: str | None
    join: Stamp
    leave: Stamp | None
    minutes: float | None


@dataclass
class _Sections:
    summary: dict[str, tuple[str, int]] = field(default_factory=dict)
    entries: list[_Entry] = field(default_factory=list)
    tables: set[TableKind] = field(default_factory=set)


def _entry(kind: TableKind, row: Row, columns: dict[str, int | None]) -> _Entry:
    join_column, leave_column = _TIME_COLUMNS[kind]
    join_text, leave_text = row.get(columns["join"]), row.get(columns["leave"])
    if not join_text:
        raise AttendanceReportError(f"the row has no {join_column}.", line=row.line)
    return _Entry(
        kind=kind,
        line=row.line,
        name=row.get(columns["name"]),
        email=row.get(columns["email"]) or None,
        upn=row.get(columns["upn"]) or None,
        role=row.get(columns["role"]) or None,
        join=parse_stamp(join_text, line=row.line, column=join_column),
        leave=parse_stamp(leave_text, line=row.line, column=leave_column) if leave_text else None,
        minutes=parse_duration(row.get(columns["duration"]), line=row.line, column="Duration"),
    )


def _read_sections(rows: list[Row]) -> _Sections:
    sections = _Sections()
    table: tuple[TableKind, dict[str, int | None]] | None = None
    for row in rows:
        if row.blank or is_teams_section_header(row):
            table = None  # a blank line or a section title ends a table
            continue
        kind = table_kind(row)
        if kind is not None:
            columns = _PARTICIPANT_COLUMNS if kind == "participants" else _ACTIVITY_COLUMNS
            table = (kind, find_columns(row, columns))
            sections.tables.add(kind)
        elif table is not None:
            sections.entries.append(_entry(table[0], row, table[1]))
        else:
            label = " ".join(row.fields[0].split()).casefold().rstrip(":")
            if label in _SUMMARY_LABELS and len(row.fields) > 1:
                sections.summary.setdefault(_SUMMARY_LABELS[label], (row.fields[1], row.line))
    return sections


@dataclass
class _Person:
    name: str
    email: str | None
    guest: bool | None
    role: str | None
    reported_total_minutes: float | None = None
    listed: _Entry | None = None  # the person's Participants row, if any
    rows: list[AttendanceRow] = field(default_factory=list)


class _Roster:
    """The people of the report, found again across its two tables.

    By address (Email, else the UPN) when the row has one. Else by the name shown, but only for a
    per-join row and only when exactly one person has that name: each Participants row is a
    person of its own, so two guests both called "iPad" stay two people (their unattributable
    per-join rows then form a person of their own rather than being guessed).
    """

    def __init__(self) -> None:
        self.people: list[_Person] = []
        self._by_address: dict[str, _Person] = {}
        self._by_name: dict[str, list[_Person]] = {}

    def person(self, entry: _Entry) -> _Person:
        name, guest = split_guest_marker(entry.name)
        addresses = [value.casefold() for value in (entry.email, entry.upn) if value]
        found = next((self._by_address[a] for a in addresses if a in self._by_address), None)
        if found is None and entry.kind == "activities":
            namesakes = self._by_name.get(name.casefold(), [])
            if addresses:  # a row with an address may only join a namesake who has none
                namesakes = [p for p in namesakes if p.email is None]
            found = namesakes[0] if len(namesakes) == 1 else None
        if found is None:
            found = _Person(name=name, email=None, guest=guest, role=entry.role)
            self.people.append(found)
            self._by_name.setdefault(name.casefold(), []).append(found)
        found.email = found.email or entry.email or _address(entry.upn)
        for address in addresses:
            self._by_address.setdefault(address, found)
        return found


def _address(upn: str | None) -> str | None:
    """Teams' UPN is the sign-in address of a member; use it when the Email column is empty."""
    return upn if upn and "@" in upn else None


def _summary_stamp(summary: dict[str, tuple[str, int]], key: str, column: str) -> Stamp | None:
    if key not in summary:
        return None
    value, line = summary[key]
    return parse_stamp(value, line=line, column=column)


def parse_teams_report(rows: list[Row], *, timezone: tzinfo | None = None) -> AttendanceReport:
    """Parse the rows of a sectioned Teams attendance report (see the module docstring)."""
    sections = _read_sections(rows)
    if not sections.entries:
        raise AttendanceReportError(
            "This Teams attendance report lists nobody: no 'Participants' or 'In-Meeting "
            "Activities' table with rows was found."
        )
    summary = sections.summary
    start = _summary_stamp(summary, "start", "Start time")
    end = _summary_stamp(summary, "end", "End time")
    declared = None
    if "duration" in summary:
        value, line = summary["duration"]
        declared = parse_duration(value, line=line, column="Meeting duration")
    entries = sections.entries
    stamps = [s for s in (start, end) if s is not None]
    stamps += [e.join for e in entries] + [e.leave for e in entries if e.leave is not None]
    preferred, because = preferred_order(stamps)
    order, reason = resolve_date_order(
        stamps=stamps,
        preferred=preferred,
        preferred_because=because,
        spans=[(e.join, e.leave) for e in entries if e.leave is not None],
        meeting_start=start,
        meeting_end=end,
        declared_minutes=declared,
    )
    count = summary.get("participants", ("", 0))[0]
    meeting = MeetingSummary(
        meeting_id=summary.get("meeting_id", ("", 0))[0] or None,
        topic=summary.get("topic", ("", 0))[0] or None,
        started_at=start.at(order, timezone) if start else None,
        ended_at=end.at(order, timezone) if end else None,
        declared_minutes=declared,
        declared_participants=int(count) if count.isdigit() else None,
    )
    fallback_leave = meeting.ended_at or max(s.at(order, timezone) for s in stamps)
    inferred: list[int] = []

    def attendance_row(entry: _Entry) -> AttendanceRow:
        joined_at = entry.join.at(order, timezone)
        left_at: datetime = entry.leave.at(order, timezone) if entry.leave else fallback_leave
        if entry.leave is None:
            inferred.append(entry.line)
        if left_at < joined_at:
            raise AttendanceReportError("the leave time is before the join time.", line=entry.line)
        return AttendanceRow(
            line=entry.line,
            joined_at=joined_at,
            left_at=left_at,
            reported_minutes=entry.minutes,
            left_at_inferred=entry.leave is None,
        )

    roster = _Roster()
    # Participants first, so the per-join rows attach to the people it lists.
    for entry in sorted(entries, key=lambda e: e.kind != "participants"):
        person = roster.person(entry)
        if entry.kind == "participants":
            person.reported_total_minutes = entry.minutes
            person.listed = entry
        else:
            person.rows.append(attendance_row(entry))
    only_listed: list[int] = []
    for person in roster.people:
        if not person.rows and person.listed is not None:
            person.rows.append(attendance_row(person.listed))
            if "activities" in sections.tables:
                only_listed.append(person.listed.line)

    warnings = []
    if inferred:
        warnings.append(
            f"{line_list(sorted(inferred))}: no leave time; the person is taken to have stayed "
            "until the meeting ended."
        )
    if only_listed:
        warnings.append(
            f"{line_list(only_listed)}: listed under Participants but with no In-Meeting "
            "Activities rows; their first join and last leave are used, which counts any time "
            "away in between."
        )
    return AttendanceReport(
        platform="teams",
        layout="teams_sections",
        meeting=meeting,
        participants=tuple(
            ReportParticipant(
                name=p.name,
                email=p.email,
                rows=tuple(sorted(p.rows, key=lambda r: (r.joined_at, r.line))),
                guest=p.guest,
                platform_role=p.role,
                reported_total_minutes=p.reported_total_minutes,
            )
            for p in roster.people
        ),
        date_order=order,
        date_order_reason=reason,
        warnings=tuple(warnings),
    )
