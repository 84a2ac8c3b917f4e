"""Streaming parser for the DfE "Get Information about Schools" extract (edubasealldata*.csv).

The extract has ~50,000 rows and ~135 columns whose set changes between releases, so columns are
found by header name and everything else is ignored. The file is read one physical line at a time
(never whole), each line is decoded on its own (see ``decode_line``) and handed to the ``csv``
module (``recruitment.csvfile``, shared with the email register), and only the ~16 columns the
trial uses are looked at.

``iter_gias_rows`` checks the header when it is called (a ``GiasFormatError`` names what is wrong)
and then yields one ``GiasRow`` or ``GiasRejection`` per record. A ``GiasFormatError`` can still be
raised mid-file for damage that makes the rest unreadable (a line longer than ``MAX_LINE_BYTES``),
so an importer should apply the rows in one transaction.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, BinaryIO

from recruitment.csvfile import MAX_LINE_BYTES, CsvRecord, open_csv, parse_urn
from recruitment.eligibility import (
    EligibilityDecision,
    assess_eligibility,
    phase_is_eligible,
    status_is_open,
)

__all__ = [
    "MAX_LINE_BYTES",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "GiasFormatError",
    "GiasRejection",
    "GiasRow",
    "assess_row",
    "is_open",
    "is_primary_phase",
    "iter_gias_rows",
]

REQUIRED_COLUMNS: tuple[str, ...] = (
    "URN",
    "LA (code)",
    "LA (name)",
    "EstablishmentName",
    "TypeOfEstablishment (name)",
    "EstablishmentStatus (name)",
    "PhaseOfEducation (name)",
)
OPTIONAL_COLUMNS: tuple[str, ...] = (
    "StatutoryLowAge",
    "StatutoryHighAge",
    "NumberOfPupils",
    "PercentageFSM",
    "Postcode",
    "OpenDate",
    "CloseDate",
    "Town",
    "EstablishmentTypeGroup (name)",
)

_UNKNOWN = ("", "..")  # GIAS writes an unknown value as an empty field or ".."
_DECIMAL = re.compile(r"\d{1,3}(?:\.\d+)?")


class GiasFormatError(ValueError):
    """The upload is not a usable GIAS extract. The message is written for the person uploading."""


# --------------------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class GiasRow:
    """One establishment. Text is stripped; GIAS's unknown values ("" and "..") are None."""

    urn: int
    la_code: str
    la_name: str
    name: str
    establishment_type: str
    status: str
    phase: str
    low_age: int | None
    high_age: int | None
    pupils: int | None
    # Decimal, not float: the value is stored and compared, and "3.4" must stay "3.4".
    percentage_fsm: Decimal | None
    postcode: str | None
    open_date: date | None
    close_date: date | None
    town: str | None
    type_group: str | None
    line: int  # physical line in the file where the record starts; 1 is the header

    def attributes(self) -> dict[str, Any]:
        """The GIAS attributes as JSON-ready values (dates ISO, FSM as a string), without ``line``
        so that two imports of the same school compare equal."""
        return {
            "urn": self.urn,
            "la_code": self.la_code,
            "la_name": self.la_name,
            "name": self.name,
            "establishment_type": self.establishment_type,
            "status": self.status,
            "phase": self.phase,
            "low_age": self.low_age,
            "high_age": self.high_age,
            "pupils": self.pupils,
            "percentage_fsm": None if self.percentage_fsm is None else str(self.percentage_fsm),
            "postcode": self.postcode,
            "open_date": None if self.open_date is None else self.open_date.isoformat(),
            "close_date": None if self.close_date is None else self.close_date.isoformat(),
            "town": self.town,
            "type_group": self.type_group,
        }


@dataclass(frozen=True, slots=True)
class GiasRejection:
    """A record that was not imported, with a reason a person can act on."""

    line: int
    urn: str | None
    reason: str


def _normalise_header(name: str) -> str:
    # Match "LA (code)", "LA(code)" and "la (CODE)" alike; the DfE has been consistent, Excel less so.
    return "".join(name.split()).casefold()


def _show(value: str, limit: int = 40) -> str:
    """Quote a bad value for a message, cut short so a garbage field cannot flood the report."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def _column_indexes(header: list[str]) -> dict[str, int | None]:
    positions: dict[str, list[int]] = {}
    for i, name in enumerate(header):
        positions.setdefault(_normalise_header(name), []).append(i)
    wanted = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
    duplicated = [c for c in wanted if len(positions.get(_normalise_header(c), ())) > 1]
    if duplicated:
        raise GiasFormatError(
            "The GIAS extract's header has these columns more than once, so it is ambiguous "
            f"which to use: {', '.join(map(repr, duplicated))}."
        )
    missing = [c for c in REQUIRED_COLUMNS if _normalise_header(c) not in positions]
    if missing:
        shown = [_show(h.strip()) for h in header[:20]]
        more = f" and {len(header) - 20} more" if len(header) > 20 else ""
        hint = ""
        if len(header) == 1 and ("\t" in header[0] or ";" in header[0]):
            hint = " The file seems to use tabs or semicolons; the extract must be comma-separated."
        raise GiasFormatError(
            f"The file is missing the required GIAS column(s) {', '.join(map(repr, missing))}. "
            f"Columns found ({len(header)}): {', '.join(shown)}{more}. Is this the 'all "
            "establishment data' extract (edubasealldata*.csv) from Get Information about Schools?"
            + hint
        )
    return {c: positions.get(_normalise_header(c), [None])[0] for c in wanted}


def _int_field(text: str, column: str, errors: list[str]) -> int | None:
    if text in _UNKNOWN:
        return None
    if text.isascii() and text.isdigit():  # not int(): it would take "+3", "1_0" and "٣"
        return int(text)
    errors.append(f"{column} {_show(text)} is not a whole number")
    return None


def _date_field(text: str, column: str, errors: list[str]) -> date | None:
    if text in _UNKNOWN:
        return None
    if len(text) == 10 and text[2] == "-" and text[5] == "-" and text.isascii():
        day, month, year = text[:2], text[3:5], text[6:]
        if day.isdigit() and month.isdigit() and year.isdigit():
            try:
                return date(int(year), int(month), int(day))
            except ValueError:
                pass
    errors.append(f"{column} {_show(text)} is not a dd-mm-yyyy date")
    return None


def _fsm_field(text: str, errors: list[str]) -> Decimal | None:
    if text in _UNKNOWN:
        return None
    # A regex rather than Decimal(): Decimal also takes "NaN", "1e3" and "-0".
    if _DECIMAL.fullmatch(text) and (value := Decimal(text)) <= 100:
        return value
    errors.append(f"PercentageFSM {_show(text)} is not a percentage between 0 and 100")
    return None


def iter_gias_rows(stream: BinaryIO) -> Iterator[GiasRow | GiasRejection]:
    """Parse a GIAS extract from a binary file object, one record at a time.

    The header is read and checked now: a file that is empty, not CSV, or lacks a required column
    raises ``GiasFormatError`` before anything is yielded. Each later record becomes a ``GiasRow``
    or a ``GiasRejection`` (wrong field count, missing or malformed URN, bad date or number,
    empty required value, or a URN already seen earlier in the file). Blank rows are skipped.
    """
    what = "the GIAS establishment extract (edubasealldata*.csv)"
    header, records = open_csv(stream, what=what, error=GiasFormatError)
    return _rows(records, len(header), _column_indexes(header))


def _rows(
    records: Iterator[CsvRecord], width: int, columns: dict[str, int | None]
) -> Iterator[GiasRow | GiasRejection]:
    # A missing optional column reads the "" appended to every row at index `width`, so one
    # itemgetter-style tuple of indexes serves every file version without per-row branching.
    def index(column: str) -> int:
        found = columns[column]
        return width if found is None else found

    idx = tuple(map(index, REQUIRED_COLUMNS))
    opt = tuple(map(index, OPTIONAL_COLUMNS))
    urn_i = idx[0]
    seen: dict[int, int] = {}  # URN -> line of its first occurrence
    for record in records:
        line, row = record.line, record.fields
        if record.error is not None:
            yield GiasRejection(line, None, record.error)
            continue
        if len(row) != width:
            urn_text = row[urn_i].strip()[:20] if urn_i < len(row) else ""
            yield GiasRejection(
                line,
                None if urn_text in _UNKNOWN else urn_text,
                f"the row has {len(row)} fields but the header has {width} columns "
                f"({'an unquoted comma in a value?' if len(row) > width else 'a truncated row?'})",
            )
            continue
        row.append("")
        urn_s, la_code, la_name, name, etype, status, phase = (row[i].strip() for i in idx)
        low_s, high_s, pupils_s, fsm_s, postcode, open_s, close_s, town, group = (
            row[i].strip() for i in opt
        )
        urn, urn_error = parse_urn("" if urn_s in _UNKNOWN else urn_s)
        errors: list[str] = [urn_error] if urn_error else []
        if not urn_error:
            # The first record with a valid URN claims it, even if that record is rejected for
            # another reason: there is no telling which of two copies is right.
            first = seen.setdefault(urn, line)
            if first != line:
                errors.append(
                    f"URN {urn} already appears on line {first}; only the first is imported"
                )
        for value, column in (
            (la_code, "LA (code)"),
            (la_name, "LA (name)"),
            (name, "EstablishmentName"),
            (etype, "TypeOfEstablishment (name)"),
            (status, "EstablishmentStatus (name)"),
            (phase, "PhaseOfEducation (name)"),
        ):
            if value in _UNKNOWN:
                errors.append(f"{column} is empty")
        low_age = _int_field(low_s, "StatutoryLowAge", errors)
        high_age = _int_field(high_s, "StatutoryHighAge", errors)
        pupils = _int_field(pupils_s, "NumberOfPupils", errors)
        fsm = _fsm_field(fsm_s, errors)
        open_date = _date_field(open_s, "OpenDate", errors)
        close_date = _date_field(close_s, "CloseDate", errors)
        if errors:
            yield GiasRejection(line, None if urn_s in _UNKNOWN else urn_s[:20], "; ".join(errors))
            continue
        yield GiasRow(
            urn=urn,
            la_code=la_code,
            la_name=la_name,
            name=name,
            establishment_type=etype,
            status=status,
            phase=phase,
            low_age=low_age,
            high_age=high_age,
            pupils=pupils,
            percentage_fsm=fsm,
            postcode=None if postcode in _UNKNOWN else postcode,
            open_date=open_date,
            close_date=close_date,
            town=None if town in _UNKNOWN else town,
            type_group=None if group in _UNKNOWN else group,
            line=line,
        )


# --------------------------------------------------------------------------------------------------
# Helpers for eligibility (the rules themselves live in recruitment.eligibility)
# --------------------------------------------------------------------------------------------------


def is_open(row: GiasRow) -> bool:
    """GIAS status "Open" or "Open, but proposed to close"."""
    return status_is_open(row.status)


def is_primary_phase(row: GiasRow) -> bool:
    """Primary, Middle deemed primary or All-through: the phases that can have Year 5/6."""
    return phase_is_eligible(row.phase)


def assess_row(
    row: GiasRow,
    *,
    year56_social_worker_pupils: int | None,
    year56_looked_after_pupils: int | None,
) -> EligibilityDecision:
    """``assess_eligibility`` fed from a GIAS row and the Virtual School's counts."""
    return assess_eligibility(
        phase=row.phase,
        status=row.status,
        establishment_type=row.establishment_type,
        low_age=row.low_age,
        high_age=row.high_age,
        year56_social_worker_pupils=year56_social_worker_pupils,
        year56_looked_after_pupils=year56_looked_after_pupils,
    )
