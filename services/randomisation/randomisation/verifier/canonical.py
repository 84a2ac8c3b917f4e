"""Canonical JSON, log entries and their hashes (docs/randomisation.md, sections 2 and 3).

Everything that is hashed goes through ``canonical_json``; the small type guards used by the
other modules live here too, because they follow JSON's types rather than Python's.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeGuard

GENESIS_PREV_HASH = "0" * 64

# The members every entry must have (section 3.1); ``test`` is optional.
ENTRY_FIELDS = ("index", "timestamp", "actor", "type", "payload", "prev_hash", "entry_hash")

_HEX64 = re.compile(r"[0-9a-f]{64}")
# [0-9] rather than \d: \d also matches non-ASCII digits.
_RFC3339_UTC = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,9})?(Z|\+00:00)"
)


class CanonicalJSONError(ValueError):
    """The value cannot be written as canonical JSON (NaN, Infinity, lone surrogate...)."""


def canonical_json(obj: Any) -> bytes:
    """Return the canonical UTF-8 JSON encoding of ``obj``.

    Object keys are sorted (by code point), there is no whitespace (separators ``,`` and ``:``),
    non-ASCII characters are written as themselves rather than ``\\u`` escapes, and the text is
    encoded as UTF-8.  NaN and the infinities are refused because JSON has no spelling for them.
    """
    try:
        text = json.dumps(
            obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
        return text.encode("utf-8")
    except (ValueError, TypeError) as exc:  # UnicodeEncodeError (lone surrogate) is a ValueError
        raise CanonicalJSONError(f"not representable as canonical JSON: {exc}") from exc


# --------------------------------------------------------------------------------------------
# Type guards, in JSON's terms
# --------------------------------------------------------------------------------------------


def is_rfc3339_utc(value: object) -> bool:
    """True if ``value`` is an RFC 3339 date-time in UTC, e.g. ``2025-03-01T09:30:00.123Z``."""
    if not isinstance(value, str):
        return False
    match = _RFC3339_UTC.fullmatch(value)
    if match is None:
        return False
    try:
        year, month, day, hour, minute, second = map(int, match.groups()[:6])
        datetime(year, month, day, hour, minute, second)  # rejects 2025-02-30, 25:00...
    except ValueError:
        return False
    return True


def is_hex64(value: object) -> TypeGuard[str]:
    """True for 64 lowercase hex digits: a SHA-256 digest as the log spells it."""
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None


def is_int(value: object) -> TypeGuard[int]:
    """True for a JSON integer: ``bool`` is a subclass of ``int``, but true/false are not."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_unicode(value: str) -> bool:
    """False for a string holding lone surrogates, which ``"\\ud800"`` escapes in JSON produce."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def type_label(entry: Mapping[str, Any]) -> str | None:
    """The entry's ``type`` when it is a non-empty string (problems are labelled with it)."""
    entry_type = entry.get("type")
    return entry_type if isinstance(entry_type, str) and entry_type else None


# --------------------------------------------------------------------------------------------
# Log entries and the hash chain
# --------------------------------------------------------------------------------------------


def compute_entry_hash(entry: Mapping[str, Any]) -> str:
    """Hex SHA-256 of the canonical JSON of ``entry`` without its ``entry_hash`` field.

    Every other field, including ``test`` when present, is part of the hashed content.  An
    ``entry_hash`` key in ``entry`` is ignored, so a sealed entry can be re-checked directly.
    """
    body = {key: value for key, value in entry.items() if key != "entry_hash"}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def seal_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of ``entry`` with ``entry_hash`` (re)computed from the other fields."""
    sealed = {key: value for key, value in entry.items() if key != "entry_hash"}
    sealed["entry_hash"] = compute_entry_hash(sealed)
    return sealed


def make_entry(
    *,
    index: int,
    prev_hash: str,
    timestamp: str,
    actor: str,
    entry_type: str,
    payload: Mapping[str, Any],
    test: bool = False,
) -> dict[str, Any]:
    """Build and seal one log entry.

    ``prev_hash`` is the previous entry's ``entry_hash`` (``GENESIS_PREV_HASH`` for index 0).
    ``test`` is written only when true, so live entries carry no ``test`` field at all.
    """
    entry: dict[str, Any] = {
        "index": index,
        "timestamp": timestamp,
        "actor": actor,
        "type": entry_type,
        "payload": dict(payload),
        "prev_hash": prev_hash,
    }
    if test:
        entry["test"] = True
    return seal_entry(entry)


def entry_line(entry: Mapping[str, Any]) -> bytes:
    """The exported bytes of a sealed entry (one JSON Lines line, without the trailing LF)."""
    return canonical_json(entry)
