"""An analysis's outputs in object storage: the report (JSON), its tables (CSV), its pictures.

Keys are the analysis's own (``analyses/<id>/...``), so a job that is run again after a crash
writes the same keys again, and nothing another analysis stored is touched. Each output is
recorded with its SHA-256 and content type, and served back from storage as it was written.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from analytics.report.compute import Bundle
from analytics.stats.results import jsonable
from rlc_shared.storage import ObjectStorage

TABLES = (
    "consort",
    "balance",
    "impact",
    "teacher_impact",
    "cace",
    "costs",
    "school_costs",
    "response_rates",
    "dosage",
)
PICTURES = ("consort", "forest", "response_rates", "attendance")
REPORT = "report.json"
CONTENT_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "svg": "image/svg+xml",
    "png": "image/png",
}
#: A cell a spreadsheet would run as a formula: written with a leading apostrophe.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def table_name(name: str) -> str:
    return f"tables/{name}.csv"


def picture_name(name: str, kind: str) -> str:
    return f"pictures/{name}.{kind}"


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list | tuple):
        return json.dumps(jsonable(value), ensure_ascii=False, sort_keys=True)
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        try:
            float(value)
        except ValueError:
            return "'" + value
    return value


def csv_bytes(rows: list[dict[str, Any]]) -> bytes:
    """Rows as CSV: the union of their keys, first seen first; a header even when empty."""
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(list(columns))
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue().encode("utf-8")


def report_bytes(report: dict[str, Any]) -> bytes:
    return json.dumps(jsonable(report), allow_nan=False, ensure_ascii=False).encode()


def links(analysis_id: str, bundle: Bundle) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    query = f"?analysis={analysis_id}"
    tables = {name: f"/report/tables/{name}.csv{query}" for name in bundle.tables}
    pictures = {
        name: {kind: f"/report/pictures/{name}.{kind}{query}" for kind in ("svg", "png")}
        for name in bundle.pictures
    }
    return tables, pictures


def store_all(storage: ObjectStorage, *, analysis_id: str, bundle: Bundle) -> dict[str, Any]:
    """Store the report, every table and every picture; name → key, SHA-256, type, size."""
    tables, pictures = links(analysis_id, bundle)
    bundle.report["tables"] = tables
    bundle.report["pictures"] = pictures
    outputs: dict[str, tuple[bytes, str]] = {REPORT: (report_bytes(bundle.report), "json")}
    for name, rows in bundle.tables.items():
        outputs[table_name(name)] = (csv_bytes(rows), "csv")
    for name, picture in bundle.pictures.items():
        outputs[picture_name(name, "svg")] = (picture.svg(), "svg")
        outputs[picture_name(name, "png")] = (picture.png(), "png")
    stored: dict[str, Any] = {}
    for name, (data, kind) in outputs.items():
        obj = storage.put(
            f"analyses/{analysis_id}/{name}", io.BytesIO(data), content_type=CONTENT_TYPES[kind]
        )
        stored[name] = {
            "key": obj.key,
            "sha256": obj.sha256,
            "size": obj.size,
            "content_type": CONTENT_TYPES[kind],
        }
    stored["_not_drawn"] = dict(bundle.missing_pictures)
    return stored


def stream(storage: ObjectStorage, key: str) -> Iterator[bytes]:
    """A stored output in 64 KiB chunks; opened now (a missing one raises here, before any
    response starts), closed when the last chunk is read."""
    body = storage.open(key)

    def read() -> Iterator[bytes]:
        with body:
            while chunk := body.read(64 * 1024):
                yield chunk

    return read()
