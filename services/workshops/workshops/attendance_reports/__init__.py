"""Attendance reports exported by the video platform, one per session, parsed into who was in when.

:func:`parse_attendance_report` takes the uploaded bytes and recognises the platform from the
content, never the file name (people rename files, and both platforms' exports end in .csv):

- Zoom's participant report (UTF-8 CSV): :mod:`.zoom`;
- Teams' attendance report (UTF-16 TSV in sections): :mod:`.teams`;
- Teams' older Joined/Left list (UTF-16 TSV): :mod:`.teams_legacy`.

How dates such as 10/11/2021 are read is decided once per file: :mod:`.datetimes`.

A file that cannot be used raises :class:`AttendanceReportError`, whose message tells the
uploader what was found and on which line, and never contains an attendee's name or address.
"""

from __future__ import annotations

from datetime import tzinfo

from workshops.attendance_reports.model import (
    AttendanceReport,
    AttendanceReportError,
    AttendanceRow,
    DateOrder,
    Layout,
    MeetingSummary,
    Platform,
    ReportParticipant,
)
from workshops.attendance_reports.teams import (
    is_teams_section_header,
    parse_teams_report,
    table_kind,
)
from workshops.attendance_reports.teams_legacy import (
    is_teams_legacy_header,
    parse_teams_legacy_report,
)
from workshops.attendance_reports.text import (
    Row,
    decode_report,
    delimiter_of,
    header_keys,
    read_rows,
)
from workshops.attendance_reports.zoom import is_zoom_participant_header, parse_zoom_report

__all__ = [
    "AttendanceReport",
    "AttendanceReportError",
    "AttendanceRow",
    "DateOrder",
    "Layout",
    "MeetingSummary",
    "Platform",
    "ReportParticipant",
    "detect_layout",
    "parse_attendance_report",
]

# Column names only one platform writes; they settle a header both could have written.
_ZOOM_ONLY = frozenset(
    {
        "name (original name)",
        "user name (original name)",
        "user email",
        "duration (minutes)",
        "guest",
        "recording consent",
        "in waiting room",
    }
)
_TEAMS_ONLY = frozenset(
    {"full name", "participant id (upn)", "role", "first join", "last leave", "in-meeting duration"}
)
_ZOOM_WEBINAR_SECTIONS = frozenset({"attendee report", "attendee details", "panelist details"})


def detect_layout(rows: list[Row], *, tab_separated: bool) -> Layout:
    """Which export the rows are, from their section titles and column names.

    The first decisive line wins: a Teams section title (``1. Summary``, ``Meeting Summary``) or
    Joined/Left header, else the first participant-table header, which goes to the platform whose
    own column names it has more of; a header with none of them (``Name, Join Time, Leave Time``)
    goes to Teams if the file is tab-separated, Zoom if comma-separated.
    """
    for row in rows:
        if row.fields and row.fields[0].casefold() in _ZOOM_WEBINAR_SECTIONS:
            raise AttendanceReportError(
                "This is a Zoom webinar attendee report; upload the meeting's participant report "
                "instead (Zoom: Reports > Usage > Participants > Export).",
                line=row.line,
            )
        if is_teams_section_header(row):
            return "teams_sections"
        if is_teams_legacy_header(row):
            return "teams_legacy"
        keys = header_keys(row)
        candidates: list[tuple[int, bool, Layout]] = []
        if is_zoom_participant_header(row):
            candidates.append((len(keys & _ZOOM_ONLY), not tab_separated, "zoom_participants"))
        if table_kind(row) is not None:
            candidates.append((len(keys & _TEAMS_ONLY), tab_separated, "teams_sections"))
        if candidates:
            return max(candidates)[2]
    raise AttendanceReportError(
        "This file is not a Zoom participant report or a Teams attendance report: no line has "
        "the columns they write (Zoom: 'Name (Original Name)', 'Join Time', 'Leave Time'; Teams: "
        "'1. Summary' then 'Name', 'First Join', 'Last Leave'; older Teams: 'Full Name', 'User "
        "Action', 'Timestamp')."
    )


def parse_attendance_report(data: bytes, *, timezone: tzinfo | None = None) -> AttendanceReport:
    """Parse an uploaded Zoom or Teams attendance export.

    Date-times are returned as the export writes them (local wall-clock time, naive) unless
    ``timezone`` is given (e.g. ``ZoneInfo("Europe/London")``), which is then attached to every
    one. Raises :class:`AttendanceReportError` for a file that is not a usable report.
    """
    text = decode_report(data)
    rows = read_rows(text)
    layout = detect_layout(rows, tab_separated=delimiter_of(text) == "\t")
    if layout == "zoom_participants":
        return parse_zoom_report(rows, timezone=timezone)
    if layout == "teams_legacy":
        return parse_teams_legacy_report(rows, timezone=timezone)
    return parse_teams_report(rows, timezone=timezone)
