"""What can be wrong with an export: the whole file (``ExportFormatError``) or one row (``RowError``).

Messages are written for the person who set up the survey platform's export. None of them
contains a cell's text: a cell may hold an email address or a name (numbers that failed a range
check are the only values quoted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rlc_shared.errors import Unprocessable

__all__ = ["ExportFormatError", "MissingColumns", "RowError"]

# A header can have hundreds of columns; the message names this many and counts the rest.
_COLUMNS_SHOWN = 80


class ExportFormatError(Unprocessable):
    """The file cannot be read as a survey export; ``detail`` says what was found instead."""

    code = "export-format-invalid"


class MissingColumns(ExportFormatError):
    """The export lacks columns that are needed. ``missing`` holds each wanted name, or list of
    alternative names (any one would have done); ``found`` is every column the export has."""

    code = "export-columns-missing"

    def __init__(self, *, missing: Sequence[str | Sequence[str]], found: Sequence[str]) -> None:
        wanted = [[m] if isinstance(m, str) else list(m) for m in missing]
        described = [
            repr(w[0]) if len(w) == 1 else "any of " + ", ".join(map(repr, w)) for w in wanted
        ]
        shown = ", ".join(repr(c) for c in found[:_COLUMNS_SHOWN]) or "none"
        more = f" and {len(found) - _COLUMNS_SHOWN} more" if len(found) > _COLUMNS_SHOWN else ""
        super().__init__(
            f"The export lacks {'a column' if len(wanted) == 1 else 'columns'}: "
            f"{'; '.join(described)}. Columns found ({len(found)}): {shown}{more}.",
            missing=[w[0] if len(w) == 1 else w for w in wanted],
            found=list(found),
        )
        self.missing: list[str | list[str]] = [w[0] if len(w) == 1 else w for w in wanted]
        self.found = list(found)


@dataclass(frozen=True, slots=True)
class RowError:
    """A problem with one response. ``row`` is the row number a person sees when opening the file
    (see ``surveys.formats``); ``column`` is None when the problem is the row as a whole;
    ``rejected`` is True when the row was left out of the chunks altogether (its fields could not
    be matched to the columns), False when only the cell named is unusable."""

    row: int
    column: str | None
    problem: str
    rejected: bool = False

    def __str__(self) -> str:
        where = f"row {self.row}" + (f", column {self.column!r}" if self.column else "")
        return f"{where}: {self.problem}" + (" (row not imported)" if self.rejected else "")
