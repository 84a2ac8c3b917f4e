"""Zoom participant reports: summary block, column variants, rejoins, encodings, broken files."""

from __future__ import annotations

import importlib.util
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workshops.attendance_reports import AttendanceReportError, parse_attendance_report


def _load_exports() -> ModuleType:
    path = Path(__file__).with_name("test_workshops_reports_exports.py")
    spec = importlib.util.spec_from_file_location("workshops_report_exports_zoom", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


exports = _load_exports()

SUMMARY = [
    "812 3456 7890",
    "RLC Workshop 1, cohort A",
    "11/16/2021 03:45:02 PM",
    "11/16/2021 06:16:40 PM",
    "facilitator@university.example",
    "152",
    "5",
]
# Workshop 1 as Zoom lists it: a Designated Teacher who dropped out and rejoined (and joined from a
# phone for a while), a Subject Lead who renamed themselves, a guest, and an unknown iPad.
ROWS = [
    [
        "Facilitator",
        "facilitator@university.example",
        "11/16/2021 03:45:02 PM",
        "11/16/2021 06:16:40 PM",
        "152",
        "No",
        "",
        "No",
    ],
    [
        "Jane Smith",
        "Jane.Smith@oakfield.sch.uk",
        "11/16/2021 03:44:10 PM",
        "11/16/2021 03:46:00 PM",
        "2",
        "No",
        "",
        "Yes",
    ],
    [
        "Jane Smith",
        "Jane.Smith@oakfield.sch.uk",
        "11/16/2021 03:46:00 PM",
        "11/16/2021 04:20:05 PM",
        "35",
        "No",
        "",
        "No",
    ],
    [
        "Jane Smith",
        "Jane.Smith@oakfield.sch.uk",
        "11/16/2021 04:21:30 PM",
        "11/16/2021 06:15:00 PM",
        "114",
        "No",
        "",
        "No",
    ],
    [
        "Jane's iPhone",
        "Jane.Smith@oakfield.sch.uk",
        "11/16/2021 04:19:00 PM",
        "11/16/2021 04:25:00 PM",
        "6",
        "No",
        "",
        "No",
    ],
    [
        "Tom (Thomas O'Brien)",
        "t.obrien@oakfield.sch.uk",
        "11/16/2021 03:50:00 PM",
        "11/16/2021 06:10:00 PM",
        "140",
        "No",
        "",
        "No",
    ],
    ["Priya Patel", "", "11/16/2021 04:00:00 PM", "11/16/2021 05:30:00 PM", "90", "Yes", "", "No"],
    ["iPad", "", "11/16/2021 03:55:00 PM", "11/16/2021 04:05:00 PM", "10", "Yes", "", "No"],
]
PERSONAL = ["Jane", "Smith", "oakfield", "Priya", "Patel", "O'Brien", "Thomas", "iPad"]


def _parse(data: bytes):
    return parse_attendance_report(data)


def _by_name(report, name: str):
    return next(p for p in report.participants if p.name == name)


def test_full_report_with_meeting_summary() -> None:
    report = _parse(exports.zoom_report(ROWS, summary=SUMMARY))
    assert (report.platform, report.layout) == ("zoom", "zoom_participants")
    meeting = report.meeting
    assert meeting.meeting_id == "81234567890"
    assert meeting.topic == "RLC Workshop 1, cohort A"
    assert meeting.started_at == datetime(2021, 11, 16, 15, 45, 2)
    assert meeting.ended_at == datetime(2021, 11, 16, 18, 16, 40)
    assert (meeting.declared_minutes, meeting.declared_participants) == (152, 5)
    assert report.date_order == "month_first"
    assert "11/16/2021" in report.date_order_reason and "line 2" in report.date_order_reason
    # Five addresses or names: the Designated Teacher's four rows are one person.
    assert [p.name for p in report.participants] == [
        "Facilitator",
        "Jane Smith",
        "Tom",
        "Priya Patel",
        "iPad",
    ]
    assert report.warnings == ()


def test_rows_of_one_person_are_kept_with_their_lines_and_reported_minutes() -> None:
    jane = _by_name(_parse(exports.zoom_report(ROWS, summary=SUMMARY)), "Jane Smith")
    assert jane.email == "Jane.Smith@oakfield.sch.uk"  # as written; matching normalises
    assert jane.lines == (6, 7, 8, 9)
    assert [row.reported_minutes for row in jane.rows] == [2, 35, 114, 6]
    assert jane.reported_total_minutes == 157
    assert jane.guest is False
    # The waiting-room row is kept but is not time in the meeting.
    assert jane.rows[0].in_waiting_room and not any(r.in_waiting_room for r in jane.rows[1:])
    assert jane.intervals == [
        (datetime(2021, 11, 16, 15, 46), datetime(2021, 11, 16, 16, 20, 5)),
        (datetime(2021, 11, 16, 16, 21, 30), datetime(2021, 11, 16, 18, 15)),
        (datetime(2021, 11, 16, 16, 19), datetime(2021, 11, 16, 16, 25)),
    ]


def test_renamed_participant_keeps_the_original_name_and_guests_are_flagged() -> None:
    report = _parse(exports.zoom_report(ROWS, summary=SUMMARY))
    tom = _by_name(report, "Tom")
    assert tom.original_name == "Thomas O'Brien"
    priya, ipad = _by_name(report, "Priya Patel"), _by_name(report, "iPad")
    assert (priya.email, priya.guest, ipad.email, ipad.guest) == (None, True, None, True)
    # Without the "(Original Name)" header, brackets are part of the name.
    old = _parse(
        exports.zoom_report([r[:5] for r in ROWS], header=["Name", *exports.ZOOM_OLD_HEADER[1:]])
    )
    assert _by_name(old, "Tom (Thomas O'Brien)").original_name is None


def test_old_columns_no_summary_no_bom_and_lf_line_endings() -> None:
    data = exports.zoom_report(
        [r[:5] for r in ROWS],
        header=exports.ZOOM_OLD_HEADER,
        bom=False,
        newline="\n",
        trailing_comma=True,
    )
    report = _parse(data)
    assert report.meeting.topic is None and report.meeting.started_at is None
    assert len(report.participants) == 5
    assert all(p.guest is None for p in report.participants)  # no Guest column: not known
    assert _by_name(report, "iPad").rows[0].line == 9


def test_sentence_case_columns_of_the_newer_portal() -> None:
    rows = [[r[0], r[1], r[2], r[3], r[4], r[5], r[7]] for r in ROWS]
    report = _parse(exports.zoom_report(rows, header=exports.ZOOM_NEW_HEADER))
    jane = _by_name(report, "Jane Smith")
    assert jane.original_name is None and len(jane.rows) == 4
    assert jane.rows[0].in_waiting_room
    assert _by_name(report, "Tom").original_name == "Thomas O'Brien"


def test_24_hour_times_and_a_utf16_copy_are_read_alike() -> None:
    rows = [["Ana Díaz", "", "11/16/2021 15:45:00", "11/16/2021 18:15:00", "150"]]
    report = _parse(exports.zoom_report(rows, header=exports.ZOOM_OLD_HEADER))
    assert report.participants[0].intervals == [
        (datetime(2021, 11, 16, 15, 45), datetime(2021, 11, 16, 18, 15))
    ]
    # Content, not encoding, decides the platform: a Zoom CSV saved as UTF-16 is still Zoom.
    again = _parse(exports.zoom_report(rows, header=exports.ZOOM_OLD_HEADER, encoding="utf-16"))
    assert again.platform == "zoom" and again.participants == report.participants


def test_a_copy_resaved_by_uk_excel_cp1252_day_first_no_seconds() -> None:
    rows = [
        ["Zoë Brontë", "", "16/11/2021 15:45", "16/11/2021 18:15", "150"],
        ["Ana Díaz", "", "03/11/2021 15:45", "03/11/2021 16:15", "30"],
    ]
    report = _parse(
        exports.zoom_report(rows, header=exports.ZOOM_OLD_HEADER, bom=False, encoding="cp1252")
    )
    assert report.date_order == "day_first"
    assert report.participants[0].name == "Zoë Brontë"
    assert report.participants[1].rows[0].joined_at == datetime(2021, 11, 3, 15, 45)


def test_missing_leave_time_is_the_meeting_end_with_a_warning() -> None:
    rows = [list(ROWS[2]), list(ROWS[5])]
    rows[1][3] = ""
    report = _parse(exports.zoom_report(rows, summary=SUMMARY))
    tom = _by_name(report, "Tom")
    assert tom.rows[0].left_at == datetime(2021, 11, 16, 18, 16, 40)
    assert tom.rows[0].left_at_inferred
    assert report.warnings == (
        "Line 6: no Leave Time; the person is taken to have stayed until the meeting ended.",
    )


def test_merged_rejoins_from_show_unique_users_are_warned_about() -> None:
    # "Show unique users" gives first join and last leave, but the summed duration.
    rows = [
        [
            "Jane Smith",
            "Jane.Smith@oakfield.sch.uk",
            "11/16/2021 03:46:00 PM",
            "11/16/2021 06:15:00 PM",
            "115",
        ]
    ]
    report = _parse(exports.zoom_report(rows, header=exports.ZOOM_OLD_HEADER))
    assert len(report.warnings) == 1
    assert report.warnings[0].startswith("Line 2: the reported duration is shorter")
    assert not any(word in report.warnings[0] for word in PERSONAL)


def test_timezone_is_attached_when_given() -> None:
    london = ZoneInfo("Europe/London")
    report = parse_attendance_report(exports.zoom_report(ROWS, summary=SUMMARY), timezone=london)
    assert report.meeting.started_at == datetime(2021, 11, 16, 15, 45, 2, tzinfo=london)
    assert all(r.joined_at.tzinfo is london for p in report.participants for r in p.rows)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        (
            2,
            "11/16/2021 3:61:00 PM",
            "Line 6: the Join Time '11/16/2021 3:61:00 PM' is not a time of day",
        ),
        (
            3,
            "13/13/2021 04:00:00 PM",
            "Line 6: the Leave Time '13/13/2021 04:00:00 PM' is not a real date",
        ),
        (2, "Jane Smith", "Line 6: the Join Time (value not shown)"),
        (3, "11/16/2021 03:00:00 PM", "Line 6: the Leave Time is before the Join Time."),
        (4, "about an hour", "Line 6: the Duration (value not shown)"),
        (2, "", "Line 6: the row has no Join Time."),
        (
            2,
            "11/16/2021 13:15:00 PM",
            "Line 6: the Join Time '11/16/2021 13:15:00 PM' has an hour that a 12-hour clock cannot show.",
        ),
    ],
)
def test_malformed_rows_name_the_line_and_column_never_the_person(
    field: int, value: str, expected: str
) -> None:
    rows = [list(row) for row in ROWS]
    rows[1][field] = value  # the Designated Teacher's first row, line 6
    with pytest.raises(AttendanceReportError) as caught:
        _parse(exports.zoom_report(rows, summary=SUMMARY))
    message = str(caught.value)
    assert message.startswith(expected)
    assert caught.value.line == 6
    assert not any(word in message for word in PERSONAL)


def test_dates_written_in_both_orders_are_refused() -> None:
    rows = [list(ROWS[2]), list(ROWS[5])]
    rows[1][2], rows[1][3] = "16/11/2021 15:50", "16/11/2021 18:10"  # re-typed by hand, UK style
    with pytest.raises(AttendanceReportError, match="written in two orders") as caught:
        _parse(exports.zoom_report(rows, summary=SUMMARY))
    assert "line 2" in str(caught.value) and "line 6" in str(caught.value)


def test_a_participant_table_without_leave_time_is_refused() -> None:
    header = ["Name (Original Name)", "User Email", "Join Time", "Duration (Minutes)"]
    with pytest.raises(AttendanceReportError, match="no 'Leave Time' column") as caught:
        _parse(
            exports.zoom_report([["Jane Smith", "", "11/16/2021 03:44:10 PM", "5"]], header=header)
        )
    assert caught.value.line == 1


def test_a_summary_with_no_participant_table_is_refused() -> None:
    data = (
        exports.UTF8_BOM
        + (",".join(exports.ZOOM_SUMMARY_HEADER) + "\r\n" + ",".join(SUMMARY) + "\r\n").encode()
    )
    with pytest.raises(AttendanceReportError, match="not a Zoom participant report or a Teams"):
        _parse(data)


_times = st.integers(min_value=0, max_value=4 * 3600)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["Jane Smith", "Ana Díaz", "Tom", "iPad"]), _times, _times),
        min_size=1,
        max_size=12,
    )
)
def test_any_zoom_rows_round_trip(rows: list[tuple[str, int, int]]) -> None:
    """Whatever the rows, each person gets exactly their rows' intervals, in file order."""
    start = datetime(2021, 11, 16, 15, 0)
    written = []
    expected: dict[str, list[tuple[datetime, datetime]]] = {}
    for name, a, b in rows:
        join_at, leave_at = (
            start + timedelta(seconds=min(a, b)),
            start + timedelta(seconds=max(a, b)),
        )
        stamp = "%m/%d/%Y %I:%M:%S %p"
        written.append([name, "", join_at.strftime(stamp), leave_at.strftime(stamp), ""])
        expected.setdefault(name, []).append((join_at, leave_at))
    report = _parse(exports.zoom_report(written, header=exports.ZOOM_OLD_HEADER))
    assert {p.name: p.intervals for p in report.participants} == expected
