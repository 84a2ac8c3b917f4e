"""Recognising the export from its content, decoding it, and refusing what is not a report."""

from __future__ import annotations

import importlib.util
from datetime import datetime
from pathlib import Path
from types import ModuleType

import pytest

from workshops.attendance_reports import AttendanceReportError, parse_attendance_report
from workshops.attendance_reports.datetimes import parse_stamp, resolve_date_order


def _load_exports() -> ModuleType:
    path = Path(__file__).with_name("test_workshops_reports_exports.py")
    spec = importlib.util.spec_from_file_location("workshops_report_exports_detect", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


exports = _load_exports()

ROW = [
    "Ana Díaz",
    "11/16/2021 03:45:00 PM",
    "11/16/2021 06:15:00 PM",
    "150",
    "ana@birch.sch.uk",
    "Attendee",
]


def _table(header: list[str], rows: list[list[str]], separator: str) -> bytes:
    lines = [separator.join(header), *(separator.join(row) for row in rows)]
    return exports.utf16("\r\n".join(lines) + "\r\n")


def test_a_bare_table_goes_to_the_platform_whose_own_columns_it_has() -> None:
    teams_header = ["Name", "Join Time", "Leave Time", "Duration", "Email", "Role"]
    # Teams' "Role" column settles it, whatever the separator.
    assert parse_attendance_report(_table(teams_header, [ROW], "\t")).platform == "teams"
    # Zoom's own column names settle it even in a tab-separated copy.
    zoom_header = [
        "Name (Original Name)",
        "Join Time",
        "Leave Time",
        "Duration (Minutes)",
        "User Email",
        "Guest",
    ]
    zoom_row = [*ROW[:5], "No"]
    assert parse_attendance_report(_table(zoom_header, [zoom_row], "\t")).platform == "zoom"


def test_a_header_either_could_have_written_goes_by_the_separator() -> None:
    header, row = ["Name", "Join Time", "Leave Time"], ROW[:3]
    assert parse_attendance_report(_table(header, [row], "\t")).platform == "teams"
    assert parse_attendance_report(_table(header, [row], ",")).platform == "zoom"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"  \r\n\r\n", "The file is empty."),
        (b"PK\x03\x04\x14\x00\x06\x00rest-of-an-xlsx", "This is a spreadsheet or document"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1old-xls", "This is a spreadsheet or document"),
        (
            b"URN,Name,Town\r\n100000,Oakfield,Durham\r\n",
            "This file is not a Zoom participant report or a Teams attendance report",
        ),
        (b"\xff\xfe1\x00.\x00 \x00S\x00u\x00\x00\xd8", "The file is UTF-16 text but byte"),
        (b"Name,Join Time\x00,Leave Time\r\n", "The file contains NUL characters"),
    ],
)
def test_what_is_not_a_report_is_refused_with_a_useful_message(data: bytes, message: str) -> None:
    with pytest.raises(AttendanceReportError) as caught:
        parse_attendance_report(data)
    assert str(caught.value).startswith(message)


def test_a_zoom_webinar_report_is_refused_with_the_right_advice() -> None:
    text = (
        "Attendee Report\r\nReport Generated:,11/17/2021 09:00 AM\r\nTopic,Webinar ID\r\n"
        "RLC,812 3456 7890\r\n\r\nHost Details\r\n"
    )
    with pytest.raises(AttendanceReportError, match="Zoom webinar attendee report") as caught:
        parse_attendance_report(text.encode())
    assert caught.value.line == 1


def test_an_unreadable_table_names_its_line() -> None:
    huge = "x" * 200_000  # over the csv module's field limit
    data = f"Name (Original Name),Join Time,Leave Time\r\nok,a,b\r\n{huge},a,b\r\n".encode()
    with pytest.raises(
        AttendanceReportError, match=r"^Line 3: the file cannot be read as a table"
    ) as caught:
        parse_attendance_report(data)
    assert huge not in str(caught.value)


# --------------------------------------------------------------------------------------------------
# Date-times and the day/month rule, directly
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "month_first", "day_first"),
    [
        ("10/14/21, 3:58:21 PM", datetime(2021, 10, 14, 15, 58, 21), None),
        ("14/10/2021, 15:58:21", None, datetime(2021, 10, 14, 15, 58, 21)),
        ("03/04/2022 12:05:00 AM", datetime(2022, 3, 4, 0, 5), datetime(2022, 4, 3, 0, 5)),
        ("03/04/2022 12:05 pm", datetime(2022, 3, 4, 12, 5), datetime(2022, 4, 3, 12, 5)),
        ("2021-11-16 15:45:00", datetime(2021, 11, 16, 15, 45), datetime(2021, 11, 16, 15, 45)),
        ("2021-11-16T15:45:00.250", datetime(2021, 11, 16, 15, 45), datetime(2021, 11, 16, 15, 45)),
        ("2021-11-16, 15:45", datetime(2021, 11, 16, 15, 45), datetime(2021, 11, 16, 15, 45)),
        ("31/01/2022 09:00:00", None, datetime(2022, 1, 31, 9, 0)),
    ],
)
def test_stamps_hold_both_readings(
    text: str, month_first: datetime | None, day_first: datetime | None
) -> None:
    stamp = parse_stamp(text, line=1, column="Join Time")
    assert (stamp.month_first, stamp.day_first) == (month_first, day_first)


def test_a_date_impossible_either_way_is_refused() -> None:
    with pytest.raises(
        AttendanceReportError, match=r"^Line 7: the Join Time '31/31/2022 09:00' is not a real date"
    ):
        parse_stamp("31/31/2022 09:00", line=7, column="Join Time")


def test_dates_that_read_the_same_either_way_keep_the_platform_convention() -> None:
    stamps = [parse_stamp("10/10/2021 15:00", line=n, column="Join Time") for n in (2, 3)]
    order, reason = resolve_date_order(
        stamps=stamps, preferred="month_first", preferred_because="Zoom"
    )
    assert (order, reason) == ("month_first", "every date in the file reads the same either way")


def test_an_ambiguous_file_with_nothing_to_decide_by_follows_the_preference() -> None:
    stamps = [parse_stamp("03/04/2022 15:00", line=2, column="Join Time")]
    order, reason = resolve_date_order(
        stamps=stamps, preferred="day_first", preferred_because="24-hour times are UK style"
    )
    assert order == "day_first" and reason == "read as day/month: 24-hour times are UK style"
