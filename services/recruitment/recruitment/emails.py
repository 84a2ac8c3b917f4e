"""The URN,email register the DfE sends (addresses are normalised by ``rlc_shared.emails``).

Email addresses are personal data as far as this code is concerned: no message, exception or
rejection reason built here contains an address, or its local part or domain. Callers should keep
it that way (log line numbers, not values).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from recruitment.gias.parser import iter_decoded_lines
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
    rejection for a missing or non-integer URN, a bad email, or a URN already given earlier
    (first occurrence wins). Two schools sharing one address is allowed: federated schools do.
    """
    what = "a URN,email register (CSV)"
    reader = csv.reader(iter_decoded_lines(stream, what=what, error=EmailRegisterFormatError))
    while True:
        try:
            header = next(reader)
        except StopIteration:
            raise EmailRegisterFormatError(
                f"The file is empty: expected {what} with a header row."
            ) from None
        except csv.Error as exc:
            raise EmailRegisterFormatError(f"The header row is not valid CSV ({exc}).") from None
        if any(h.strip() for h in header):
            break
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
    return _register_rows(reader, names.index("urn"), names.index("email"), len(header))


def _register_rows(
    reader: Any, urn_i: int, email_i: int, width: int
) -> Iterator[EmailRow | EmailRejection]:
    seen: dict[int, int] = {}
    end = reader.line_num
    while True:
        line = end + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            end = reader.line_num
            yield EmailRejection(line, None, f"the row could not be read as CSV ({exc})")
            continue
        end = reader.line_num
        while row and not row[-1].strip():
            row.pop()  # spreadsheets pad rows with empty cells
        if not row:
            continue
        urn_s = row[urn_i].strip() if urn_i < len(row) else ""
        shown_urn = urn_s[:20] or None
        if len(row) > width:
            yield EmailRejection(
                line, shown_urn, f"the row has {len(row)} fields but the header has {width}"
            )
            continue
        errors: list[str] = []
        urn = 0
        if not urn_s:
            errors.append("URN is missing")
        elif not (urn_s.isascii() and urn_s.isdigit()) or int(urn_s) == 0:
            errors.append(f"URN {urn_s[:20]!r} is not a positive whole number")
        else:
            urn = int(urn_s)
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
