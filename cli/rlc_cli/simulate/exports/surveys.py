"""Survey exports as the survey platform delivers them, in each format the surveys service reads.

- CSV in the platform's three-header-row layout: column names, the question texts, then each
  column's ``{"ImportId": ...}``; UTF-8 with a BOM, CRLF.
- JSON: an array of response objects (a missing answer is ``null``).
- SPSS ``.sav``: numeric answers, the role as a coded variable with value labels, "not answered"
  as the user-missing code 99, text columns as strings; the header's creation date and time are
  the export's (not the moment the file was written), so the same answers give the same bytes.
- Excel ``.xlsx``: one sheet with the column names then one row per response; the workbook's
  timestamps (in its properties and its zip entries) are the export's.

Each writer takes the columns in order and one mapping per response.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any

Row = Mapping[str, Any]
#: SPSS's user-missing code for an item a respondent skipped.
NOT_ANSWERED = 99


def qualtrics_csv(
    columns: Sequence[str], rows: Sequence[Row], *, questions: Mapping[str, str]
) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerow([questions.get(c, c) for c in columns])
    writer.writerow([json.dumps({"ImportId": f"QID_{c}"}) for c in columns])
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row[c] for c in columns])
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


def json_export(columns: Sequence[str], rows: Sequence[Row]) -> bytes:
    return json.dumps(
        [{c: row.get(c) for c in columns} for row in rows], ensure_ascii=False, indent=1
    ).encode("utf-8")


def sav_export(
    columns: Sequence[str],
    rows: Sequence[Row],
    *,
    coded: Mapping[str, Sequence[str]],
    numeric: Sequence[str],
    exported_at: dt.datetime,
) -> bytes:
    """``coded``: columns written as codes 1..n with the given labels; ``numeric``: answers,
    a missing one written as the user-missing code."""
    import pandas as pd
    import pyreadstat

    data: dict[str, list[Any]] = {}
    for c in columns:
        values = [row.get(c) for row in rows]
        if c in coded:
            codes = {label: n for n, label in enumerate(coded[c], start=1)}
            data[c] = [float(codes[v]) if v is not None else None for v in values]
        elif c in numeric:
            data[c] = [float(NOT_ANSWERED if v is None else v) for v in values]
        else:
            data[c] = ["" if v is None else str(v) for v in values]
    frame = pd.DataFrame(data, columns=list(columns))
    labels = {c: {float(n): label for n, label in enumerate(coded[c], start=1)} for c in coded}
    handle, path = tempfile.mkstemp(suffix=".sav")
    os.close(handle)
    try:
        pyreadstat.write_sav(
            frame,
            path,
            variable_value_labels=labels,  # type: ignore[arg-type]
            missing_ranges={c: [NOT_ANSWERED] for c in numeric},
        )
        with open(path, "rb") as f:
            content = bytearray(f.read())
    finally:
        os.unlink(path)
    # The file header: "$FL2", the product name (60), five int32 and a float64, then the
    # creation date ("dd Mon yy") and time ("hh:mm:ss").
    assert content[:4] == b"$FL2"
    content[92:109] = exported_at.strftime("%d %b %y%H:%M:%S").encode("ascii")
    return bytes(content)


_CORE_STAMP = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)")


def xlsx_export(columns: Sequence[str], rows: Sequence[Row], *, exported_at: dt.datetime) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Responses"
    sheet.append(list(columns))
    for row in rows:
        sheet.append([row.get(c) for c in columns])
    workbook.properties.creator = "Survey platform"
    written = io.BytesIO()
    workbook.save(written)
    # openpyxl stamps the properties and each zip entry with the time of saving: the export's.
    stamp = exported_at.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    when = exported_at.timetuple()[:6]
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(written.getvalue())) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = _CORE_STAMP.sub(rb"\g<1>" + stamp + rb"\g<2>", content)
            entry = zipfile.ZipInfo(info.filename, date_time=when)  # type: ignore[arg-type]
            entry.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(entry, content)
    return out.getvalue()
