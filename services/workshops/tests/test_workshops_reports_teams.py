"""Teams attendance reports: the sectioned layout (and its 2021 variant) and the Joined/Left list."""

from __future__ import annotations

import importlib.util
from datetime import datetime
from pathlib import Path
from types import ModuleType

import pytest

from workshops.attendance_reports import AttendanceReportError, parse_attendance_report


def _load_exports() -> ModuleType:
    path = Path(__file__).with_name("test_workshops_reports_exports.py")
    spec = importlib.util.spec_from_file_location("workshops_report_exports_teams", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


exports = _load_exports()

US_SUMMARY = [
    ("Meeting title", "RLC Workshop 1"),
    ("Attended participants", "4"),
    ("Start time", "10/14/21, 3:58:21 PM"),
    ("End time", "10/14/21, 6:31:02 PM"),
    ("Meeting duration", "2h 32m 40s"),
    ("Average attendance time", "1h 50m 3s"),
]
US_PARTICIPANTS = [
    [
        "Facilitator",
        "10/14/21, 3:58:21 PM",
        "10/14/21, 6:31:02 PM",
        "2h 32m 40s",
        "facilitator@university.example",
        "facilitator@university.example",
        "Organizer",
    ],
    [
        "Jane Smith",
        "10/14/21, 4:00:05 PM",
        "10/14/21, 6:30:00 PM",
        "2h 20m 3s",
        "",
        "jane.smith@oakfield.sch.uk",
        "Attendee",
    ],
    [
        "Priya Patel (Guest)",
        "10/14/21, 4:10:00 PM",
        "10/14/21, 5:00:00 PM",
        "50m",
        "",
        "",
        "Attendee",
    ],
    [
        "Sam Green",
        "10/14/21, 4:00:00 PM",
        "10/14/21, 6:00:00 PM",
        "2h",
        "sam.green@elm.sch.uk",
        "sam.green@elm.sch.uk",
        "Attendee",
    ],
]
US_ACTIVITIES = [
    [
        "Facilitator",
        "10/14/21, 3:58:21 PM",
        "10/14/21, 6:31:02 PM",
        "2h 32m 40s",
        "facilitator@university.example",
        "Organizer",
    ],
    [
        "Jane Smith",
        "10/14/21, 4:00:05 PM",
        "10/14/21, 4:45:00 PM",
        "44m 55s",
        "jane.smith@oakfield.sch.uk",
        "Attendee",
    ],
    ["Priya Patel (Guest)", "10/14/21, 4:10:00 PM", "10/14/21, 5:00:00 PM", "50m", "", "Attendee"],
    [
        "Jane Smith",
        "10/14/21, 4:55:00 PM",
        "10/14/21, 6:30:00 PM",
        "1h 35m",
        "jane.smith@oakfield.sch.uk",
        "Attendee",
    ],
    [
        "Jane Smith",
        "10/14/21, 4:40:00 PM",
        "10/14/21, 4:41:12 PM",
        "1m 12s",
        "jane.smith@oakfield.sch.uk",
        "Attendee",
    ],
]
PERSONAL = ["Jane", "Smith", "oakfield", "Priya", "Patel", "Sam", "Green"]


def _by_name(report, name: str):
    return next(p for p in report.participants if p.name == name)


def test_sectioned_report_us_locale() -> None:
    data = exports.teams_report(
        summary=US_SUMMARY, participants=US_PARTICIPANTS, activities=US_ACTIVITIES
    )
    report = parse_attendance_report(data)
    assert (report.platform, report.layout) == ("teams", "teams_sections")
    meeting = report.meeting
    assert meeting.topic == "RLC Workshop 1" and meeting.declared_participants == 4
    assert meeting.started_at == datetime(2021, 10, 14, 15, 58, 21)
    assert meeting.ended_at == datetime(2021, 10, 14, 18, 31, 2)
    assert meeting.declared_minutes == pytest.approx(152 + 40 / 60)
    assert report.date_order == "month_first"
    assert [p.name for p in report.participants] == [
        "Facilitator",
        "Jane Smith",
        "Priya Patel",
        "Sam Green",
    ]


def test_intervals_come_from_the_activities_and_totals_from_the_participants() -> None:
    data = exports.teams_report(
        summary=US_SUMMARY, participants=US_PARTICIPANTS, activities=US_ACTIVITIES
    )
    report = parse_attendance_report(data)
    jane = _by_name(report, "Jane Smith")
    # The Email column of Participants is empty; the UPN is her address.
    assert jane.email == "jane.smith@oakfield.sch.uk"
    assert jane.platform_role == "Attendee" and jane.guest is None
    assert jane.reported_total_minutes == pytest.approx(140.05)
    # Three activity rows (one overlapping: a second device), sorted by join time.
    assert jane.intervals == [
        (datetime(2021, 10, 14, 16, 0, 5), datetime(2021, 10, 14, 16, 45)),
        (datetime(2021, 10, 14, 16, 40), datetime(2021, 10, 14, 16, 41, 12)),
        (datetime(2021, 10, 14, 16, 55), datetime(2021, 10, 14, 18, 30)),
    ]
    assert [row.reported_minutes for row in jane.rows] == pytest.approx([44 + 55 / 60, 1.2, 95])
    assert jane.lines == (19, 22, 21)
    priya = _by_name(report, "Priya Patel")  # "(Guest)" is a marker, not part of the name
    assert (priya.guest, priya.email, len(priya.rows)) == (True, None, 1)


def test_a_person_listed_without_activity_rows_uses_first_join_and_last_leave() -> None:
    data = exports.teams_report(
        summary=US_SUMMARY, participants=US_PARTICIPANTS, activities=US_ACTIVITIES
    )
    report = parse_attendance_report(data)
    sam = _by_name(report, "Sam Green")
    assert sam.intervals == [(datetime(2021, 10, 14, 16, 0), datetime(2021, 10, 14, 18, 0))]
    assert report.warnings == (
        "Line 14: listed under Participants but with no In-Meeting Activities rows; their first "
        "join and last leave are used, which counts any time away in between.",
    )


def test_participants_section_only() -> None:
    report = parse_attendance_report(
        exports.teams_report(summary=US_SUMMARY, participants=US_PARTICIPANTS)
    )
    assert len(report.participants) == 4 and report.warnings == ()
    assert _by_name(report, "Jane Smith").intervals == [
        (datetime(2021, 10, 14, 16, 0, 5), datetime(2021, 10, 14, 18, 30))
    ]


def test_uk_locale_24_hour_day_first() -> None:
    summary = [
        ("Meeting title", "RLC Workshop 2"),
        ("Start time", "14/12/2021, 15:45:00"),
        ("End time", "14/12/2021, 18:15:00"),
        ("Meeting duration", "2h 30m"),
    ]
    activities = [
        [
            "Ana Díaz",
            "14/12/2021, 15:50:00",
            "14/12/2021, 18:10:00",
            "2h 20m",
            "ana.diaz@birch.sch.uk",
            "Attendee",
        ]
    ]
    report = parse_attendance_report(exports.teams_report(summary=summary, activities=activities))
    assert report.date_order == "day_first"
    assert report.participants[0].intervals == [
        (datetime(2021, 12, 14, 15, 50), datetime(2021, 12, 14, 18, 10))
    ]


def test_all_ambiguous_dates_follow_the_clock_style() -> None:
    """11/10/2021 with 24-hour times: a UK-style locale, so 11 October."""
    summary = [("Start time", "11/10/2021, 15:45:00"), ("End time", "11/10/2021, 18:15:00")]
    activities = [
        ["Ana Díaz", "11/10/2021, 15:50:00", "11/10/2021, 18:10:00", "2h 20m", "", "Attendee"]
    ]
    report = parse_attendance_report(exports.teams_report(summary=summary, activities=activities))
    assert report.date_order == "day_first"
    assert "24-hour" in report.date_order_reason
    assert report.meeting.started_at == datetime(2021, 10, 11, 15, 45)
    us = [
        (label, value.replace("15:45:00", "3:45:00 PM").replace("18:15:00", "6:15:00 PM"))
        for label, value in summary
    ]
    us_rows = [
        [a[0], "11/10/2021, 3:50:00 PM", "11/10/2021, 6:10:00 PM", *a[3:]] for a in activities
    ]
    report = parse_attendance_report(exports.teams_report(summary=us, activities=us_rows))
    assert report.date_order == "month_first" and report.meeting.started_at == datetime(
        2021, 11, 10, 15, 45
    )


def test_consistency_with_the_summary_beats_the_clock_style() -> None:
    """A meeting that ran past midnight: read month first (as AM/PM suggests) it would last a month."""
    summary = [
        ("Start time", "10/11/2021, 11:30:00 PM"),
        ("End time", "11/11/2021, 12:45:00 AM"),
        ("Meeting duration", "1h 15m"),
    ]
    activities = [
        ["Ana Díaz", "10/11/2021, 11:31:00 PM", "11/11/2021, 12:40:00 AM", "1h 9m", "", "Attendee"]
    ]
    report = parse_attendance_report(exports.teams_report(summary=summary, activities=activities))
    assert report.date_order == "day_first"
    assert "agrees with the meeting's start, end and duration" in report.date_order_reason
    assert report.meeting.ended_at == datetime(2021, 11, 11, 0, 45)


def test_the_2021_meeting_summary_variant() -> None:
    summary = [
        ("Total Number of Participants", "2"),
        ("Meeting Title", "RLC Introductory session"),
        ("Meeting Start Time", "10/18/2021, 3:30:00 PM"),
        ("Meeting End Time", "10/18/2021, 5:00:00 PM"),
        ("Meeting Id", "19:meeting_abc@thread.v2"),
    ]
    rows = [
        [
            "Jane Smith",
            "10/18/2021, 3:31:00 PM",
            "10/18/2021, 5:00:00 PM",
            "1h 29m",
            "jane.smith@oakfield.sch.uk",
            "Attendee",
            "jane.smith@oakfield.sch.uk",
        ]
    ]
    report = parse_attendance_report(exports.teams_2021_report(summary=summary, rows=rows))
    assert report.layout == "teams_sections"
    assert report.meeting.meeting_id == "19:meeting_abc@thread.v2"
    assert (
        report.meeting.topic == "RLC Introductory session"
        and report.meeting.declared_participants == 2
    )
    assert report.participants[0].intervals == [
        (datetime(2021, 10, 18, 15, 31), datetime(2021, 10, 18, 17, 0))
    ]


def test_two_guests_with_the_same_name_stay_two_people() -> None:
    participants = [
        ["iPad", "10/14/21, 4:00:00 PM", "10/14/21, 4:30:00 PM", "30m", "", "", "Attendee"],
        ["iPad", "10/14/21, 5:00:00 PM", "10/14/21, 5:20:00 PM", "20m", "", "", "Attendee"],
    ]
    report = parse_attendance_report(
        exports.teams_report(summary=US_SUMMARY, participants=participants)
    )
    assert [p.reported_total_minutes for p in report.participants] == [30, 20]


def test_encoding_variants_are_read_alike() -> None:
    kwargs = {"summary": US_SUMMARY, "participants": US_PARTICIPANTS, "activities": US_ACTIVITIES}
    expected = parse_attendance_report(exports.teams_report(**kwargs)).participants
    assert (
        parse_attendance_report(exports.teams_report(**kwargs, big_endian=True)).participants
        == expected
    )
    assert (
        parse_attendance_report(exports.teams_report(**kwargs, bom=False)).participants == expected
    )
    as_utf8 = exports.teams_report(**kwargs)[2:].decode("utf-16-le").encode("utf-8")
    assert parse_attendance_report(as_utf8).participants == expected


def test_narrow_no_break_space_before_pm() -> None:
    """Newer ICU locales write "3:58:21\u202fPM"."""
    activities = [
        ["Ana Díaz", "10/14/21, 3:58:21\u202fPM", "10/14/21, 4:58:21\u202fPM", "1h", "", "Attendee"]
    ]
    report = parse_attendance_report(
        exports.teams_report(summary=[("Meeting title", "x")], activities=activities)
    )
    assert report.participants[0].intervals == [
        (datetime(2021, 10, 14, 15, 58, 21), datetime(2021, 10, 14, 16, 58, 21))
    ]


@pytest.mark.parametrize(
    ("duration", "minutes"),
    [
        ("1h 2m 5s", 62 + 5 / 60),
        ("45m 3s", 45 + 3 / 60),
        ("12s", 0.2),
        ("2h", 120),
        ("0s", 0),
        ("01:02:05", 62 + 5 / 60),
    ],
)
def test_durations(duration: str, minutes: float) -> None:
    activities = [
        ["Ana Díaz", "10/14/21, 3:58:21 PM", "10/14/21, 4:58:21 PM", duration, "", "Attendee"]
    ]
    report = parse_attendance_report(exports.teams_report(summary=[], activities=activities))
    assert report.participants[0].rows[0].reported_minutes == pytest.approx(minutes)


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        (1, "10/14/21, 3:58:21 XM", "Line 19: the Join Time (value not shown)"),
        (
            2,
            "14/14/21, 4:45:00 PM",
            "Line 19: the Leave Time '14/14/21, 4:45:00 PM' is not a real date",
        ),
        (3, "forty-five minutes", "Line 19: the Duration (value not shown)"),
        (2, "10/14/21, 3:00:00 PM", "Line 19: the leave time is before the join time."),
    ],
)
def test_malformed_activity_rows(column: int, value: str, expected: str) -> None:
    activities = [list(row) for row in US_ACTIVITIES]
    activities[1][column] = value  # Jane Smith's first activity, line 19
    data = exports.teams_report(
        summary=US_SUMMARY, participants=US_PARTICIPANTS, activities=activities
    )
    with pytest.raises(AttendanceReportError) as caught:
        parse_attendance_report(data)
    assert str(caught.value).startswith(expected)
    assert not any(word in str(caught.value) for word in PERSONAL)


def test_a_report_listing_nobody_is_refused() -> None:
    with pytest.raises(AttendanceReportError, match="lists nobody"):
        parse_attendance_report(
            exports.teams_report(summary=US_SUMMARY, participants=[], activities=[])
        )


# --------------------------------------------------------------------------------------------------
# The older Joined/Left list
# --------------------------------------------------------------------------------------------------

LEGACY = [
    ("Facilitator", "Joined before", "10/14/2021, 3:55:00 PM"),
    ("Jane Smith", "Joined", "10/14/2021, 3:58:21 PM"),
    ("Tom O'Brien", "Joined", "10/14/2021, 4:00:00 PM"),
    ("Jane Smith", "Left", "10/14/2021, 4:20:00 PM"),
    ("Jane Smith", "Joined", "10/14/2021, 4:22:00 PM"),
    ("Jane Smith", "Joined", "10/14/2021, 4:30:00 PM"),  # a second device
    ("Jane Smith", "Left", "10/14/2021, 5:00:00 PM"),
    ("Jane Smith", "Left", "10/14/2021, 6:10:00 PM"),  # the last device leaves
    ("Jane Smith", "Left", "10/14/2021, 6:10:00 PM"),  # a repeated row
    ("Priya Patel", "Left", "10/14/2021, 4:15:00 PM"),  # in before the list began
    ("Facilitator", "Left", "10/14/2021, 6:25:00 PM"),
]


def test_legacy_list_pairs_joins_and_leaves_per_person() -> None:
    report = parse_attendance_report(exports.teams_legacy_report(LEGACY))
    assert (report.platform, report.layout) == ("teams", "teams_legacy")
    assert report.meeting.started_at is None  # this layout has no summary
    jane = _by_name(report, "Jane Smith")
    assert jane.intervals == [
        (datetime(2021, 10, 14, 15, 58, 21), datetime(2021, 10, 14, 16, 20)),
        (datetime(2021, 10, 14, 16, 22), datetime(2021, 10, 14, 18, 10)),
    ]
    assert jane.lines == (3, 6)
    facilitator = _by_name(report, "Facilitator")
    assert facilitator.intervals == [
        (datetime(2021, 10, 14, 15, 55), datetime(2021, 10, 14, 18, 25))
    ]


def test_legacy_list_open_ends_run_to_the_first_and_last_timestamps() -> None:
    report = parse_attendance_report(exports.teams_legacy_report(LEGACY))
    tom, priya = _by_name(report, "Tom O'Brien"), _by_name(report, "Priya Patel")
    assert tom.intervals == [(datetime(2021, 10, 14, 16, 0), datetime(2021, 10, 14, 18, 25))]
    assert tom.rows[0].left_at_inferred
    assert priya.intervals == [(datetime(2021, 10, 14, 15, 55), datetime(2021, 10, 14, 16, 15))]
    assert report.warnings == (
        "Line 4: a join with no matching 'Left'; the person is taken to have stayed until the last timestamp of the list.",
        "Line 11: a 'Left' with no join before it; the person is taken to have been in from the first timestamp of the list.",
    )


def test_legacy_list_with_an_unknown_action_or_a_bad_time() -> None:
    events = [*LEGACY[:3], ("Jane Smith", "Jane Smith", "10/14/2021, 4:20:00 PM")]
    with pytest.raises(AttendanceReportError) as caught:
        parse_attendance_report(exports.teams_legacy_report(events))
    assert (
        str(caught.value) == "Line 5: the User Action is not 'Joined', 'Joined before' or 'Left'."
    )
    events = [*LEGACY[:3], ("Jane Smith", "Left", "10/14/2021, 4:75:00 PM")]
    with pytest.raises(
        AttendanceReportError, match=r"^Line 5: the Timestamp '10/14/2021, 4:75:00 PM'"
    ):
        parse_attendance_report(exports.teams_legacy_report(events))


def test_legacy_list_with_no_events_is_refused() -> None:
    with pytest.raises(AttendanceReportError, match="header but no events"):
        parse_attendance_report(exports.teams_legacy_report([]))
