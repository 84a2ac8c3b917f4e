"""JSON exports: an array of response objects, parsed one element at a time.

``json.JSONDecoder.raw_decode`` parses one element out of a text buffer that is refilled from
the stream as it is consumed, so a 100,000-element array never sits in memory whole. The first
object's keys are the columns; a key that first appears later is added (with a warning), and a
key an object lacks is a missing cell. An element that is not an object is a row error.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from surveys.formats.base import ChunkBuilder, ExportChunk, ExportMetadata, OpenedExport
from surveys.formats.errors import ExportFormatError, RowError

__all__ = ["MAX_ELEMENT_CHARS", "open_json"]

# One response is a few KB. An element that does not parse within this many characters is not
# a response (and the cap bounds the buffer for a file that is one giant broken element).
MAX_ELEMENT_CHARS = 4 * 1024 * 1024
_BLOCK = 64 * 1024
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_PLAIN = (str, int, float, type(None))  # cells that need no conversion (bool is not int here)
_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "true/false"}


class _ArrayReader:
    """A cursor over a JSON text that arrives in blocks; positions are reported in the file."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()  # a BOM is tolerated
        self._json = json.JSONDecoder()
        self._buf = ""
        self._pos = 0
        self._eof = False
        self._dropped = 0  # characters already discarded from the front of the buffer
        self._dropped_lines = 0
        self._line_start = 0  # file position of the first character of the current line
        self._bytes = 0  # bytes read from the stream so far

    # -- buffer --------------------------------------------------------------------------------

    def _fill(self) -> bool:
        if self._eof:
            return False
        block = self._stream.read(_BLOCK)
        try:
            self._buf += self._decoder.decode(block or b"", final=not block)
        except UnicodeDecodeError as exc:
            raise ExportFormatError(
                f"The JSON export is not UTF-8 text (near byte {self._bytes + exc.start + 1}); "
                "JSON must be UTF-8 encoded."
            ) from None
        self._bytes += len(block)
        self._eof = not block
        return bool(block)

    def _compact(self) -> None:
        if self._pos < _BLOCK:
            return
        consumed = self._buf[: self._pos]
        newline = consumed.rfind("\n")
        if newline >= 0:
            self._dropped_lines += consumed.count("\n")
            self._line_start = self._dropped + newline + 1
        self._dropped += self._pos
        self._buf, self._pos = self._buf[self._pos :], 0

    def _where(self, pos: int) -> str:
        before = self._buf[:pos]
        newline = before.rfind("\n")
        line = self._dropped_lines + before.count("\n") + 1
        start = self._dropped + newline + 1 if newline >= 0 else self._line_start
        at = self._dropped + pos
        return f"line {line}, column {at - start + 1} (character {at + 1})"

    def _peek(self) -> str | None:
        while True:
            match = _WHITESPACE.match(self._buf, self._pos)
            self._pos = match.end() if match else self._pos
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._fill():
                return None

    def _fail(self, message: str, pos: int | None = None) -> ExportFormatError:
        where = self._where(self._pos if pos is None else pos)
        return ExportFormatError(f"The JSON export is not valid at {where}: {message}.")

    # -- grammar -------------------------------------------------------------------------------

    def start(self) -> None:
        first = self._peek()
        if first is None:
            raise ExportFormatError("The file is empty: it holds only blank space.")
        if first != "[":
            raise self._fail("expected the export to be an array of responses, starting with [")
        self._pos += 1

    def _value(self) -> Any:
        self._peek()
        while True:
            try:
                value, end = self._json.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError as exc:
                if len(self._buf) - self._pos >= MAX_ELEMENT_CHARS:
                    raise self._fail(
                        f"an element is larger than {MAX_ELEMENT_CHARS // (1024 * 1024)} MiB "
                        f"or is broken ({exc.msg})",
                    ) from None
                if self._fill():
                    continue
                raise self._fail(exc.msg, exc.pos) from None
            # A number at the very end of the buffer may go on in the next block ("12"+"34").
            if end == len(self._buf) and self._fill():
                continue
            self._pos = end
            self._compact()
            return value

    def elements(self) -> Iterator[Any]:
        """The array's elements in order; raises ExportFormatError where the JSON breaks."""
        if self._peek() == "]":
            self._pos += 1
            self._finish()
            return
        count = 0
        while True:
            yield self._value()
            count += 1
            after = self._peek()
            if after == ",":
                self._pos += 1
            elif after == "]":
                self._pos += 1
                self._finish()
                return
            elif after is None:
                raise self._fail(
                    f"the file ends after element {count} without closing the array with ] "
                    "(was the upload cut short?)"
                )
            else:
                raise self._fail(f"expected , or ] after element {count}")

    def _finish(self) -> None:
        if self._peek() is not None:
            raise self._fail("there is more content after the array's closing ]")


def _cell(value: Any) -> Any:
    if isinstance(value, bool):  # before int: True is an int to Python, not to a questionnaire
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value


def open_json(stream: BinaryIO, *, chunk_rows: int) -> OpenedExport:
    """Read up to the first object now (its keys are the columns); return the metadata and an
    iterator of chunks."""
    reader = _ArrayReader(stream)
    reader.start()
    elements = enumerate(reader.elements(), start=1)
    early: list[RowError] = []
    first: tuple[int, dict[str, Any]] | None = None
    for number, element in elements:
        if isinstance(element, dict):
            first = (number, element)
            break
        early.append(_not_an_object(number, element))
    meta = ExportMetadata(format="json", columns=list(first[1]) if first else [])
    return OpenedExport(meta, _chunks(meta, first, early, elements, chunk_rows))


def _not_an_object(number: int, element: Any) -> RowError:
    kind = "null" if element is None else _KINDS.get(type(element), "not an object")
    return RowError(number, None, f"element {number} is {kind}, not a response object", True)


def _chunks(
    meta: ExportMetadata,
    first: tuple[int, dict[str, Any]] | None,
    early: list[RowError],
    elements: Iterator[tuple[int, Any]],
    chunk_rows: int,
) -> Iterator[ExportChunk]:
    columns = meta.columns  # the builder shares this list, so a late key widens later flushes
    position = {name: i for i, name in enumerate(columns)}
    builder = ChunkBuilder(columns, chunk_rows)
    for problem in early:
        builder.error(problem)
    late_keys = 0

    def cells(response: dict[str, Any]) -> list[Any]:
        nonlocal late_keys
        if len(response) == len(columns) and list(response) == columns:  # the usual case
            return [v if v.__class__ in _PLAIN else _cell(v) for v in response.values()]
        for key in response:
            if key not in position:
                position[key] = len(columns)
                columns.append(key)
                late_keys += 1
        row: list[Any] = [None] * len(columns)
        for key, value in response.items():
            row[position[key]] = value if value.__class__ in _PLAIN else _cell(value)
        return row

    if first is not None:
        chunk = builder.add(first[0], cells(first[1]))
        if chunk is not None:
            yield chunk
    for number, element in elements:
        if not isinstance(element, dict):
            builder.error(_not_an_object(number, element))
            continue
        chunk = builder.add(number, cells(element))
        if chunk is not None:
            yield chunk
    last = builder.flush()
    if last is not None:
        yield last
    if late_keys:
        meta.warnings.append(
            f"{late_keys} key(s) first appear after the first response; they were added as "
            "columns, missing in the responses before."
        )
