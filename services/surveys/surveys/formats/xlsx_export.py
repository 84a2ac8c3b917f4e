"""Excel exports: the first sheet of an .xlsx, streamed with openpyxl's read-only mode.

Read-only mode parses the sheet's XML as it is iterated, so memory stays bounded; cached
formula results are read (``data_only``), not formulas. The same Qualtrics header rows as in
CSV may follow the column names. Cells become the plain values every format yields: booleans
TRUE/FALSE and dates in ISO form become text.
"""

from __future__ import annotations

import datetime as dt
import itertools
import zipfile
import zlib
from collections.abc import Iterator
from typing import Any, BinaryIO
from xml.etree.ElementTree import ParseError

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from surveys.formats.base import (
    ChunkBuilder,
    ExportChunk,
    ExportMetadata,
    OpenedExport,
    extra_header_rows,
    seekable,
)
from surveys.formats.columns import unique_column_names
from surveys.formats.errors import ExportFormatError, RowError

__all__ = ["open_xlsx"]

# What a damaged or cut-short workbook makes zipfile, zlib and openpyxl's parser raise.
_DAMAGE = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    KeyError,
    ValueError,
    OSError,
    ParseError,
    InvalidFileException,
)
_DAMAGED = (
    "The Excel workbook is damaged or incomplete (was the upload cut short?); "
    "export it again from the survey platform."
)


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    return value


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _check_package(stream: BinaryIO) -> None:
    """Refuse a ZIP that is not a workbook, or one whose directory is damaged, before openpyxl
    (whose errors for these cases are less clear)."""
    try:
        with zipfile.ZipFile(stream) as archive:
            names = set(archive.namelist())
    except _DAMAGE:
        raise ExportFormatError(_DAMAGED) from None
    finally:
        stream.seek(0)
    if "xl/workbook.xml" not in names:
        raise ExportFormatError(
            "This file is not a survey export we can read: it is a ZIP archive that is not an "
            "Excel workbook."
        )


def open_xlsx(stream: BinaryIO, *, chunk_rows: int) -> OpenedExport:
    """Open the workbook and read the first sheet's header now; return the metadata and an
    iterator of chunks (which closes the workbook when it ends)."""
    source, release = seekable(stream)
    try:
        _check_package(source)
        workbook = load_workbook(source, read_only=True, data_only=True)
    except ExportFormatError:
        release()
        raise
    except _DAMAGE:
        release()
        raise ExportFormatError(_DAMAGED) from None

    def close() -> None:
        workbook.close()
        release()

    try:
        if not workbook.worksheets:
            raise ExportFormatError("The Excel workbook has no sheets.")
        sheet = workbook.worksheets[0]
        # Some writers record a wrong sheet size, and openpyxl would believe it and stop early.
        sheet.reset_dimensions()  # type: ignore[union-attr]
        meta = ExportMetadata(format="xlsx", sheet=sheet.title)
        if len(workbook.worksheets) > 1:
            meta.warnings.append(
                f"The workbook has {len(workbook.worksheets)} sheets; only the first, "
                f"{sheet.title!r}, was read."
            )
        rows = _numbered_rows(sheet.iter_rows(values_only=True))
        header: tuple[int, tuple[Any, ...]] | None = next(rows, None)
        while header is not None and all(_is_blank(v) for v in header[1]):
            header = next(rows, None)
        if header is None:
            raise ExportFormatError(
                "The Excel workbook's first sheet is empty: it has no header row."
            )
        cells = list(header[1])
        while cells and _is_blank(cells[-1]):
            cells.pop()
        meta.columns, warnings = unique_column_names(cells)
        meta.warnings.extend(warnings)
        lookahead = [r for r in (next(rows, None), next(rows, None)) if r is not None]
        skipped = extra_header_rows([list(values) for _, values in lookahead])
        meta.header_rows_skipped = skipped
    except BaseException:
        close()
        raise
    return OpenedExport(meta, _chunks(meta, lookahead[skipped:], rows, chunk_rows), close)


def _numbered_rows(rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """Rows with their sheet row numbers (openpyxl yields an empty tuple for a skipped row)."""
    try:
        yield from enumerate(rows, start=1)
    except _DAMAGE:
        raise ExportFormatError(_DAMAGED) from None


def _chunks(
    meta: ExportMetadata,
    pending: list[tuple[int, tuple[Any, ...]]],
    rows: Iterator[tuple[int, tuple[Any, ...]]],
    chunk_rows: int,
) -> Iterator[ExportChunk]:
    width = len(meta.columns)
    builder = ChunkBuilder(meta.columns, chunk_rows)
    for number, values in itertools.chain(pending, rows):
        if all(_is_blank(v) for v in values):
            continue
        beyond = [v for v in values[width:] if not _is_blank(v)]
        if beyond:
            builder.error(
                RowError(
                    number,
                    None,
                    f"{len(beyond)} value(s) to the right of the last named column were ignored",
                )
            )
        chunk = builder.add(number, [_cell(v) for v in values[:width]])
        if chunk is not None:
            yield chunk
    last = builder.flush()
    if last is not None:
        yield last
