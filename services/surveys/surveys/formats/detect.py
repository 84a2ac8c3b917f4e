"""Which export format a file is, decided from its first bytes rather than its name.

A survey platform's Content-Type and a file's extension are often wrong (an .xlsx sent as
text/csv, a CSV saved as export.xls), so the content decides and a contradicting declaration
only earns a warning. Content we cannot read is refused with a description of what it is.
"""

from __future__ import annotations

import re
import struct
from typing import Final, Literal

from rlc_shared.content import media_type
from surveys.formats.errors import ExportFormatError

__all__ = [
    "EXPORT_FORMATS",
    "HEAD_BYTES",
    "ExportFormat",
    "declared_format",
    "detect_format",
]

ExportFormat = Literal["csv", "xlsx", "sav", "json"]
EXPORT_FORMATS: Final[tuple[ExportFormat, ...]] = ("csv", "xlsx", "sav", "json")

# How much of the file to pass to detect_format: enough to see past a BOM and a long header
# line, and to find an xlsx's "xl/" entries, which follow its small first members.
HEAD_BYTES: Final = 64 * 1024

_UTF8_BOM = b"\xef\xbb\xbf"
_ZIP = b"PK\x03\x04"
_EMPTY_ZIP = b"PK\x05\x06"
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Office 97-2003: .xls, .doc, also some old .msg

# Other things people upload by mistake, described so the message says what was sent.
_MAGIC: Final[tuple[tuple[bytes, str], ...]] = (
    (b"%PDF", "a PDF document"),
    (_OLE2, "an old .xls workbook (or another Office 97-2003 file); save it as .xlsx or CSV"),
    (b"\x1f\x8b", "a gzip-compressed file; decompress it first"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"PAR1", "a Parquet file"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\xff\xfe", "UTF-16 text (Excel's 'Unicode Text'); save it as 'CSV UTF-8' instead"),
    (b"\xfe\xff", "UTF-16 text; save it as 'CSV UTF-8' instead"),
)

# Content types and extensions a platform or a person may attach, mapped to our formats.
_DECLARED: Final[dict[str, ExportFormat]] = {
    "csv": "csv",
    "text/csv": "csv",
    "application/csv": "csv",
    "text/plain": "csv",
    "text/tab-separated-values": "csv",
    "tsv": "csv",
    "txt": "csv",
    "xlsx": "xlsx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "sav": "sav",
    "zsav": "sav",
    "spss": "sav",
    "application/x-spss-sav": "sav",
    "application/x-spss": "sav",
    "application/spss": "sav",
    "json": "json",
    "application/json": "json",
    "text/json": "json",
}

_DESCRIBED: Final[dict[ExportFormat, str]] = {
    "csv": "CSV text",
    "xlsx": "an Excel workbook",
    "sav": "an SPSS .sav file",
    "json": "a JSON array",
}

_CONTROL = re.compile(rb"[\x00-\x08\x0e-\x1f\x7f]")


def declared_format(declared: str | None) -> ExportFormat | None:
    """The format a content type ("text/csv; charset=utf-8"), a format name ("SAV") or a file
    extension (".json") stands for; None if it is empty or names nothing we read."""
    if not declared:
        return None
    return _DECLARED.get(media_type(declared).lstrip("."))


def _extension(file_name: str | None) -> str | None:
    if not file_name or "." not in file_name:
        return None
    return file_name.rsplit(".", 1)[1].strip().lower() or None


def _local_header(head: bytes, at: int) -> tuple[int, int, int, int]:
    """Flags, compressed size, name length and extra-field length of a ZIP local file header."""
    _, flags, _, _, _, _, compressed, _, name_len, extra_len = struct.unpack_from(
        "<HHHHHIIIHH", head, at + 4
    )
    return flags, compressed, name_len, extra_len


def _zip_kind(head: bytes) -> str:
    """What a ZIP archive holds, judged from the names of its first entries.

    Every local file header carries its entry's name, and an Office file's first entries are
    small, so the first 64 KiB show whether this is a workbook ("xl/...") or something else.
    """
    names: list[bytes] = []
    at = 0
    while len(names) < 50 and head.startswith(_ZIP, at) and at + 30 <= len(head):
        flags, compressed, name_len, extra_len = _local_header(head, at)
        names.append(head[at + 30 : at + 30 + name_len])
        if flags & 0x08:  # sizes come after the data (a streamed zip): the next entry is unknown
            break
        at += 30 + name_len + extra_len + compressed
    joined = b"\n".join(names)
    if b"xl/" in joined:
        return "xlsx"
    if b"word/" in joined:
        return "a Word document (.docx), not an Excel workbook"
    if b"ppt/" in joined:
        return "a PowerPoint presentation (.pptx), not an Excel workbook"
    if b"content.xml" in joined or b"mimetype" in joined:
        return "an OpenDocument file (.ods/.odt); save it as .xlsx or CSV"
    if names and not joined.startswith((b"[Content_Types].xml", b"_rels/", b"docProps/")):
        return "a ZIP archive that is not an Excel workbook"
    return "xlsx"  # an Office package whose workbook part lies further in; the reader checks


def _text_kind(head: bytes) -> str:
    """CSV unless the text shows it is JSON, a web page or binary data."""
    body = head[len(_UTF8_BOM) :] if head.startswith(_UTF8_BOM) else head
    start = body.lstrip(b" \t\r\n")
    if not start:
        return "an empty file (it holds only blank space)"
    if start.startswith(b"["):
        return "json"
    if start.startswith(b"{"):
        return (
            "a single JSON object (or one object per line); the export must be a JSON array "
            "of responses, [{...}, {...}]"
        )
    if start.startswith(b"<"):
        lowered = start[:512].lower()
        if b"<html" in lowered or b"<!doctype html" in lowered:
            return "an HTML web page (a login or error page saved instead of the export?)"
        return "an XML document (perhaps an Excel 2003 XML spreadsheet); save it as .xlsx or CSV"
    if b"\x00" in body or _CONTROL.search(body.split(b"\n", 1)[0]):
        return "binary data"
    return "csv"


def detect_format(
    head: bytes,
    declared: str | None = None,
    file_name: str | None = None,
    *,
    warnings: list[str] | None = None,
) -> ExportFormat:
    """The export's format, "csv", "xlsx", "sav" or "json", from its first bytes.

    ``head`` should be the first ``HEAD_BYTES`` of the file (all of it if shorter). ``declared``
    is what the sender said (a Content-Type or a format name) and ``file_name`` the name it came
    with; when either contradicts the content, the content wins and a sentence saying so is
    appended to ``warnings`` (if given). Raises ``ExportFormatError`` describing the content when
    it is empty or not something we read ("a PDF document", "binary data"...).
    """
    if not head:
        raise ExportFormatError("The file is empty: it has no bytes at all.")
    if head.startswith(_ZIP):
        kind = _zip_kind(head)
    elif head.startswith(_EMPTY_ZIP):
        kind = "an empty ZIP archive"
    elif head.startswith((b"$FL2", b"$FL3")):
        kind = "sav"
    else:
        kind = next((what for magic, what in _MAGIC if head.startswith(magic)), None) or (
            _text_kind(head)
        )
    if kind not in EXPORT_FORMATS:
        raise ExportFormatError(f"This file is not a survey export we can read: it is {kind}.")
    found: ExportFormat = kind  # type: ignore[assignment]  # checked just above
    if warnings is not None:
        said = declared_format(declared)
        if declared and said is None:
            warnings.append(
                f"The sender declared the format as {media_type(declared)!r}, "
                f"which we do not recognise; the content is {_DESCRIBED[found]}."
            )
        elif said is not None and said != found:
            warnings.append(
                f"The sender declared the file as {said}, but its content is "
                f"{_DESCRIBED[found]}; it was read as {found}."
            )
        ext = _extension(file_name)
        by_name = declared_format(ext)
        if by_name is not None and by_name != found:
            warnings.append(
                f"The file name ends in .{ext}, but its content is {_DESCRIBED[found]}; "
                f"it was read as {found}."
            )
    return found
