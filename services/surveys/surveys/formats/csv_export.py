"""CSV exports: encoding and delimiter detected, the Qualtrics header rows skipped, streamed.

The file is read one physical line at a time and each line is decoded on its own, then handed
to the ``csv`` module (which joins the lines of a quoted field with embedded newlines). So memory
is bounded by the chunk size and the longest line, never by the file.

Encoding is decided once from the first bytes: a UTF-8 BOM means UTF-8; otherwise text that is
valid UTF-8 is UTF-8, and anything else is Windows-1252 (what Excel on Windows writes). A later
line that breaks the decision (a cp1252 "é" far into a UTF-8 file) is decoded as Windows-1252
and counted in a warning rather than failing the whole file: a damaged name should not cost the
other 99,999 responses.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from surveys.formats.base import (
    ChunkBuilder,
    ExportChunk,
    ExportMetadata,
    OpenedExport,
    extra_header_rows,
)
from surveys.formats.columns import unique_column_names
from surveys.formats.errors import ExportFormatError, RowError

__all__ = ["MAX_LINE_BYTES", "detect_encoding", "open_csv", "sniff_delimiter"]

# A survey row is a few KB; a "line" this long means the file is not line-oriented text, and the
# cap keeps memory bounded even for a file with no newline at all.
MAX_LINE_BYTES = 4 * 1024 * 1024
DELIMITERS = (",", ";", "\t")

_UTF8_BOM = b"\xef\xbb\xbf"
_SEP_LINE = re.compile(r'\A"?sep=(.)"?\s*\Z', re.IGNORECASE)  # Excel's "sep=;" hint line
_FALLBACK = "surveys-cp1252-latin1"
_BLOCK = 1024 * 1024


def _latin1_fallback(exc: UnicodeError) -> tuple[str, int]:
    # cp1252 leaves five bytes undefined; latin-1 gives them a meaning, so decoding never fails.
    if isinstance(exc, UnicodeDecodeError):
        return exc.object[exc.start : exc.end].decode("latin-1"), exc.end
    raise exc


codecs.register_error(_FALLBACK, _latin1_fallback)


def detect_encoding(head: bytes) -> str:
    """ "utf-8-sig" (BOM), "utf-8" (the head is valid UTF-8) or "cp1252"."""
    if head.startswith(_UTF8_BOM):
        return "utf-8-sig"
    try:
        # final=False: the head may end in the middle of a multi-byte character.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


def sniff_delimiter(header_line: str) -> str:
    """The delimiter among comma, semicolon and tab that occurs most often outside quotes in
    the header line; comma when there is none (a one-column file)."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in header_line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])  # ties go to the earlier: comma first
    return best if counts[best] else ","


class _Lines:
    """The stream's lines, decoded, with a count of lines that needed the fallback.

    Bytes are read and decoded a block at a time (a block ends at a newline, so no character is
    split), and ``io.StringIO`` splits the block into lines in C: per-line Python code would
    cost more than the CSV parsing.
    """

    def __init__(self, stream: BinaryIO, encoding: str) -> None:
        self._stream = stream
        self.utf8 = encoding != "cp1252"
        self.fallbacks = 0
        self.first_fallback: int | None = None
        self._lines_before = 0  # lines in the blocks decoded so far
        self._skip_bom = encoding == "utf-8-sig"

    def __iter__(self) -> Iterator[str]:
        # chain.from_iterable runs in C: Python code runs once per block, not once per line.
        texts = (io.StringIO(self._decode(block), newline="") for block in self._blocks())
        return itertools.chain.from_iterable(texts)

    def _blocks(self) -> Iterator[bytes]:
        carry = b""
        while data := self._stream.read(_BLOCK):
            data = carry + data
            cut = data.rfind(b"\n") + 1
            carry = data[cut:]
            if len(carry) > MAX_LINE_BYTES:
                raise ExportFormatError(
                    f"A line is longer than {MAX_LINE_BYTES // (1024 * 1024)} MiB, so this is "
                    "not a CSV export (or its line endings are not LF or CRLF)."
                )
            if cut:
                yield data[:cut]
        if carry:
            yield carry  # the last line, without a newline

    def _decode(self, block: bytes) -> str:
        if self._skip_bom:
            block, self._skip_bom = block.removeprefix(_UTF8_BOM), False
        if not self.utf8:
            text = block.decode("cp1252", _FALLBACK)
        else:
            try:
                text = block.decode("utf-8")
            except UnicodeDecodeError:
                text = "\n".join(self._decode_lines(block.split(b"\n")))
        self._lines_before += block.count(b"\n")
        return text

    def _decode_lines(self, lines: list[bytes]) -> Iterator[str]:
        for number, line in enumerate(lines, start=self._lines_before + 1):
            try:
                yield line.decode("utf-8")
            except UnicodeDecodeError:
                self.fallbacks += 1
                self.first_fallback = self.first_fallback or number
                yield line.decode("cp1252", _FALLBACK)


def open_csv(stream: BinaryIO, head: bytes, *, chunk_rows: int) -> OpenedExport:
    """Read the header of a CSV export now; return its metadata and an iterator of chunks.

    Raises ``ExportFormatError`` for a file with no header row or broken CSV in the header; the
    iterator raises it for CSV broken beyond a row (an unterminated quote, a giant line).
    """
    encoding = detect_encoding(head)
    meta = ExportMetadata(format="csv", encoding=encoding)
    decoded = _Lines(stream, encoding)
    lines = iter(decoded)
    before = 0  # spreadsheet rows above the header: blank lines, a "sep=" line
    first = next(lines, None)
    while first is not None and not first.strip():
        before += 1
        first = next(lines, None)
    if first is None:
        raise ExportFormatError("The file is empty: it has no header row.")
    sep = _SEP_LINE.match(first)
    if sep and sep.group(1) in DELIMITERS:
        meta.delimiter = sep.group(1)
        meta.header_rows_skipped = 1
        before += 1
        first = next(lines, "")
    else:
        meta.delimiter = sniff_delimiter(first)
    reader = csv.reader(itertools.chain([first], lines), delimiter=meta.delimiter, strict=True)
    counter = _Records(reader, before=before)

    header = counter.next()
    while header is not None and not any(cell.strip() for cell in header[1]):
        header = counter.next()
    if header is None:
        raise ExportFormatError("The file is empty: it has no header row.")
    meta.columns, warnings = unique_column_names(header[1])
    meta.warnings.extend(warnings)

    lookahead = list(itertools.islice(counter, 2))
    skipped = extra_header_rows([row or [] for _, row, _ in lookahead])
    meta.header_rows_skipped += skipped
    return OpenedExport(meta, _chunks(meta, counter, lookahead[skipped:], decoded, chunk_rows))


class _Records:
    """CSV records numbered as spreadsheet rows (a quoted multi-line field is still one row),
    with the problem of a record the csv module could not parse (``row`` is then None).

    The reader is strict so that a quoted field still open at the end of the file is an error:
    the file was cut short, or a stray quote swallowed every row after it. Either way rows would
    be lost silently, so that (and a field too big to be an answer, the same stray quote in a
    bigger file) stops the import. Other broken records are rejected one by one.
    """

    def __init__(self, reader: Any, *, before: int) -> None:
        self._reader = reader
        self.number = before
        self._numbered = self._records()

    def _records(self) -> Iterator[tuple[int, list[str] | None, str | None]]:
        while True:
            start = self._reader.line_num + 1
            try:
                for row in self._reader:  # the fast path: no per-record try
                    self.number += 1
                    yield self.number, row, None
                    start = self._reader.line_num + 1
                return
            except csv.Error as exc:
                self.number += 1
                problem = str(exc)
                if "end of data" in problem or "field limit" in problem:
                    raise ExportFormatError(
                        f"Row {self.number} (from line {start}) opens a quoted field that is "
                        "never closed, so every row after it would be lost: the file was cut "
                        "short, or an answer has a stray double quote. Nothing was imported."
                    ) from None
                yield self.number, None, f"the row is not valid CSV ({problem})"

    def __iter__(self) -> Iterator[tuple[int, list[str] | None, str | None]]:
        return self._numbered

    def next(self) -> tuple[int, list[str]] | None:
        """The next record for the header rows, where any broken record is fatal."""
        record = next(self._numbered, None)
        if record is None:
            return None
        number, row, problem = record
        if row is None:
            raise ExportFormatError(f"Row {number} of the header is not valid CSV ({problem}).")
        return number, row


def _chunks(
    meta: ExportMetadata,
    records: _Records,
    pending: list[tuple[int, list[str] | None, str | None]],
    lines: _Lines,
    chunk_rows: int,
) -> Iterator[ExportChunk]:
    width = len(meta.columns)
    builder = ChunkBuilder(meta.columns, chunk_rows)
    for number, row, problem in itertools.chain(pending, records):
        if row is None:
            builder.error(RowError(number, None, problem or "not valid CSV", rejected=True))
        elif len(row) > width and any(row[width:]):
            builder.error(
                RowError(
                    number,
                    None,
                    f"the row has {len(row)} fields but the header has {width} columns "
                    "(an unquoted delimiter in an answer?)",
                    rejected=True,
                )
            )
        elif any(row):  # skip blank lines and rows of empty cells
            chunk = builder.add(number, row if len(row) <= width else row[:width])
            if chunk is not None:
                yield chunk
    last = builder.flush()
    if last is not None:
        yield last
    if lines.fallbacks:
        meta.warnings.append(
            f"{lines.fallbacks} line(s) were not valid UTF-8 (the first is line "
            f"{lines.first_fallback}) and were read as Windows-1252; check accented names."
        )
