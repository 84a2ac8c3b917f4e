"""Survey exports in every format the platform sends: CSV, Excel (.xlsx), SPSS (.sav), JSON.

Typical use, by the webhook handler or the worker that parses a stored export::

    head = stream.read(HEAD_BYTES); stream.seek(0)
    warnings: list[str] = []
    fmt = detect_format(head, declared=content_type, file_name=name, warnings=warnings)
    with read_export(stream, format=fmt, required_columns=codebook.required_columns(),
                     label_columns=codebook.label_columns()) as export:
        export.metadata.columns   # header names; also encoding, delimiter, header rows skipped
        for chunk in export:      # ExportChunk: a DataFrame of <= chunk_rows responses
            chunk.frame           # index "row": the row number a person sees in the file
            chunk.row_errors      # RowError(row, column, problem, rejected)
    export.metadata.rows          # final counts once iterated

Row numbers are the ones a person sees when opening the file: in CSV and Excel the
spreadsheet row (the column names are row 1, so in the Qualtrics layout the first response is
row 4); in SPSS the case number; in JSON the element's position in the array (from 1).

Errors: ``ExportFormatError`` (the file as a whole cannot be read; the message says what it is
instead) and its subclass ``MissingColumns`` (lists the columns found). Both are problem+json
errors (422). No message or row error ever contains a cell's text, so no email address.
"""

from surveys.formats.base import ExportChunk, ExportMetadata
from surveys.formats.columns import (
    SCHOOL_EMAIL_COLUMNS,
    ColumnWanted,
    find_column,
    normalise_column_name,
    require_columns,
)
from surveys.formats.detect import (
    EXPORT_FORMATS,
    HEAD_BYTES,
    ExportFormat,
    declared_format,
    detect_format,
)
from surveys.formats.errors import ExportFormatError, MissingColumns, RowError
from surveys.formats.reader import DEFAULT_CHUNK_ROWS, ExportReader, read_export

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "EXPORT_FORMATS",
    "HEAD_BYTES",
    "SCHOOL_EMAIL_COLUMNS",
    "ColumnWanted",
    "ExportChunk",
    "ExportFormat",
    "ExportFormatError",
    "ExportMetadata",
    "ExportReader",
    "MissingColumns",
    "RowError",
    "declared_format",
    "detect_format",
    "find_column",
    "normalise_column_name",
    "read_export",
    "require_columns",
]
