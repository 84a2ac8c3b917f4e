"""The pupil outcomes extract as the evaluator receives it from the DfE's National Pupil Database
(one row per Year 6 pupil in need or looked after, pseudonymised): CSV in UTF-8, CRLF."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

COLUMNS = (
    "pupil_id", "urn", "year_group", "cin", "lac", "ks2_reading", "ks2_maths", "ks1_prior",
    "fsm", "sex", "sen",
)  # fmt: skip


def outcomes_csv(rows: Sequence[Mapping[str, Any]]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row[c] for c in COLUMNS])
    return out.getvalue().encode("utf-8")
