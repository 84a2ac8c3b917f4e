"""``read_export``: open any export format and iterate it in chunks."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import BinaryIO

from surveys.formats.base import ExportChunk, ExportMetadata, OpenedExport, read_head
from surveys.formats.columns import SCHOOL_EMAIL_COLUMNS, ColumnWanted, require_columns
from surveys.formats.csv_export import open_csv
from surveys.formats.detect import EXPORT_FORMATS, detect_format
from surveys.formats.errors import ExportFormatError
from surveys.formats.json_export import open_json
from surveys.formats.sav_export import open_sav
from surveys.formats.xlsx_export import open_xlsx

__all__ = ["DEFAULT_CHUNK_ROWS", "ExportReader", "read_export"]

DEFAULT_CHUNK_ROWS = 5000


class ExportReader:
    """An opened export: ``metadata`` now, then its chunks by iterating (once).

    The counters in ``metadata`` (rows, rows_rejected, row_errors, user_missing) are final when
    the iteration ends, and ``metadata.finished`` is then True; a header-only export ends with
    ``rows == 0`` and a warning saying so. Iterating can still raise ``ExportFormatError`` for
    damage found part-way (a truncated file), so a caller should apply the chunks of one export
    in one transaction. Use as a context manager, or call ``close()``, to release the file early.
    """

    def __init__(self, opened: OpenedExport) -> None:
        self.metadata: ExportMetadata = opened.metadata
        self._chunks = opened.chunks
        self._release = opened.release
        self._started = False
        self._closed = False

    def __iter__(self) -> Iterator[ExportChunk]:
        if self._started:
            raise RuntimeError("An export's chunks can be iterated only once.")
        self._started = True
        return self._counted()

    def _counted(self) -> Iterator[ExportChunk]:
        meta = self.metadata
        try:
            for chunk in self._chunks:
                meta.rows += len(chunk.frame)
                meta.row_errors += len(chunk.row_errors)
                meta.rows_rejected += sum(e.rejected for e in chunk.row_errors)
                yield chunk
        finally:
            self.close()
        meta.finished = True
        if meta.rows == 0:
            meta.warnings.append("The export has a header but no responses.")

    def close(self) -> None:
        """Release the file (idempotent); chunks not yet read are not read."""
        if self._closed:
            return
        self._closed = True
        close = getattr(self._chunks, "close", None)
        try:
            if close is not None:
                close()
        finally:
            self._release()

    def __enter__(self) -> ExportReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_export(
    stream: BinaryIO,
    *,
    format: str,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    required_columns: Iterable[ColumnWanted] = (SCHOOL_EMAIL_COLUMNS,),
    label_columns: Iterable[ColumnWanted] = (),
) -> ExportReader:
    """Open an export of the given format (see ``detect_format``) and read its header now.

    ``required_columns`` are names, or sequences of alternative names tried in order; by default
    the school email column (``SCHOOL_EMAIL_COLUMNS``). Each is looked up exactly, then ignoring
    case and spaces; ``metadata.required`` maps each to the column found, and any that is absent
    raises ``MissingColumns`` listing the columns the export does have. ``label_columns``
    (SPSS only) are the columns whose value labels replace their codes.

    The stream is read from its current position and not closed. Raises ``ExportFormatError``
    when the content is not of ``format`` or cannot be read.
    """
    if format not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {', '.join(EXPORT_FORMATS)}, not {format!r}")
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    head, stream = read_head(stream)
    content = detect_format(head)
    if content != format:
        raise ExportFormatError(
            f"The export was to be read as {format}, but its content is {content}."
        )
    if format == "csv":
        opened = open_csv(stream, head, chunk_rows=chunk_rows)
    elif format == "json":
        opened = open_json(stream, chunk_rows=chunk_rows)
    elif format == "xlsx":
        opened = open_xlsx(stream, chunk_rows=chunk_rows)
    else:
        opened = open_sav(stream, chunk_rows=chunk_rows, label_columns=label_columns)
    reader = ExportReader(opened)
    try:
        reader.metadata.required = require_columns(reader.metadata.columns, required_columns)
    except ExportFormatError:
        reader.close()
        raise
    return reader
