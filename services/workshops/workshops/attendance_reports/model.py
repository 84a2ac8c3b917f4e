"""What a parsed attendance report holds, whichever platform wrote it.

Everything here is a frozen value: the parsers build it once and nothing downstream edits it. The
date-times are the wall-clock times the export states (naive) unless the caller passed a time
zone to :func:`~workshops.attendance_reports.parse_attendance_report`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

__all__ = [
    "AttendanceReport",
    "AttendanceReportError",
    "AttendanceRow",
    "DateOrder",
    "Layout",
    "MeetingSummary",
    "Platform",
    "ReportParticipant",
]

Platform = Literal["zoom", "teams"]
#: The file layout recognised: Zoom's participant report; Teams' sectioned attendance report
#: (``1. Summary`` / ``2. Participants`` / ``3. In-Meeting Activities``, or the 2021
#: ``Meeting Summary`` variant); Teams' older single table of Joined/Left events.
Layout = Literal["zoom_participants", "teams_sections", "teams_legacy"]
#: How the numeric dates of the file were read: 10/11/2021 is 11 October when ``month_first``.
DateOrder = Literal["month_first", "day_first"]


class AttendanceReportError(ValueError):
    """The upload is not a usable attendance report.

    The message is written for the person uploading it: what was found and on which line. It never
    contains an attendee's name or email address; ``line`` is the 1-based line of the file, when
    the problem has one.
    """

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(f"Line {line}: {message}" if line is not None else message)
        self.line = line


@dataclass(frozen=True, slots=True)
class AttendanceRow:
    """One stretch of time a participant spent in the meeting, as one row of the export gives it.

    ``reported_minutes`` is the row's own duration column (Zoom's whole minutes, Teams' h/m/s), kept
    for review; attendance is computed from ``joined_at``/``left_at``. ``left_at_inferred`` marks a
    leave time the export did not give (a join with no leave: the meeting end or last timestamp).
    A row spent in Zoom's waiting room is kept but is not attendance.
    """

    line: int
    joined_at: datetime
    left_at: datetime
    reported_minutes: float | None = None
    in_waiting_room: bool = False
    left_at_inferred: bool = False


@dataclass(frozen=True, slots=True)
class ReportParticipant:
    """One person as the report identifies them (by email when it has one, else by name).

    ``original_name`` is Zoom's name before the person renamed themselves ("Jane S (Jane Smith)");
    ``guest`` is Zoom's Guest column, or True for a Teams name marked "(Guest)"/"(External)", and
    None where the export says nothing. ``platform_role`` is Teams' Organizer/Presenter/Attendee.
    ``reported_total_minutes`` is the export's own total for the person, when it gives one.
    """

    # Personal data: kept out of repr, so a participant that reaches a log line shows no one.
    name: str = field(repr=False)
    email: str | None = field(repr=False)
    rows: tuple[AttendanceRow, ...]
    original_name: str | None = field(default=None, repr=False)
    guest: bool | None = None
    platform_role: str | None = None
    reported_total_minutes: float | None = None

    @property
    def intervals(self) -> list[tuple[datetime, datetime]]:
        """The (join, leave) intervals spent in the meeting itself (not in a waiting room)."""
        return [(row.joined_at, row.left_at) for row in self.rows if not row.in_waiting_room]

    @property
    def lines(self) -> tuple[int, ...]:
        """The file's lines this person came from, for a reviewer to look them up."""
        return tuple(row.line for row in self.rows)


@dataclass(frozen=True, slots=True)
class MeetingSummary:
    """The meeting metadata the export states; any of it may be missing."""

    meeting_id: str | None = None
    topic: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    declared_minutes: float | None = None
    declared_participants: int | None = None


@dataclass(frozen=True, slots=True)
class AttendanceReport:
    """A parsed attendance report.

    ``date_order`` and ``date_order_reason`` say how ambiguous dates such as 10/11/2021 were read
    and why, so a reviewer can check. ``warnings`` are problems that did not stop the parse (a
    leave time that had to be inferred, a row whose duration disagrees with its times); like
    errors, they name lines, never people.
    """

    platform: Platform
    layout: Layout
    meeting: MeetingSummary
    participants: tuple[ReportParticipant, ...]
    date_order: DateOrder
    date_order_reason: str
    warnings: tuple[str, ...] = ()
