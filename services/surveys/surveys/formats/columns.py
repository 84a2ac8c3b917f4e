"""Finding a column by name: exactly as written first, then ignoring case and spaces.

Survey platforms and the people who re-save their exports are inconsistent about
"RecipientEmail" versus "Recipient Email" or "recipientemail"; an exact match always wins so two
columns that differ only in case stay distinguishable.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from surveys.formats.errors import ExportFormatError, MissingColumns

__all__ = [
    "SCHOOL_EMAIL_COLUMNS",
    "ColumnWanted",
    "find_column",
    "normalise_column_name",
    "require_columns",
    "unique_column_names",
]

# The codebook's default for the school's GIAS email, tried in this order: Qualtrics-style
# platforms put the invited address in RecipientEmail; our own templates say school_email.
SCHOOL_EMAIL_COLUMNS: tuple[str, ...] = ("RecipientEmail", "school_email", "email")

# A column name, or alternative names tried in order (the first one found is used).
ColumnWanted = str | Sequence[str]


def normalise_column_name(name: str) -> str:
    """The name without any white space, case-folded: the loose form names are compared in."""
    return "".join(name.split()).casefold()


def _alternatives(wanted: ColumnWanted) -> tuple[str, ...]:
    return (wanted,) if isinstance(wanted, str) else tuple(wanted)


def find_column(columns: Sequence[str], wanted: ColumnWanted) -> str | None:
    """The column of ``columns`` that ``wanted`` names, or None.

    Each alternative is tried in order, exactly first and then loosely (case and spaces
    ignored), so the codebook's order of preference beats the spelling. A loose match that fits
    two columns is refused (``ExportFormatError``): guessing which one is meant could score the
    wrong question.
    """
    for name in _alternatives(wanted):
        if name in columns:
            return name
        loose = normalise_column_name(name)
        matches = [c for c in columns if normalise_column_name(c) == loose]
        if len(matches) > 1:
            raise ExportFormatError(
                f"The export has {len(matches)} columns that could be {name!r} "
                f"({', '.join(map(repr, matches))}); rename one so the choice is unambiguous."
            )
        if matches:
            return matches[0]
    return None


def require_columns(columns: Sequence[str], wanted: Iterable[ColumnWanted]) -> dict[str, str]:
    """Find every wanted column; raise ``MissingColumns`` naming all that are absent.

    Returns {first alternative: column found}, e.g. {"RecipientEmail": "school_email"}.
    """
    found: dict[str, str] = {}
    missing: list[ColumnWanted] = []
    for want in wanted:
        column = find_column(columns, want)
        if column is None:
            missing.append(want)
        else:
            found[_alternatives(want)[0]] = column
    if missing:
        raise MissingColumns(missing=missing, found=list(columns))
    return found


def unique_column_names(header: Sequence[object]) -> tuple[list[str], list[str]]:
    """Header cells as unique column names, and warnings about what had to change.

    A blank header cell becomes "column 7" (its 1-based position); a repeated name gets ".2",
    ".3"... so a frame can hold both. Either is worth a warning: the codebook cannot name them.
    """
    names: list[str] = []
    warnings: list[str] = []
    seen: set[str] = set()
    blank: list[int] = []
    repeated: list[str] = []
    for position, cell in enumerate(header, start=1):
        name = "" if cell is None else str(cell).strip()
        if not name:
            blank.append(position)
            name = f"column {position}"
        if name in seen:
            repeated.append(name)
            base, n = name, 2
            while f"{base}.{n}" in seen:
                n += 1
            name = f"{base}.{n}"
        seen.add(name)
        names.append(name)
    if blank:
        warnings.append(
            f"{len(blank)} column(s) have no name in the header and were called 'column N' "
            f"(positions {', '.join(map(str, blank[:10]))}{'…' if len(blank) > 10 else ''})."
        )
    if repeated:
        distinct = sorted(set(repeated))
        warnings.append(
            "These column names appear more than once; the later copies were renamed "
            f"with .2, .3…: {', '.join(map(repr, distinct[:10]))}{'…' if len(distinct) > 10 else ''}."
        )
    return names, warnings
