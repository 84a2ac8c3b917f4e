"""Excel exports: the first sheet, streamed; the Qualtrics layout; damaged workbooks."""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import sys
from pathlib import Path
from types import ModuleType

import openpyxl
import pandas as pd
import pytest

from surveys.formats import ExportFormatError, MissingColumns, read_export


def _fixtures() -> ModuleType:
    name = "surveys_test_fixtures"
    if name not in sys.modules:
        path = Path(__file__).parent / "fixtures" / "exports.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


fx = _fixtures()


def test_the_first_sheet_is_read_with_the_qualtrics_rows_skipped(tmp_path: Path) -> None:
    rows = fx.responses(12)
    path = fx.xlsx_export(tmp_path / "pre.xlsx", rows, extra_sheets=1)
    with path.open("rb") as stream:
        reader = read_export(stream, format="xlsx", chunk_rows=5)
        chunks = list(reader)
    meta = reader.metadata
    assert meta.sheet == "Responses" and meta.columns == fx.COLUMNS
    assert meta.header_rows_skipped == 2
    assert [len(c.frame) for c in chunks] == [5, 5, 2]
    frame = pd.concat([c.frame for c in chunks])
    assert list(frame.index) == list(range(4, 16))
    assert frame["K1"].tolist() == [r["K1"] for r in rows]  # numbers stay numbers
    assert frame["RecipientEmail"].tolist() == [r["RecipientEmail"] for r in rows]
    assert any("2 sheets; only the first, 'Responses'" in w for w in meta.warnings)


def test_cells_become_plain_values_and_row_numbers_are_the_sheets(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["RecipientEmail", "Finished", "StartDate", "K1", None])
    sheet.append(["a@b.sch.uk", True, dt.datetime(2025, 10, 1, 9, 30), 4])
    sheet.append([])  # an empty row: skipped, but the numbering keeps counting
    sheet.append(["c@d.sch.uk", False, dt.date(2025, 10, 2), "  ", None, "stray"])
    workbook.save(tmp_path / "cells.xlsx")
    with (tmp_path / "cells.xlsx").open("rb") as stream:
        reader = read_export(stream, format="xlsx")
        chunks = list(reader)
    frame = chunks[0].frame
    assert reader.metadata.columns == ["RecipientEmail", "Finished", "StartDate", "K1"]
    assert list(frame.index) == [2, 4]
    assert frame.loc[2].tolist() == ["a@b.sch.uk", "TRUE", "2025-10-01T09:30:00", 4]
    assert frame.loc[4, "Finished"] == "FALSE"
    assert frame.loc[4, "StartDate"] == "2025-10-02T00:00:00"  # Excel has no date-only cells
    [error] = chunks[0].row_errors
    assert (error.row, error.rejected) == (4, False)
    assert "1 value(s) to the right of the last named column were ignored" == error.problem


def test_a_workbook_from_a_stream_that_cannot_seek_is_spooled(tmp_path: Path) -> None:
    data = fx.xlsx_export(tmp_path / "e.xlsx", fx.responses(30), qualtrics=False).read_bytes()
    reader = read_export(fx.OneWayStream(data), format="xlsx")
    frame = pd.concat([c.frame for c in reader])
    assert len(frame) == 30 and frame.index[0] == 2 and reader.metadata.finished


def test_a_truncated_workbook_is_refused(tmp_path: Path) -> None:
    data = fx.xlsx_export(tmp_path / "e.xlsx", fx.responses(200)).read_bytes()
    with pytest.raises(ExportFormatError, match="damaged or incomplete"):
        list(read_export(io.BytesIO(data[: len(data) * 2 // 3]), format="xlsx"))


def test_a_workbook_whose_sheet_is_empty_or_lacks_the_email_column(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    workbook.save(tmp_path / "empty.xlsx")
    with pytest.raises(ExportFormatError, match="first sheet is empty"):
        read_export(io.BytesIO((tmp_path / "empty.xlsx").read_bytes()), format="xlsx")
    path = fx.xlsx_export(tmp_path / "no-email.xlsx", fx.responses(2), columns=["ResponseId", "K1"])
    with pytest.raises(MissingColumns) as caught:
        read_export(io.BytesIO(path.read_bytes()), format="xlsx")
    assert caught.value.found == ["ResponseId", "K1"]


def test_a_header_only_workbook_has_zero_rows(tmp_path: Path) -> None:
    path = fx.xlsx_export(tmp_path / "header.xlsx", [])
    reader = read_export(io.BytesIO(path.read_bytes()), format="xlsx")
    assert list(reader) == []
    assert reader.metadata.rows == 0 and reader.metadata.header_rows_skipped == 2
    assert "The export has a header but no responses." in reader.metadata.warnings
