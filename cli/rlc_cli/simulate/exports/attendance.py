"""Attendance reports as Zoom and Teams write them (what delivery staff download after a session
and upload to the workshops service).

- Zoom's participant report "with meeting data": UTF-8 with a BOM, CRLF, a meeting summary block
  (header, one row, a blank line), then one row per join; month-first 12-hour times; fields
  quoted only when they must be; the email blank for a participant who joined without signing in.
- Teams' attendance report (the 2021-22 layout): UTF-16 little-endian with a BOM, tabs, CRLF, in
  sections "1. Summary", "2. Participants" (one row per person: first join, last leave, total
  time), "3. In-Meeting Activities" (one row per join), each closed by a blank line; a UK-locale
  organiser's day-first 24-hour times.

The byte-level facts are those the workshops service's parser tests pin
(``services/workshops/tests/test_workshops_reports_exports.py``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from dataclasses import dataclass

UTF8_BOM = b"\xef\xbb\xbf"
UTF16_LE_BOM = b"\xff\xfe"
CRLF = "\r\n"
ZOOM_SUMMARY_HEADER = [
    "Meeting ID", "Topic", "Start Time", "End Time", "User Email", "Duration (Minutes)",
    "Participants",
]  # fmt: skip
ZOOM_HEADER = [
    "Name (Original Name)", "User Email", "Join Time", "Leave Time", "Duration (Minutes)",
    "Guest", "Recording Consent", "In Waiting Room",
]  # fmt: skip
TEAMS_PARTICIPANTS_HEADER = [
    "Name", "First Join", "Last Leave", "In-Meeting Duration", "Email", "Participant ID (UPN)",
    "Role",
]  # fmt: skip
TEAMS_ACTIVITIES_HEADER = ["Name", "Join Time", "Leave Time", "Duration", "Email", "Role"]


@dataclass(frozen=True)
class Join:
    """One person's stay in the meeting, from joining to leaving (local time)."""

    name: str
    email: str  # "" when the platform did not know it
    joined: dt.datetime
    left: dt.datetime
    role: str = "Attendee"  # Teams: Organizer, Presenter, Attendee
    guest: bool = False

    @property
    def seconds(self) -> int:
        return int((self.left - self.joined).total_seconds())


@dataclass(frozen=True)
class Meeting:
    title: str
    meeting_id: str
    host_email: str
    start: dt.datetime
    end: dt.datetime


def _zoom_stamp(value: dt.datetime) -> str:
    return value.strftime("%m/%d/%Y %I:%M:%S %p")


def _zoom_minutes(seconds: int) -> str:
    return str(max(1, math.ceil(seconds / 60)))  # Zoom rounds a stay up to the minute


def zoom_report(meeting: Meeting, joins: list[Join]) -> bytes:
    out = io.StringIO(newline="")
    rows = csv.writer(out, lineterminator=CRLF)
    rows.writerow(ZOOM_SUMMARY_HEADER)
    rows.writerow([
        meeting.meeting_id, meeting.title, _zoom_stamp(meeting.start), _zoom_stamp(meeting.end),
        meeting.host_email, _zoom_minutes(int((meeting.end - meeting.start).total_seconds())),
        str(len({(j.name, j.email) for j in joins})),
    ])  # fmt: skip
    out.write(CRLF)
    rows.writerow(ZOOM_HEADER)
    for j in joins:
        rows.writerow([
            j.name, j.email, _zoom_stamp(j.joined), _zoom_stamp(j.left), _zoom_minutes(j.seconds),
            "Yes" if j.guest else "No", "", "No",
        ])  # fmt: skip
    return UTF8_BOM + out.getvalue().encode("utf-8")


def _teams_stamp(value: dt.datetime) -> str:
    return f"{value.day:02}/{value.month:02}/{value.year}, {value:%H:%M:%S}"


def _teams_length(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h"] if hours else []
    parts += [f"{minutes}m"] if minutes else []
    parts += [f"{secs}s"] if secs or not parts else []
    return " ".join(parts)


def teams_report(meeting: Meeting, joins: list[Join]) -> bytes:
    people: dict[tuple[str, str], list[Join]] = {}
    for j in joins:
        people.setdefault((j.name, j.email), []).append(j)
    total = sum(j.seconds for j in joins)
    lines = [
        "1. Summary",
        f"Meeting title\t{meeting.title}",
        f"Attended participants\t{len(people)}",
        f"Start time\t{_teams_stamp(meeting.start)}",
        f"End time\t{_teams_stamp(meeting.end)}",
        f"Meeting duration\t{_teams_length(int((meeting.end - meeting.start).total_seconds()))}",
        f"Average attendance time\t{_teams_length(total // max(1, len(people)))}",
        "",
        "2. Participants",
        "\t".join(TEAMS_PARTICIPANTS_HEADER),
    ]
    for (name, email), stays in people.items():
        first, last = min(j.joined for j in stays), max(j.left for j in stays)
        seconds = sum(j.seconds for j in stays)
        lines.append("\t".join([
            name, _teams_stamp(first), _teams_stamp(last), _teams_length(seconds), email, email,
            stays[0].role,
        ]))  # fmt: skip
    lines += ["", "3. In-Meeting Activities", "\t".join(TEAMS_ACTIVITIES_HEADER)]
    for j in joins:
        lines.append("\t".join([
            j.name, _teams_stamp(j.joined), _teams_stamp(j.left), _teams_length(j.seconds),
            j.email, j.role,
        ]))  # fmt: skip
    lines.append("")
    return UTF16_LE_BOM + (CRLF.join(lines) + CRLF).encode("utf-16-le")
