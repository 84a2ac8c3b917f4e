"""Attendance exports written byte for byte as Zoom and Teams write them, for the parser's tests.

The other ``test_workshops_reports_*`` modules load this one by path (the repository imports tests
with ``--import-mode=importlib``, under which test modules cannot import one another by name) and
build their files with it; the tests here pin the byte-level facts the generators must get right
(BOMs, UTF-16 code units, tabs, CRLF, CSV quoting), since a generator that drifted from the real
format would make every parser test meaningless.

Every person here is invented; the addresses use the reserved ``.example`` domain or school-like
``sch.uk`` names.
"""

from __future__ import annotations

import csv
import io

UTF8_BOM = b"\xef\xbb\xbf"
UTF16_LE_BOM = b"\xff\xfe"
UTF16_BE_BOM = b"\xfe\xff"
CRLF = "\r\n"

ZOOM_SUMMARY_HEADER = [
    "Meeting ID",
    "Topic",
    "Start Time",
    "End Time",
    "User Email",
    "Duration (Minutes)",
    "Participants",
]
#: The 2021-22 web portal's participant columns ("Export with meeting data").
ZOOM_HEADER = [
    "Name (Original Name)",
    "User Email",
    "Join Time",
    "Leave Time",
    "Duration (Minutes)",
    "Guest",
    "Recording Consent",
    "In Waiting Room",
]
#: Older accounts: no Guest, consent or waiting room columns.
ZOOM_OLD_HEADER = [
    "Name (Original Name)",
    "User Email",
    "Join Time",
    "Leave Time",
    "Duration (Minutes)",
]
#: The later portal writes the same columns in sentence case.
ZOOM_NEW_HEADER = [
    "Name (original name)",
    "Email",
    "Join time",
    "Leave time",
    "Duration (minutes)",
    "Guest",
    "In waiting room",
]

TEAMS_PARTICIPANTS_HEADER = [
    "Name",
    "First Join",
    "Last Leave",
    "In-Meeting Duration",
    "Email",
    "Participant ID (UPN)",
    "Role",
]
TEAMS_ACTIVITIES_HEADER = ["Name", "Join Time", "Leave Time", "Duration", "Email", "Role"]
TEAMS_LEGACY_HEADER = ["Full Name", "User Action", "Timestamp"]


def utf16(text: str, *, big_endian: bool = False, bom: bool = True) -> bytes:
    """Text as Teams saves it: UTF-16 (little-endian on Windows) with a BOM."""
    if big_endian:
        return (UTF16_BE_BOM if bom else b"") + text.encode("utf-16-be")
    return (UTF16_LE_BOM if bom else b"") + text.encode("utf-16-le")


def zoom_report(
    rows: list[list[str]],
    *,
    summary: list[str] | None = None,
    header: list[str] = ZOOM_HEADER,
    bom: bool = True,
    newline: str = CRLF,
    trailing_comma: bool = False,
    encoding: str = "utf-8",
) -> bytes:
    """A Zoom participant report: [summary header, summary row, blank line,] header, one row per
    join. Fields are quoted only when they must be (a topic with a comma), as Zoom does."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator=newline)
    extra = [""] if trailing_comma else []
    if summary is not None:
        writer.writerow(ZOOM_SUMMARY_HEADER + extra)
        writer.writerow(summary + extra)
        buffer.write(newline)
    writer.writerow(header + extra)
    for row in rows:
        writer.writerow(row + extra)
    text = buffer.getvalue()
    if encoding == "utf-16":
        return utf16(text)
    return (UTF8_BOM if bom else b"") + text.encode(encoding)


def _tsv(rows: list[list[str]]) -> list[str]:
    return ["\t".join(row) for row in rows]


def teams_report(
    *,
    summary: list[tuple[str, str]],
    participants: list[list[str]] | None = None,
    activities: list[list[str]] | None = None,
    big_endian: bool = False,
    bom: bool = True,
) -> bytes:
    """A Teams attendance report: ``1. Summary``, ``2. Participants``, ``3. In-Meeting
    Activities``, each section closed by a blank line; UTF-16 with a BOM, tabs, CRLF."""
    lines = ["1. Summary", *_tsv([list(pair) for pair in summary]), ""]
    if participants is not None:
        lines += ["2. Participants", *_tsv([TEAMS_PARTICIPANTS_HEADER, *participants]), ""]
    if activities is not None:
        lines += ["3. In-Meeting Activities", *_tsv([TEAMS_ACTIVITIES_HEADER, *activities]), ""]
    return utf16(CRLF.join(lines) + CRLF, big_endian=big_endian, bom=bom)


def teams_2021_report(*, summary: list[tuple[str, str]], rows: list[list[str]]) -> bytes:
    """The mid-2021 variant: ``Meeting Summary``, labelled rows, a blank line, one table."""
    header = [
        "Full Name",
        "Join Time",
        "Leave Time",
        "Duration",
        "Email",
        "Role",
        "Participant ID (UPN)",
    ]
    lines = ["Meeting Summary", *_tsv([list(pair) for pair in summary]), "", *_tsv([header, *rows])]
    return utf16(CRLF.join(lines) + CRLF)


def teams_legacy_report(events: list[tuple[str, str, str]]) -> bytes:
    """Teams' older attendance list: Full Name, User Action, Timestamp; UTF-16, tabs, CRLF."""
    lines = _tsv([TEAMS_LEGACY_HEADER, *[list(event) for event in events]])
    return utf16(CRLF.join(lines) + CRLF)


# --------------------------------------------------------------------------------------------------
# The generators write what the platforms write
# --------------------------------------------------------------------------------------------------


def test_teams_report_is_utf16_le_with_bom_tabs_and_crlf() -> None:
    data = teams_report(
        summary=[("Meeting title", "RLC Workshop 1")],
        activities=[
            ["Ana Díaz", "10/14/21, 3:58:21 PM", "10/14/21, 4:58:21 PM", "1h", "", "Attendee"]
        ],
    )
    assert data[:2] == UTF16_LE_BOM
    assert data[2:6] == "1.".encode(
        "utf-16-le"
    )  # one code unit per ASCII character, low byte first
    text = data[2:].decode("utf-16-le")
    assert text.startswith("1. Summary\r\nMeeting title\tRLC Workshop 1\r\n\r\n3. In-Meeting")
    assert "\n" not in text.replace("\r\n", "")  # every line break is CRLF
    assert "Ana Díaz\t10/14/21, 3:58:21 PM\t" in text
    assert "í".encode("utf-16-le") in data


def test_teams_big_endian_and_bomless_variants() -> None:
    big = teams_report(summary=[("Meeting title", "x")], big_endian=True)
    assert big[:2] == UTF16_BE_BOM and big[2:4] == b"\x001"
    bare = teams_report(summary=[("Meeting title", "x")], bom=False)
    assert bare[:2] == b"1\x00"


def test_zoom_report_is_utf8_with_bom_summary_block_and_quoting() -> None:
    data = zoom_report(
        [
            [
                "Ana Díaz",
                "ana@oak.sch.uk",
                "11/16/2021 03:55:12 PM",
                "11/16/2021 04:00:00 PM",
                "5",
                "No",
                "",
                "No",
            ]
        ],
        summary=[
            "812 3456 7890",
            "RLC Workshop 1, cohort A",
            "11/16/2021 03:55:12 PM",
            "",
            "",
            "",
            "",
        ],
    )
    assert data.startswith(UTF8_BOM + b"Meeting ID,Topic,Start Time,")
    text = data[3:].decode("utf-8")
    lines = text.split(CRLF)
    assert lines[1].startswith('812 3456 7890,"RLC Workshop 1, cohort A",')
    assert lines[2] == ""  # the blank line between the summary and the participant table
    assert lines[3] == ",".join(ZOOM_HEADER)
    assert lines[4].startswith("Ana Díaz,ana@oak.sch.uk,11/16/2021 03:55:12 PM,")


def test_zoom_variants_line_endings_trailing_comma_and_encodings() -> None:
    row = [["Zoë", "", "11/16/2021 03:55:12 PM", "11/16/2021 04:00:00 PM", "5"]]
    lf = zoom_report(row, header=ZOOM_OLD_HEADER, bom=False, newline="\n", trailing_comma=True)
    assert lf.startswith(b"Name (Original Name),") and b"\r" not in lf
    assert lf.split(b"\n")[0].endswith(b"Duration (Minutes),")
    assert "Zoë".encode("cp1252") in zoom_report(
        row, header=ZOOM_OLD_HEADER, bom=False, encoding="cp1252"
    )


def test_teams_legacy_list_is_three_tab_separated_columns() -> None:
    data = teams_legacy_report([("Ana Díaz", "Joined", "10/14/2021, 3:58:21 PM")])
    assert data[2:].decode("utf-16-le").split(CRLF)[:2] == [
        "Full Name\tUser Action\tTimestamp",
        "Ana Díaz\tJoined\t10/14/2021, 3:58:21 PM",
    ]
