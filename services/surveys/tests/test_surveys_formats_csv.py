"""CSV exports: encodings, delimiters, the Qualtrics header rows, broken rows, streaming."""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
import pytest

from surveys.formats import (
    ExportChunk,
    ExportFormatError,
    ExportReader,
    MissingColumns,
    RowError,
    read_export,
)


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
    reader = read_export(io.BytesIO(data), format="csv", **kwargs)
    chunks: list[ExportChunk] = list(reader)
    frame = pd.concat([c.frame for c in chunks]) if chunks else pd.DataFrame()
    return reader, frame, [e for c in chunks for e in c.row_errors]


def _no_personal_data(texts: list[str]) -> None:
    assert not [t for t in texts if "@" in t], "a message contains an email address"


def test_the_qualtrics_layout_is_detected_and_its_two_header_rows_skipped() -> None:
    rows = fx.responses(5)
    reader, frame, errors = _read(fx.csv_export(rows))
    meta = reader.metadata
    assert meta.columns == fx.COLUMNS
    assert meta.header_rows_skipped == 2
    assert (meta.encoding, meta.delimiter) == ("utf-8", ",")
    assert meta.required == {"RecipientEmail": "RecipientEmail"}
    # Row 1 holds the names, rows 2-3 the question text and import ids: responses start at 4.
    assert list(frame.index) == [4, 5, 6, 7, 8]
    assert frame.index.name == "row"
    assert list(frame["ResponseId"]) == [r["ResponseId"] for r in rows]
    assert list(frame["K1"]) == [str(r["K1"]) for r in rows]
    assert (meta.rows, meta.finished, errors) == (5, True, [])


def test_a_plain_csv_has_no_rows_skipped() -> None:
    reader, frame, _ = _read(fx.csv_export(fx.responses(2), qualtrics=False))
    assert reader.metadata.header_rows_skipped == 0
    assert list(frame.index) == [2, 3]


def test_an_import_id_row_straight_under_the_names_is_skipped_alone() -> None:
    data = b'email,K1\r\n{"ImportId":"email"},{"ImportId":"QID1"}\r\na@b.sch.uk,4\r\n'
    reader, frame, _ = _read(data)
    assert reader.metadata.header_rows_skipped == 1
    assert list(frame.index) == [3] and frame["K1"].tolist() == ["4"]


@pytest.mark.parametrize(
    ("encoding", "reported"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("cp1252", "cp1252")],
)
def test_encodings_are_detected_and_accents_survive(encoding: str, reported: str) -> None:
    rows = [{"ResponseId": "R_1", "RecipientEmail": "a@b.sch.uk", "Role": "Enseignant·e – Année 5"}]
    if encoding == "cp1252":
        rows[0]["Role"] = "Enseignante – Année 5 ‘quoted’"  # cp1252 has no middle dot
    reader, frame, _ = _read(fx.csv_export(rows, encoding=encoding))
    assert reader.metadata.encoding == reported
    assert reader.metadata.columns[0] == "ResponseId"  # no BOM left on the first name
    assert frame["Role"].tolist() == [rows[0]["Role"]]
    assert reader.metadata.warnings == []


def test_a_windows_1252_line_deep_in_a_utf8_file_is_read_and_reported() -> None:
    head = fx.csv_export(fx.responses(3000), qualtrics=False)  # far more than the sniffed head
    late = "R_late,late@b.sch.uk,Responsable d’équipe,1,2,3,4,5,1,2,3,4,5,1,2,3,4\r\n"
    reader, frame, _ = _read(head + late.encode("cp1252"))
    assert reader.metadata.encoding == "utf-8"
    assert frame["Role"].iloc[-1] == "Responsable d’équipe"
    assert frame.index[-1] == 3002
    assert any(
        "1 line(s) were not valid UTF-8 (the first is line 3002)" in w
        for w in reader.metadata.warnings
    )


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_the_delimiter_is_sniffed_from_the_header(delimiter: str) -> None:
    rows = fx.responses(3)
    rows[0]["Role"] = "Teacher, Year 5; maths\tlead"  # every delimiter inside a quoted answer
    reader, frame, errors = _read(fx.csv_export(rows, delimiter=delimiter))
    assert reader.metadata.delimiter == delimiter
    assert frame["Role"].iloc[0] == "Teacher, Year 5; maths\tlead"
    assert errors == []


def test_an_excel_sep_line_sets_the_delimiter_and_counts_as_a_row() -> None:
    data = b"sep=;\r\nRecipientEmail;K1\r\na@b.sch.uk;3\r\n"
    reader, frame, _ = _read(data)
    assert reader.metadata.delimiter == ";"
    assert reader.metadata.header_rows_skipped == 1
    assert list(frame.index) == [3]


def test_quoted_answers_with_embedded_newlines_keep_row_numbers_right() -> None:
    data = (
        b"RecipientEmail,Comment,K1\n"
        b'a@b.sch.uk,"line one\nline two\r\nline three",1\n'
        b"c@d.sch.uk,plain,2\n"
    )
    _, frame, _ = _read(data)
    assert frame["Comment"].tolist() == ["line one\nline two\r\nline three", "plain"]
    assert list(frame.index) == [2, 3]  # spreadsheet rows, not physical lines


def test_a_row_with_more_fields_than_the_header_is_rejected_with_its_number() -> None:
    data = (
        b"RecipientEmail,Role,K1\n"
        b"a@b.sch.uk,Teacher,3\n"
        b"c@d.sch.uk,Teacher, Year 5,4\n"  # an unquoted comma in an answer
        b"e@f.sch.uk,Teacher,5,,\n"  # trailing empty fields are harmless
        b"g@h.sch.uk,Teacher\n"  # a short row: the rest is missing
    )
    reader, frame, errors = _read(data)
    assert list(frame.index) == [2, 4, 5]
    assert frame.loc[5, "K1"] is None
    assert errors == [
        RowError(
            3,
            None,
            "the row has 4 fields but the header has 3 columns (an unquoted delimiter in an answer?)",
            rejected=True,
        )
    ]
    assert (reader.metadata.rows, reader.metadata.rows_rejected, reader.metadata.row_errors) == (
        3,
        1,
        1,
    )
    _no_personal_data([str(e) for e in errors])


def test_a_malformed_quote_rejects_only_its_row() -> None:
    data = b'RecipientEmail,K1\na@b.sch.uk,"3"x\nc@d.sch.uk,4\n'
    _, frame, errors = _read(data)
    assert frame["K1"].tolist() == ["4"]
    assert errors[0].row == 2 and errors[0].rejected and "not valid CSV" in errors[0].problem


def test_a_quote_left_open_at_the_end_stops_the_import() -> None:
    rows = b"".join(b"a@b.sch.uk,3\n" for _ in range(20))
    data = b"RecipientEmail,K1\n" + rows + b'c@d.sch.uk,"4\ne@f.sch.uk,5\n'
    reader = read_export(io.BytesIO(data), format="csv", chunk_rows=5)
    with pytest.raises(ExportFormatError, match="Row 22 .*never closed") as caught:
        list(reader)  # chunks already yielded do not matter: the import is one transaction
    assert "@" not in caught.value.detail


def test_blank_lines_and_rows_of_empty_cells_are_skipped() -> None:
    data = b"\r\n\r\nRecipientEmail,K1\r\n\r\na@b.sch.uk,3\r\n,\r\n\r\nc@d.sch.uk,\r\n"
    reader, frame, errors = _read(data)
    assert list(frame.index) == [5, 8]  # the two blank lines above the header are rows 1-2
    assert frame.loc[8, "K1"] is None  # an empty cell is None, never ""
    assert errors == [] and reader.metadata.rows == 2


def test_a_header_only_export_is_valid_with_zero_rows_reported() -> None:
    reader, frame, _ = _read(fx.csv_export([]))
    assert reader.metadata.rows == 0 and reader.metadata.finished
    assert frame.empty
    assert "The export has a header but no responses." in reader.metadata.warnings


@pytest.mark.parametrize("data", [b"", b"\n\n\n"])
def test_an_empty_file_is_refused(data: bytes) -> None:
    with pytest.raises(ExportFormatError, match="empty"):
        read_export(io.BytesIO(data), format="csv")


def test_a_missing_email_column_lists_the_columns_found() -> None:
    data = b"ResponseId,Role,K1\nR_1,Teacher,3\n"
    with pytest.raises(MissingColumns) as caught:
        read_export(io.BytesIO(data), format="csv")
    error = caught.value
    assert error.found == ["ResponseId", "Role", "K1"]
    assert error.missing == [["RecipientEmail", "school_email", "email"]]
    assert "Columns found (3): 'ResponseId', 'Role', 'K1'" in error.detail
    assert "any of 'RecipientEmail', 'school_email', 'email'" in error.detail
    assert error.to_problem()["found"] == ["ResponseId", "Role", "K1"]


def test_columns_are_found_exactly_then_ignoring_case_and_spaces() -> None:
    data = b"Recipient Email,School_Email,k1\na@b.sch.uk,c@d.sch.uk,3\n"
    reader = read_export(
        io.BytesIO(data), format="csv", required_columns=[("RecipientEmail", "school_email"), "K1"]
    )
    # Both alternatives match only loosely; the first in the codebook's order wins.
    assert reader.metadata.required == {"RecipientEmail": "Recipient Email", "K1": "k1"}
    exact = read_export(
        io.BytesIO(b"email,EMAIL\na@b.sch.uk,c@d.sch.uk\n"),
        format="csv",
        required_columns=["EMAIL"],
    )
    assert exact.metadata.required == {"EMAIL": "EMAIL"}


def test_a_loose_match_that_fits_two_columns_is_refused() -> None:
    with pytest.raises(ExportFormatError, match="2 columns that could be 'K1'"):
        read_export(io.BytesIO(b"email,k1,K 1\na,1,2\n"), format="csv", required_columns=["K1"])


def test_blank_and_repeated_header_names_are_renamed_with_a_warning() -> None:
    reader, frame, _ = _read(b"email,K1,,K1\na@b.sch.uk,1,2,3\n")
    assert reader.metadata.columns == ["email", "K1", "column 3", "K1.2"]
    assert frame.loc[2].tolist() == ["a@b.sch.uk", "1", "2", "3"]
    assert len(reader.metadata.warnings) == 2


def test_chunks_are_bounded_and_numbered_continuously() -> None:
    reader = read_export(io.BytesIO(fx.csv_export(fx.responses(23))), format="csv", chunk_rows=5)
    chunks = list(reader)
    assert [len(c.frame) for c in chunks] == [5, 5, 5, 5, 3]
    assert [n for c in chunks for n in c.frame.index] == list(range(4, 27))
    assert reader.metadata.rows == 23


def test_a_stream_that_cannot_seek_and_reads_short_is_read_whole() -> None:
    data = fx.csv_export(fx.responses(400), delimiter=";", encoding="utf-8-sig")
    reader = read_export(fx.OneWayStream(data, read_size=999), format="csv")
    frame = pd.concat([c.frame for c in reader])
    assert reader.metadata.encoding == "utf-8-sig" and reader.metadata.delimiter == ";"
    assert len(frame) == 400 and frame.index[0] == 4


def test_a_line_longer_than_the_limit_is_refused() -> None:
    data = b"email,K1\n" + b"x" * (5 * 1024 * 1024)
    with pytest.raises(ExportFormatError, match="longer than 4 MiB"):
        list(read_export(io.BytesIO(data), format="csv"))


def test_the_chunks_can_be_read_once_and_closing_early_is_safe() -> None:
    reader = read_export(io.BytesIO(fx.csv_export(fx.responses(10))), format="csv", chunk_rows=3)
    first = next(iter(reader))
    assert len(first.frame) == 3
    reader.close()
    with pytest.raises(RuntimeError, match="only once"):
        iter(reader)
    assert not reader.metadata.finished
