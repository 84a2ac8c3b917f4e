"""What every format's reader produces: the export's metadata and chunks of rows.

A chunk is a pandas DataFrame of at most ``chunk_rows`` responses, so memory stays bounded
whatever the export's size. Its index is the row number a person sees when opening the file
(named "row"); its cells are text (``str``), numbers (``int``/``float``) or missing (``None`` or
NaN). Cells are never empty strings and never booleans, dates or nested values: readers turn
those into missing, text or JSON text, so scoring has one set of rules for every format.
"""

from __future__ import annotations

import io
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, BinaryIO

import numpy as np
import pandas as pd

from surveys.formats.detect import HEAD_BYTES, ExportFormat
from surveys.formats.errors import RowError

__all__ = [
    "ChunkBuilder",
    "ExportChunk",
    "ExportMetadata",
    "OpenedExport",
    "extra_header_rows",
    "read_head",
    "seekable",
]

# Above this an upload that must be seekable (xlsx, sav) is spooled to disk rather than memory.
_SPOOL_IN_MEMORY = 16 * 1024 * 1024


@dataclass
class ExportMetadata:
    """What was learnt about an export while opening and reading it.

    ``columns`` are the header's names (stripped, blanks and repeats renamed, see
    ``unique_column_names``). ``encoding``/``delimiter`` are set for CSV only, ``sheet`` for
    xlsx only. ``header_rows_skipped`` counts rows under (or, for a ``sep=`` line, above) the
    names that are not responses. ``required`` maps each required column (its first
    alternative) to the column found. The counters grow while the chunks are read and are final
    once ``finished`` is True.
    """

    format: ExportFormat
    columns: list[str] = field(default_factory=list)
    encoding: str | None = None
    delimiter: str | None = None
    header_rows_skipped: int = 0
    sheet: str | None = None
    required: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    rows: int = 0  # responses yielded in chunks
    rows_rejected: int = 0  # rows left out, each with a RowError(rejected=True)
    row_errors: int = 0  # RowErrors found by the reader (scoring finds its own)
    user_missing: int = 0  # SPSS answers set to missing because their code is user-missing
    finished: bool = False


@dataclass(frozen=True, slots=True)
class ExportChunk:
    """Up to ``chunk_rows`` responses and the problems found in the rows they came from (a chunk
    can hold errors and no rows, when every row in its stretch was rejected)."""

    frame: pd.DataFrame
    row_errors: list[RowError]


class ChunkBuilder:
    """Collects rows into frames of ``chunk_rows`` for readers that produce one row at a time."""

    def __init__(self, columns: list[str], chunk_rows: int) -> None:
        self.columns = columns
        self.chunk_rows = chunk_rows
        self._rows: list[list[Any]] = []
        self._numbers: list[int] = []
        self._errors: list[RowError] = []

    def add(self, number: int, cells: list[Any]) -> ExportChunk | None:
        """Add a row (at most as many cells as columns); returns a chunk when one is full."""
        self._rows.append(cells)
        self._numbers.append(number)
        if len(self._numbers) < self.chunk_rows:
            return None
        return self.flush()

    def error(self, problem: RowError) -> None:
        self._errors.append(problem)

    def flush(self) -> ExportChunk | None:
        """The rows and errors collected so far as a chunk (None if there are none)."""
        if not self._rows and not self._errors:
            return None
        width = len(self.columns)
        padded = [r if len(r) == width else r + [None] * (width - len(r)) for r in self._rows]
        cells = np.empty((len(padded), width), dtype=object)
        if padded and width:
            cells[:] = padded
        cells[cells == ""] = None  # one vectorised step rather than a Python test per cell
        # dtype=object: pandas 3 would otherwise convert text columns to its string dtype,
        # which costs more than the whole parse and turns None into NaN.
        index = pd.Index(self._numbers, name="row", dtype="int64")
        frame = pd.DataFrame(cells, columns=self.columns, index=index, dtype=object)
        chunk = ExportChunk(frame=frame, row_errors=self._errors)
        self._rows, self._numbers, self._errors = [], [], []
        return chunk


_IMPORT_ID = re.compile(r'\s*\{\s*"ImportId"\s*:')


def extra_header_rows(rows: list[list[Any]]) -> int:
    """How many of the (up to two) rows right under the column names are platform header rows.

    The Qualtrics layout has two: the question text, then import ids such as
    ``{"ImportId":"QID1"}``. The import-id row is what identifies it (question text looks like
    any answer), so: 2 if the second row is mostly import ids, 1 if the first one is, else 0.
    """
    for position, row in enumerate(rows[:2], start=1):
        cells = [str(c) for c in row if c is not None and str(c).strip()]
        if cells and 2 * sum(bool(_IMPORT_ID.match(c)) for c in cells) >= len(cells):
            return position
    return 0


def read_head(stream: BinaryIO) -> tuple[bytes, BinaryIO]:
    """The first ``HEAD_BYTES`` of ``stream``, and a stream that still starts at the beginning.

    A seekable stream is rewound; any other is wrapped so the bytes read come first again.
    """
    start = stream.tell() if stream.seekable() else None
    head = b""
    while len(head) < HEAD_BYTES and (block := stream.read(HEAD_BYTES - len(head))):
        head += block  # a socket-like stream may return short reads
    if start is not None:
        stream.seek(start)
        return head, stream
    return head, io.BufferedReader(_Prefixed(head, stream), buffer_size=64 * 1024)  # type: ignore[return-value]


class _Prefixed(io.RawIOBase):
    """Bytes already read, then the rest of a stream (which is not closed)."""

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


def seekable(stream: BinaryIO) -> tuple[BinaryIO, Callable[[], None]]:
    """``stream`` if it can seek, else a spooled copy; and what to call when done with it.

    openpyxl and pyreadstat jump around in the file, which an upload or an S3 body cannot do.
    """
    if stream.seekable():
        return stream, lambda: None
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)
    while block := stream.read(1024 * 1024):
        spool.write(block)
    spool.seek(0)
    return spool, spool.close  # type: ignore[return-value]


def _nothing() -> None:
    return None


@dataclass
class OpenedExport:
    """What a format's reader returns once the header is read: the metadata, the chunks still
    to come, and what releases the file (a workbook, a spooled copy) when done."""

    metadata: ExportMetadata
    chunks: Iterator[ExportChunk]
    release: Callable[[], None] = _nothing
