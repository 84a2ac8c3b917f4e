"""Streaming parser for the DfE "Get Information about Schools" extract (edubasealldata*.csv).

The extract has ~50,000 rows and ~135 columns whose set changes between releases, so columns are
found by header name and everything else is ignored. The file is read one physical line at a time
(never whole), each line is decoded on its own (see ``decode_line``) and handed to the ``csv``
module, and only the ~16 columns the trial uses are looked at.

``iter_gias_rows`` checks the header when it is called (a ``GiasFormatError`` names what is wrong)
and then yields one ``GiasRow`` or ``GiasRejection`` per record. A ``GiasFormatError`` can still be
raised mid-file for damage that makes the rest unreadable (a line longer than ``MAX_LINE_BYTES``),
so an importer should apply the rows in one transaction.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, BinaryIO

from recruitment.eligibility import (
    EligibilityDecision,
    assess_eligibility,
    phase_is_eligible,
    status_is_open,
)

__all__ = [
    "MAX_LINE_BYTES",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "GiasFormatError",
    "GiasRejection",
    "GiasRow",
    "assess_row",
    "decode_line",
    "is_open",
    "is_primary_phase",
    "iter_decoded_lines",
    "iter_gias_rows",
]

REQUIRED_COLUMNS: tuple[str, ...] = (
    "URN",
    "LA (code)",
    "LA (name)",
    "EstablishmentName",
    "TypeOfEstablishment (name)",
    "EstablishmentStatus (name)",
    "PhaseOfEducation (name)",
)
OPTIONAL_COLUMNS: tuple[str, ...] = (
    "StatutoryLowAge",
    "StatutoryHighAge",
    "NumberOfPupils",
    "PercentageFSM",
    "Postcode",
    "OpenDate",
    "CloseDate",
    "Town",
    "EstablishmentTypeGroup (name)",
)

# A real GIAS line is ~2 KB. Anything this long is not a GIAS row, and the cap keeps memory bounded
# even for a file with no newlines at all.
MAX_LINE_BYTES = 1 << 20

_UNKNOWN = ("", "..")  # GIAS writes an unknown value as an empty field or ".."
_UTF8_BOM = b"\xef\xbb\xbf"
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_DECIMAL = re.compile(r"\d{1,3}(?:\.\d+)?")


class GiasFormatError(ValueError):
    """The upload is not a usable GIAS extract. The message is written for the person uploading."""


# --------------------------------------------------------------------------------------------------
# Decoding
#
# Why per-line decoding, UTF-8 first, then cp1252 with a latin-1 fallback:
# - The DfE's own importer reads the extract as ISO-8859-1 ("à" is the byte 0xE0). cp1252 agrees
#   with ISO-8859-1 on every byte except 0x80-0x9F, where ISO-8859-1 has invisible C1 control codes
#   and cp1252 has the curly quotes and dashes that Windows tools actually put there. So cp1252 is
#   never worse. It leaves five bytes (0x81 0x8D 0x8F 0x90 0x9D) undefined; those fall back to
#   their latin-1 meaning through an error handler, so decoding can never fail or drop a byte.
# - A re-saved extract may be UTF-8 (with or without a BOM). Decoding that as latin-1 would turn
#   "à" into "Ã\xa0" silently. A line of real latin-1 text is practically never valid UTF-8 once it
#   contains non-ASCII bytes (it would need sequences like "Ã©"), so a non-ASCII line that decodes
#   as strict UTF-8 is taken as UTF-8. Deciding per line rather than per file keeps memory bounded
#   (no look-ahead) and copes with files stitched together from both encodings.
# - Pure-ASCII lines, nearly all of them, take a fast path.
# --------------------------------------------------------------------------------------------------

_LEGACY_ERRORS = "rlc-gias-cp1252-latin1-fallback"


def _latin1_fallback(exc: UnicodeError) -> tuple[str, int]:
    if isinstance(exc, UnicodeDecodeError):
        return exc.object[exc.start : exc.end].decode("latin-1"), exc.end
    raise exc


codecs.register_error(_LEGACY_ERRORS, _latin1_fallback)


def decode_line(raw: bytes) -> str:
    """Decode one physical line: ASCII, else strict UTF-8, else cp1252 (latin-1 for its gaps)."""
    if raw.isascii():
        return raw.decode("ascii")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", _LEGACY_ERRORS)


_SNIFF_BYTES = 8192


def _not_text_reason(head: bytes) -> str | None:
    """Why the file's first bytes show it is not CSV text, or None if it might be."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return (
            "it is UTF-16 encoded (Excel's 'Unicode Text' format); "
            "save it as 'CSV (Comma delimited)' and upload that"
        )
    if head.startswith(b"PK\x03\x04"):
        return "it is an Excel workbook (.xlsx) or a ZIP archive; upload the .csv file itself"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "it is an old-style Excel workbook (.xls); save it as CSV and upload that"
    if head.startswith(b"%PDF"):
        return "it is a PDF document"
    # NUL never occurs in text. Other control characters are only held against the first line
    # (a header never has one): one stray character in a data row is that row's problem.
    first_line = decode_line(head.lstrip(b" \t\r\n").split(b"\n", 1)[0])
    if b"\x00" in head or _CONTROL_CHARS.search(first_line):
        return "it contains binary data"
    if first_line.startswith(("{", "[")):
        return "it looks like JSON"
    if first_line.startswith("<"):
        return "it looks like a web page or XML document (was a page saved instead of the file?)"
    return None


class _Prefixed(io.RawIOBase):
    """The bytes already read for sniffing, then the rest of the stream (which stays open)."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = memoryview(head)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._stream.read(len(buffer)) or b""
        buffer[: len(data)] = data
        return len(data)


def _read_head(stream: BinaryIO) -> bytes:
    head = b""
    while len(head) < _SNIFF_BYTES and (chunk := stream.read(_SNIFF_BYTES - len(head))):
        head += chunk  # a raw or socket-like stream may return short reads
    return head


def iter_decoded_lines(
    stream: BinaryIO,
    *,
    what: str,
    error: type[Exception] = GiasFormatError,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> Iterator[str]:
    """Yield the stream's physical lines as text, line endings kept (what ``csv`` expects).

    ``what`` names the expected file in error messages ("the GIAS extract"). The first bytes are
    checked now, so an empty or non-text file raises ``error`` when this is called. A UTF-8 BOM
    is dropped. The caller's stream is read from its current position and not closed.
    """
    head = _read_head(stream)
    if head.startswith(_UTF8_BOM):
        head = head[len(_UTF8_BOM) :]
    if not head.strip() and len(head) < _SNIFF_BYTES:
        raise error(f"The file is empty: expected {what} with a header row.")
    reason = _not_text_reason(head)
    if reason:
        raise error(f"This file is not {what}: {reason}.")
    reader = io.BufferedReader(_Prefixed(head, stream), buffer_size=64 * 1024)
    return _lines(reader.readline, what, error, max_line_bytes)


def _lines(readline: Any, what: str, error: type[Exception], limit: int) -> Iterator[str]:
    number = 0
    while raw := readline(limit):
        number += 1
        if len(raw) >= limit and not raw.endswith(b"\n"):
            raise error(
                f"Line {number} is longer than {limit // 1024} KB, so this is not {what} "
                "(or its line endings are not LF/CRLF). Nothing from this file was imported."
            )
        yield decode_line(raw)


# --------------------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class GiasRow:
    """One establishment. Text is stripped; GIAS's unknown values ("" and "..") are None."""

    urn: int
    la_code: str
    la_name: str
    name: str
    establishment_type: str
    status: str
    phase: str
    low_age: int | None
    high_age: int | None
    pupils: int | None
    # Decimal, not float: the value is stored and compared, and "3.4" must stay "3.4".
    percentage_fsm: Decimal | None
    postcode: str | None
    open_date: date | None
    close_date: date | None
    town: str | None
    type_group: str | None
    line: int  # physical line in the file where the record starts; 1 is the header

    def attributes(self) -> dict[str, Any]:
        """The GIAS attributes as JSON-ready values (dates ISO, FSM as a string), without ``line``
        so that two imports of the same school compare equal."""
        return {
            "urn": self.urn,
            "la_code": self.la_code,
            "la_name": self.la_name,
            "name": self.name,
            "establishment_type": self.establishment_type,
            "status": self.status,
            "phase": self.phase,
            "low_age": self.low_age,
            "high_age": self.high_age,
            "pupils": self.pupils,
            "percentage_fsm": None if self.percentage_fsm is None else str(self.percentage_fsm),
            "postcode": self.postcode,
            "open_date": None if self.open_date is None else self.open_date.isoformat(),
            "close_date": None if self.close_date is None else self.close_date.isoformat(),
            "town": self.town,
            "type_group": self.type_group,
        }


@dataclass(frozen=True, slots=True)
class GiasRejection:
    """A record that was not imported, with a reason a person can act on."""

    line: int
    urn: str | None
    reason: str


def _normalise_header(name: str) -> str:
    # Match "LA (code)", "LA(code)" and "la (CODE)" alike; the DfE has been consistent, Excel less so.
    return "".join(name.split()).casefold()


def _show(value: str, limit: int = 40) -> str:
    """Quote a bad value for a message, cut short so a garbage field cannot flood the report."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def _column_indexes(header: list[str]) -> dict[str, int | None]:
    positions: dict[str, list[int]] = {}
    for i, name in enumerate(header):
        positions.setdefault(_normalise_header(name), []).append(i)
    wanted = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
    duplicated = [c for c in wanted if len(positions.get(_normalise_header(c), ())) > 1]
    if duplicated:
        raise GiasFormatError(
            "The GIAS extract's header has these columns more than once, so it is ambiguous "
            f"which to use: {', '.join(map(repr, duplicated))}."
        )
    missing = [c for c in REQUIRED_COLUMNS if _normalise_header(c) not in positions]
    if missing:
        shown = [_show(h.strip()) for h in header[:20]]
        more = f" and {len(header) - 20} more" if len(header) > 20 else ""
        hint = ""
        if len(header) == 1 and ("\t" in header[0] or ";" in header[0]):
            hint = " The file seems to use tabs or semicolons; the extract must be comma-separated."
        raise GiasFormatError(
            f"The file is missing the required GIAS column(s) {', '.join(map(repr, missing))}. "
            f"Columns found ({len(header)}): {', '.join(shown)}{more}. Is this the 'all "
            "establishment data' extract (edubasealldata*.csv) from Get Information about Schools?"
            + hint
        )
    return {c: positions.get(_normalise_header(c), [None])[0] for c in wanted}


def _read_header(reader: Any, error: type[Exception], what: str) -> tuple[list[str], int]:
    """The first non-blank record and the line it ends on."""
    while True:
        try:
            header = next(reader)
        except StopIteration:
            raise error(f"The file is empty: expected {what} with a header row.") from None
        except csv.Error as exc:
            raise error(f"The header row of {what} is not valid CSV ({exc}).") from None
        if any(h.strip() for h in header):
            return header, reader.line_num


def _int_field(text: str, column: str, errors: list[str]) -> int | None:
    if text in _UNKNOWN:
        return None
    if text.isascii() and text.isdigit():  # not int(): it would take "+3", "1_0" and "٣"
        return int(text)
    errors.append(f"{column} {_show(text)} is not a whole number")
    return None


def _date_field(text: str, column: str, errors: list[str]) -> date | None:
    if text in _UNKNOWN:
        return None
    if len(text) == 10 and text[2] == "-" and text[5] == "-" and text.isascii():
        day, month, year = text[:2], text[3:5], text[6:]
        if day.isdigit() and month.isdigit() and year.isdigit():
            try:
                return date(int(year), int(month), int(day))
            except ValueError:
                pass
    errors.append(f"{column} {_show(text)} is not a dd-mm-yyyy date")
    return None


def _fsm_field(text: str, errors: list[str]) -> Decimal | None:
    if text in _UNKNOWN:
        return None
    # A regex rather than Decimal(): Decimal also takes "NaN", "1e3" and "-0".
    if _DECIMAL.fullmatch(text) and (value := Decimal(text)) <= 100:
        return value
    errors.append(f"PercentageFSM {_show(text)} is not a percentage between 0 and 100")
    return None


def iter_gias_rows(stream: BinaryIO) -> Iterator[GiasRow | GiasRejection]:
    """Parse a GIAS extract from a binary file object, one record at a time.

    The header is read and checked now: a file that is empty, not CSV, or lacks a required column
    raises ``GiasFormatError`` before anything is yielded. Each later record becomes a ``GiasRow``
    or a ``GiasRejection`` (wrong field count, missing or non-integer URN, bad date or number,
    empty required value, or a URN already seen earlier in the file). Blank rows are skipped.
    """
    what = "the GIAS establishment extract (edubasealldata*.csv)"
    reader = csv.reader(iter_decoded_lines(stream, what=what, error=GiasFormatError))
    header, header_end = _read_header(reader, GiasFormatError, what)
    columns = _column_indexes(header)
    return _records(reader, header_end, len(header), columns)


def _records(
    reader: Any, header_end: int, width: int, columns: dict[str, int | None]
) -> Iterator[GiasRow | GiasRejection]:
    # A missing optional column reads the "" appended to every row at index `width`, so one
    # itemgetter-style tuple of indexes serves every file version without per-row branching.
    def index(column: str) -> int:
        found = columns[column]
        return width if found is None else found

    idx = tuple(map(index, REQUIRED_COLUMNS))
    opt = tuple(map(index, OPTIONAL_COLUMNS))
    urn_i = idx[0]
    seen: dict[int, int] = {}  # URN -> line of its first occurrence
    end = header_end
    while True:
        line = end + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            end = reader.line_num
            yield GiasRejection(line, None, f"the row could not be read as CSV ({exc})")
            continue
        end = reader.line_num
        if not any(f.strip() for f in row):
            continue  # a blank line, or a row of empty cells left behind by a spreadsheet
        if len(row) != width:
            urn_text = row[urn_i].strip()[:20] if urn_i < len(row) else ""
            yield GiasRejection(
                line,
                None if urn_text in _UNKNOWN else urn_text,
                f"the row has {len(row)} fields but the header has {width} columns "
                f"({'an unquoted comma in a value?' if len(row) > width else 'a truncated row?'})",
            )
            continue
        row.append("")
        urn_s, la_code, la_name, name, etype, status, phase = (row[i].strip() for i in idx)
        low_s, high_s, pupils_s, fsm_s, postcode, open_s, close_s, town, group = (
            row[i].strip() for i in opt
        )
        errors: list[str] = []
        urn = 0
        if urn_s in _UNKNOWN:
            errors.append("URN is missing")
        elif not (urn_s.isascii() and urn_s.isdigit()) or int(urn_s) == 0:
            errors.append(f"URN {_show(urn_s)} is not a positive whole number")
        else:
            urn = int(urn_s)
            # The first record with a valid URN claims it, even if that record is rejected for
            # another reason: there is no telling which of two copies is right.
            first = seen.setdefault(urn, line)
            if first != line:
                errors.append(
                    f"URN {urn} already appears on line {first}; only the first is imported"
                )
        for value, column in (
            (la_code, "LA (code)"),
            (la_name, "LA (name)"),
            (name, "EstablishmentName"),
            (etype, "TypeOfEstablishment (name)"),
            (status, "EstablishmentStatus (name)"),
            (phase, "PhaseOfEducation (name)"),
        ):
            if value in _UNKNOWN:
                errors.append(f"{column} is empty")
        low_age = _int_field(low_s, "StatutoryLowAge", errors)
        high_age = _int_field(high_s, "StatutoryHighAge", errors)
        pupils = _int_field(pupils_s, "NumberOfPupils", errors)
        fsm = _fsm_field(fsm_s, errors)
        open_date = _date_field(open_s, "OpenDate", errors)
        close_date = _date_field(close_s, "CloseDate", errors)
        if errors:
            yield GiasRejection(line, None if urn_s in _UNKNOWN else urn_s[:20], "; ".join(errors))
            continue
        yield GiasRow(
            urn=urn,
            la_code=la_code,
            la_name=la_name,
            name=name,
            establishment_type=etype,
            status=status,
            phase=phase,
            low_age=low_age,
            high_age=high_age,
            pupils=pupils,
            percentage_fsm=fsm,
            postcode=None if postcode in _UNKNOWN else postcode,
            open_date=open_date,
            close_date=close_date,
            town=None if town in _UNKNOWN else town,
            type_group=None if group in _UNKNOWN else group,
            line=line,
        )


# --------------------------------------------------------------------------------------------------
# Helpers for eligibility (the rules themselves live in recruitment.eligibility)
# --------------------------------------------------------------------------------------------------


def is_open(row: GiasRow) -> bool:
    """GIAS status "Open" or "Open, but proposed to close"."""
    return status_is_open(row.status)


def is_primary_phase(row: GiasRow) -> bool:
    """Primary, Middle deemed primary or All-through: the phases that can have Year 5/6."""
    return phase_is_eligible(row.phase)


def assess_row(
    row: GiasRow,
    *,
    year56_social_worker_pupils: int | None,
    year56_looked_after_pupils: int | None,
) -> EligibilityDecision:
    """``assess_eligibility`` fed from a GIAS row and the Virtual School's counts."""
    return assess_eligibility(
        phase=row.phase,
        status=row.status,
        establishment_type=row.establishment_type,
        low_age=row.low_age,
        high_age=row.high_age,
        year56_social_worker_pupils=year56_social_worker_pupils,
        year56_looked_after_pupils=year56_looked_after_pupils,
    )
