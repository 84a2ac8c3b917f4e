"""SPSS exports: chunked reading, value labels where text is expected, user-missing codes."""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from surveys.formats import ExportFormatError, ExportMetadata, MissingColumns, read_export


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


def _frame(path: Path, **kwargs: Any) -> tuple[pd.DataFrame, ExportMetadata]:
    with path.open("rb") as stream:
        reader = read_export(stream, format="sav", **kwargs)
        frame = pd.concat([c.frame for c in reader])
    return frame, reader.metadata


@pytest.mark.parametrize("compress", [False, True])
def test_value_labels_replace_codes_only_in_the_columns_named(
    tmp_path: Path, compress: bool
) -> None:
    rows = fx.responses(7)
    path = fx.sav_export(
        tmp_path / "e.sav",
        rows,
        value_labels={"K1": {1: "Not at all", 5: "A great deal"}},
        compress=compress,
    )
    frame, meta = _frame(path, label_columns=["role"], chunk_rows=3)  # found ignoring case
    assert meta.columns == fx.COLUMNS
    assert frame["Role"].tolist() == [r["Role"] for r in rows]  # "Teacher", not 1
    assert frame["K1"].tolist() == [float(r["K1"]) for r in rows]  # codes stay numbers
    assert list(frame.index) == list(range(1, 8))  # SPSS case numbers
    assert frame["RecipientEmail"].tolist() == [r["RecipientEmail"] for r in rows]


def test_user_missing_codes_become_missing_and_are_counted(tmp_path: Path) -> None:
    rows = fx.responses(6)
    rows[0]["K1"], rows[1]["K2"], rows[2]["K2"], rows[3]["Role"] = 99, 98, 97, 9
    path = fx.sav_export(
        tmp_path / "e.sav",
        rows,
        role_codes={"Teacher": 1, "Senior leader": 2, "Not answered": 9},
        missing_ranges={"K1": [99], "K2": [{"lo": 97, "hi": 98}], "Role": [9]},
    )
    frame, meta = _frame(path, label_columns=["Role"])
    assert (
        np.isnan(frame.loc[1, "K1"])
        and np.isnan(frame.loc[2, "K2"])
        and np.isnan(frame.loc[3, "K2"])
    )
    assert frame.loc[4, "Role"] is None  # a user-missing code, even a labelled one, is missing
    assert frame.loc[2, "K1"] == rows[1]["K1"]
    assert meta.user_missing == 4


def test_a_code_outside_the_missing_ranges_is_kept_for_scoring_to_judge(tmp_path: Path) -> None:
    rows = fx.responses(2)
    rows[0]["K1"] = 99  # not declared user-missing: scoring will call it out of range
    frame, meta = _frame(fx.sav_export(tmp_path / "e.sav", rows))
    assert frame.loc[1, "K1"] == 99.0
    assert meta.user_missing == 0


def test_text_dates_and_string_missing_values(tmp_path: Path) -> None:
    source = pd.DataFrame(
        {
            "email": ["a@b.sch.uk", "", "c@d.sch.uk"],
            "StartDate": [dt.datetime(2025, 10, 1, 9, 0), None, dt.datetime(2025, 10, 3, 14, 5)],
            "Comment": ["fine", "NA", " "],
        }
    )
    pyreadstat.write_sav(source, str(tmp_path / "t.sav"), missing_ranges={"Comment": ["NA"]})
    frame, meta = _frame(tmp_path / "t.sav")
    assert frame["email"].tolist() == ["a@b.sch.uk", None, "c@d.sch.uk"]
    assert frame["StartDate"].tolist() == ["2025-10-01T09:00:00", None, "2025-10-03T14:05:00"]
    assert frame["Comment"].tolist() == ["fine", None, None]
    assert meta.user_missing == 1
    assert frame["email"].dtype == object


def test_a_stream_that_cannot_seek_is_spooled(tmp_path: Path) -> None:
    data = fx.sav_export(tmp_path / "e.sav", fx.responses(40)).read_bytes()
    reader = read_export(fx.OneWayStream(data), format="sav", chunk_rows=16)
    assert [len(c.frame) for c in reader] == [16, 16, 8]


def test_a_truncated_file_is_refused(tmp_path: Path) -> None:
    data = fx.sav_export(tmp_path / "e.sav", fx.responses(3000)).read_bytes()
    for cut in (len(data) * 2 // 3, 700):  # in the data, then in the dictionary
        with pytest.raises(ExportFormatError, match="SPSS file is damaged or incomplete"):
            list(read_export(io.BytesIO(data[:cut]), format="sav"))


def test_a_missing_email_variable_lists_the_variables_found(tmp_path: Path) -> None:
    path = fx.sav_export(tmp_path / "e.sav", fx.responses(2), columns=["ResponseId", "Role", "K1"])
    with pytest.raises(MissingColumns) as caught:
        _frame(path)
    assert caught.value.found == ["ResponseId", "Role", "K1"]
