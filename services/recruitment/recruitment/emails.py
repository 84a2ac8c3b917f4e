"""The URN,email register the DfE sends (addresses are normalised by ``rlc_shared.emails``).

Email addresses are personal data as far as this code is concerned: no message, exception or
rejection reason built here contains an address, or its local part or domain. Callers should keep
it that way (log line numbers, not values).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from recruitment.csvfile import CsvRecord, open_csv, parse_urn
from rlc_shared.emails import InvalidEmail, normalise_email

__all__ = ["EmailRegisterFormatError", "EmailRejection", "EmailRow", "parse_email_register"]


class EmailRegisterFormatError(ValueError):
    """The register upload is unusable as a whole (empty, not CSV, no URN/email columns)."""


@dataclass(frozen=True, slots=True)
class EmailRow:
    line: int
    urn: int
    email: str  # normalised


@dataclass(frozen=True, slots=True)
class EmailRejection:
    line: int
    urn: str | None
    reason: str  # never contains the address


def parse_email_register(stream: BinaryIO) -> Iterator[EmailRow | EmailRejection]:
    """Parse a ``URN,email`` CSV (header names case-insensitive, other columns ignored).

    UTF-8 with or without a BOM; lines that are not UTF-8 are read as cp1252/latin-1. The header
    is checked now (``EmailRegisterFormatError``); records are then yielded one at a time, a
    rejection for a missing or malformed URN, a bad email, or a URN already given earlier
    (first occurrence wins). Two schools sharing one address is allowed: federated schools do.
    """
    what = "a URN,email register (CSV)"
    header, records = open_csv(stream, what=what, error=EmailRegisterFormatError)
    names = [h.strip().casefold() for h in header]
    missing = [c for c in ("URN", "email") if c.casefold() not in names]
    if missing:
        found = ", ".join(repr(h.strip()[:40]) for h in header[:10])
        raise EmailRegisterFormatError(
            f"The register is missing the column(s) {', '.join(map(repr, missing))}; its header "
            f"row has {found}. The first row must name the columns, e.g. 'URN,email'."
        )
    if names.count("urn") > 1 or names.count("email") > 1:
        raise EmailRegisterFormatError(
            "The register's header has more than one URN or email column."
        )
    return _register_rows(records, names.index("urn"), names.index("email"), len(header))


def _register_rows(
    records: Iterator[CsvRecord], urn_i: int, email_i: int, width: int
) -> Iterator[EmailRow | EmailRejection]:
    seen: dict[int, int] = {}
    for record in records:
        line, row = record.line, record.fields
        if record.error is not None:
            yield EmailRejection(line, None, record.error)
            continue
        while row and not row[-1].strip():
            row.pop()  # spreadsheets pad rows with empty cells
        urn_s = row[urn_i].strip() if urn_i < len(row) else ""
        shown_urn = urn_s[:20] or None
        if len(row) > width:
            yield EmailRejection(
                line, shown_urn, f"the row has {len(row)} fields but the header has {width}"
            )
            continue
        urn, urn_error = parse_urn(urn_s)
        errors: list[str] = [urn_error] if urn_error else []
        if not urn_error:
            first = seen.setdefault(urn, line)
            if first != line:
                errors.append(f"URN {urn} already appears on line {first}; only the first is used")
        email = ""
        raw_email = row[email_i] if email_i < len(row) else ""
        if not raw_email.strip():
            errors.append("the email is missing")
        else:
            try:
                email = normalise_email(raw_email, line=line)
            except InvalidEmail as exc:
                errors.append(str(exc))
        if errors:
            yield EmailRejection(line, shown_urn, "; ".join(errors))
        else:
            yield EmailRow(line, urn, email)
