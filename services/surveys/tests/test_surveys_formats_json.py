"""JSON exports: an array of objects parsed incrementally, with positions for broken JSON."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
import pytest

from surveys.formats import ExportFormatError, ExportReader, MissingColumns, RowError, read_export


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


def _read(data: bytes, **kwargs: Any) -> tuple[ExportReader, pd.DataFrame, list[RowError]]:
    reader = read_export(io.BytesIO(data), format="json", **kwargs)
    chunks = list(reader)
    frame = pd.concat([c.frame for c in chunks]) if chunks else pd.DataFrame()
    return reader, frame, [e for c in chunks for e in c.row_errors]


class _CountingStream(io.BytesIO):
    """Records the largest read, to show the array is not read whole."""

    largest = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.largest = max(self.largest, len(data))
        return data


def test_a_big_array_is_parsed_in_blocks_and_chunks() -> None:
    rows = fx.responses(3000)
    data = fx.json_export(rows, indent=2)  # ~1.4 MB: many refills, elements split across blocks
    stream = _CountingStream(data)
    reader = read_export(stream, format="json", chunk_rows=1000)
    chunks = list(reader)
    assert [len(c.frame) for c in chunks] == [1000, 1000, 1000]
    assert stream.largest <= 64 * 1024 < len(data)
    frame = pd.concat([c.frame for c in chunks])
    assert reader.metadata.columns == fx.COLUMNS
    assert list(frame.index) == list(range(1, 3001))  # an element's position in the array
    assert frame["K3"].tolist() == [r["K3"] for r in rows]
    assert frame["RecipientEmail"].tolist() == [r["RecipientEmail"] for r in rows]


def test_values_become_plain_cells() -> None:
    data = json.dumps(
        [
            {
                "email": "a@b.sch.uk",
                "K1": 4,
                "K2": 2.5,
                "Finished": True,
                "Tags": ["x", 1],
                "Meta": {"a": 1},
            },
            {"email": "c@d.sch.uk", "K1": None, "K2": "", "Finished": False},
        ]
    ).encode()
    _, frame, _ = _read(data)
    assert frame.loc[1].tolist() == ["a@b.sch.uk", 4, 2.5, "true", '["x", 1]', '{"a": 1}']
    assert frame.loc[2].tolist() == ["c@d.sch.uk", None, None, "false", None, None]


def test_keys_in_another_order_still_land_in_their_columns() -> None:
    data = b'[{"email": "a@b.sch.uk", "K1": 1, "K2": 2}, {"K2": 3, "email": "c@d.sch.uk", "K1": 4}]'
    _, frame, _ = _read(data)
    assert frame.to_dict("list") == {
        "email": ["a@b.sch.uk", "c@d.sch.uk"],
        "K1": [1, 4],
        "K2": [2, 3],
    }


def test_elements_that_are_not_objects_are_rejected_rows() -> None:
    data = b'[7, null, {"email": "a@b.sch.uk", "K1": 3}, "text", [1], {"email": "c@d.sch.uk"}]'
    reader, frame, errors = _read(data)
    assert list(frame.index) == [3, 6]
    assert [(e.row, e.problem) for e in errors] == [
        (1, "element 1 is a number, not a response object"),
        (2, "element 2 is null, not a response object"),
        (4, "element 4 is a string, not a response object"),
        (5, "element 5 is an array, not a response object"),
    ]
    assert all(e.rejected for e in errors) and reader.metadata.rows_rejected == 4


def test_a_key_that_first_appears_later_becomes_a_column() -> None:
    data = b'[{"email": "a@b.sch.uk"}, {"email": "c@d.sch.uk", "K9": 2}]'
    reader, frame, _ = _read(data)
    assert reader.metadata.columns == ["email", "K9"]
    assert frame["K9"].tolist() == [None, 2]
    assert any("first appear after the first response" in w for w in reader.metadata.warnings)


@pytest.mark.parametrize(
    ("data", "where", "why"),
    [
        (
            b'[\n  {"email": "a@b.sch.uk", "K1": 3},\n  {"email": "c", "K1": 3,,}\n]',
            "line 3, column 26",
            "Expecting property name",
        ),
        (
            b'[{"email": "a"} {"email": "b"}]',
            "line 1, column 17",
            "expected , or ] after element 1",
        ),
        (b'[{"email": "a@b.sch.uk"}, ]', "line 1, column 27", "Expecting value"),
        (
            b'[{"email": "a@b.sch.uk"}] trailing',
            "line 1, column 27",
            "more content after the array",
        ),
        (b'  \n{"email": "a@b.sch.uk"}', "", "a single JSON object"),
    ],
)
def test_invalid_json_is_refused_with_its_position(data: bytes, where: str, why: str) -> None:
    with pytest.raises(ExportFormatError) as caught:
        list(read_export(io.BytesIO(data), format="json", required_columns=()))
    assert where in caught.value.detail and why in caught.value.detail
    assert "@" not in caught.value.detail


def test_positions_stay_right_after_the_buffer_has_moved_on() -> None:
    good = fx.json_export(fx.responses(2000), indent=1)  # > 64 KiB consumed before the error
    broken = good[:-2] + b",\n  {oops}\n]"
    with pytest.raises(json.JSONDecodeError) as reference:  # where json itself puts it
        json.loads(broken)
    with pytest.raises(ExportFormatError) as caught:
        list(read_export(io.BytesIO(broken), format="json"))
    expected = reference.value
    assert expected.pos > 64 * 1024
    assert (
        f"line {expected.lineno}, column {expected.colno} (character {expected.pos + 1})"
        in caught.value.detail
    )


def test_a_truncated_array_is_refused() -> None:
    data = fx.json_export(fx.responses(500))
    with pytest.raises(ExportFormatError, match="not valid|without closing"):
        list(read_export(io.BytesIO(data[: len(data) // 2]), format="json"))
    whole_elements = data[: data.rindex(b"}") + 1]  # cut just before the closing ]
    with pytest.raises(ExportFormatError, match="without closing the array"):
        list(read_export(io.BytesIO(whole_elements), format="json"))


def test_text_that_is_not_utf8_is_refused() -> None:
    data = '[{"email": "a@b.sch.uk", "Role": "Année"}]'.encode("cp1252")
    with pytest.raises(ExportFormatError, match="not UTF-8"):
        list(read_export(io.BytesIO(data), format="json"))


def test_an_empty_array_has_no_columns_or_rows() -> None:
    reader, frame, _ = _read(b"[ ]", required_columns=())
    assert reader.metadata.columns == [] and reader.metadata.rows == 0 and frame.empty
    with pytest.raises(MissingColumns, match=r"Columns found \(0\): none"):
        read_export(io.BytesIO(b"[]"), format="json")


def test_a_bom_and_a_stream_that_cannot_seek_are_fine() -> None:
    data = b"\xef\xbb\xbf" + fx.json_export(fx.responses(50))
    reader = read_export(fx.OneWayStream(data, read_size=333), format="json")
    assert sum(len(c.frame) for c in reader) == 50
