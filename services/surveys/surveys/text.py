"""Text that can be stored: PostgreSQL text cannot hold NUL, and no field here needs control
characters. Request fields refuse them (a 422 naming the field); text read from an export has
them removed before it is kept (a crafted file must not stop its own export)."""

from __future__ import annotations

import re

#: One line: no control characters at all.
ONE_LINE = r"^[^\x00-\x1f\x7f]*$"
#: Free text (a reason): line breaks and tabs allowed, no other control character.
LINES = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(text: str) -> str:
    """``text`` without the control characters a database column must not hold."""
    return _CONTROL.sub("", text) if _CONTROL.search(text) else text
