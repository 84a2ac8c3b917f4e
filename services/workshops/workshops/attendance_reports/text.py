"""From the uploaded bytes to numbered rows of fields, and finding columns by name.

Zoom writes UTF-8 CSV (sometimes with a BOM); Teams writes UTF-16 with a BOM, tab-separated; a
file opened and re-saved in Excel may come back as cp1252 CSV or UTF-16 "Unicode text". So the
encoding is taken from the BOM, else from the bytes, and the separator from the first lines.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from workshops.attendance_reports.model import AttendanceReportError

__all__ = [
    "Row",
    "decode_report",
    "delimiter_of",
    "find_columns",
    "header_keys",
    "line_list",
    "read_rows",
    "shown",
]

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_ZIP = b"PK\x03\x04"  # .xlsx, .docx
_OLE = b"\xd0\xcf\x11\xe0"  # .xls, .doc
_SNIFF_LINES = 20
_LISTED_LINES = 10


@dataclass(frozen=True, slots=True)
class Row:
    """One record of the file: its first physical line (1-based) and its trimmed fields."""

    line: int
    fields: tuple[str, ...]

    @property
    def blank(self) -> bool:
        return not any(self.fields)

    def get(self, index: int | None) -> str:
        """The field at ``index``, or "" when the column is absent or the row is short."""
        if index is None or index >= len(self.fields):
            return ""
        return self.fields[index]


def _looks_utf16(data: bytes) -> str | None:
    """ "utf-16-le"/"utf-16-be" for BOM-less UTF-16 text (every other byte NUL), else None."""
    head = data[:400]
    if len(head) < 4 or len(head) % 2:
        return None
    if head[1::2].count(0) > len(head) // 4 and head[0::2].count(0) == 0:
        return "utf-16-le"
    if head[0::2].count(0) > len(head) // 4 and head[1::2].count(0) == 0:
        return "utf-16-be"
    return None


def decode_report(data: bytes) -> str:
    """The text of the upload; raises ``AttendanceReportError`` for what is not text."""
    if not data.strip():
        raise AttendanceReportError("The file is empty.")
    if data.startswith((_ZIP, _OLE)):
        raise AttendanceReportError(
            "This is a spreadsheet or document (.xlsx, .xls, .docx), not a report export: "
            "download the attendance report as CSV from Zoom or Teams and upload that file."
        )
    encoding: str | None
    if data.startswith(_UTF16_BOMS):
        encoding = "utf-16"  # the codec reads the BOM for the byte order and drops it
    elif data.startswith(_UTF8_BOM):
        encoding = "utf-8-sig"
    else:
        encoding = _looks_utf16(data)
    if encoding is not None:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            raise AttendanceReportError(
                f"The file is {encoding.removesuffix('-sig').upper()} text but byte {exc.start} "
                "cannot be decoded: it may be cut short or damaged. Download the report again."
            ) from None
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            # Excel's "CSV (Comma delimited)" on Windows writes cp1252; "replace" keeps the
            # five bytes cp1252 leaves undefined from failing an otherwise readable report.
            text = data.decode("cp1252", errors="replace")
    text = text.removeprefix("\ufeff")
    if "\x00" in text:
        raise AttendanceReportError(
            "The file contains NUL characters, so it is not a text export: download the "
            "attendance report as CSV from Zoom or Teams and upload that file."
        )
    return text


def delimiter_of(text: str) -> str:
    """Tab when any of the first non-blank lines has a tab (Teams), else comma (Zoom)."""
    seen = 0
    for physical in text.splitlines():
        if physical.strip():
            if "\t" in physical:
                return "\t"
            seen += 1
            if seen >= _SNIFF_LINES:
                break
    return ","


def read_rows(text: str) -> list[Row]:
    """Every record of the file, blank ones included (they separate Zoom's and Teams' blocks)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter_of(text))
    rows: list[Row] = []
    previous_end = 0
    try:
        for fields in reader:
            rows.append(Row(previous_end + 1, tuple(field.strip() for field in fields)))
            previous_end = reader.line_num
    except csv.Error as exc:
        raise AttendanceReportError(
            f"the file cannot be read as a table ({exc}).", line=previous_end + 1
        ) from None
    return rows


def _key(header: str) -> str:
    return " ".join(header.replace("\ufeff", "").split()).casefold()


def find_columns(header: Row, wanted: Mapping[str, Iterable[str]]) -> dict[str, int | None]:
    """Column index of each wanted field, by any of its header aliases (case and spacing ignored).

    Unknown columns are ignored, so exports with extra columns still parse; a field none of whose
    aliases is present maps to None.
    """
    positions: dict[str, int] = {}
    for index, name in enumerate(header.fields):
        positions.setdefault(_key(name), index)
    found: dict[str, int | None] = {}
    for field, aliases in wanted.items():
        found[field] = next((positions[_key(a)] for a in aliases if _key(a) in positions), None)
    return found


def header_keys(row: Row) -> frozenset[str]:
    """The row's fields as header keys, for recognising a header row."""
    return frozenset(_key(field) for field in row.fields if field)


# Dates, times, durations and counts are safe to quote back; anything else in a field might be a
# name or an address (a shifted column), so it is described, not shown.
_SAFE_VALUE = re.compile(r"[0-9/:.,\- hmsAPMapm\u202f\u00a0]{1,40}")


def shown(value: str) -> str:
    """``value`` quoted when it can only be a date, time or number, else "(value not shown)"."""
    return f"'{value}'" if _SAFE_VALUE.fullmatch(value) else "(value not shown)"


def line_list(lines: list[int]) -> str:
    """ "Line 5" or "Lines 5, 9 and 12 more", for a warning about several rows."""
    listed = ", ".join(map(str, lines[:_LISTED_LINES]))
    more = f" and {len(lines) - _LISTED_LINES} more" if len(lines) > _LISTED_LINES else ""
    return f"{'Line' if len(lines) == 1 else 'Lines'} {listed}{more}"
