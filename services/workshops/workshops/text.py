"""Text from outside (report files, other services) made safe to store: one line, no control
characters (PostgreSQL text cannot hold NUL), within the column's length."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def one_line(value: object, limit: int) -> str:
    """``value`` as one line of at most ``limit`` characters (control characters become spaces)."""
    return _CONTROL.sub(" ", str(value)).strip()[:limit]
