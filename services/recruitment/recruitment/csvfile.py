"""Reading the CSV files the trial receives (the GIAS extract, the URN,email register): one
reader for both, so decoding, header finding, line numbering, unreadable rows and blank rows are
handled once.

The file is read one physical line at a time (never whole); each line is decoded on its own (see
``decode_line``) and handed to the ``csv`` module. :func:`open_csv` checks the first bytes and the
header when it is called, then yields one :class:`CsvRecord` per record.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from rlc_shared.types import URN_MAX, URN_MIN

__all__ = [
    "MAX_LINE_BYTES",
    "CsvRecord",
    "decode_line",
    "iter_decoded_lines",
    "open_csv",
    "parse_urn",
]

# A real GIAS line is ~2 KB. Anything this long is not a GIAS row, and the cap keeps memory bounded
# even for a file with no newlines at all.
MAX_LINE_BYTES = 1 << 20

_UTF8_BOM = b"\xef\xbb\xbf"
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


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
    error: type[Exception] = ValueError,
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
# Records
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CsvRecord:
    """One record: the physical line it starts on (1 is the header) and its fields, or why it
    could not be read as CSV."""

    line: int
    fields: list[str]
    error: str | None = None


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


def _records(reader: Any, header_end: int) -> Iterator[CsvRecord]:
    end = header_end
    while True:
        line = end + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            end = reader.line_num
            yield CsvRecord(line, [], f"the row could not be read as CSV ({exc})")
            continue
        end = reader.line_num
        if any(f.strip() for f in row):  # skip blank lines and rows of empty spreadsheet cells
            yield CsvRecord(line, row)


def open_csv(
    stream: BinaryIO, *, what: str, error: type[Exception]
) -> tuple[list[str], Iterator[CsvRecord]]:
    """The header of a CSV file (checked now: ``error`` if the file is empty or not text) and
    an iterator over its records."""
    reader = csv.reader(iter_decoded_lines(stream, what=what, error=error))
    header, header_end = _read_header(reader, error, what)
    return header, _records(reader, header_end)


def parse_urn(text: str) -> tuple[int, str | None]:
    """A URN field: ``(urn, None)``, or ``(0, why not)`` for a missing or malformed one."""
    if not text:
        return 0, "URN is missing"
    shown = repr(text if len(text) <= 20 else text[:20] + "…")
    if not (text.isascii() and text.isdigit()):  # not int(): it would take "+3", "1_0" and "٣"
        return 0, f"URN {shown} is not a whole number"
    urn = int(text)
    if not URN_MIN <= urn <= URN_MAX:
        return 0, f"URN {shown} is not a six-digit DfE number ({URN_MIN}–{URN_MAX})"
    return urn, None
