"""Recognising an export's format from its content, whatever the sender declared."""

from __future__ import annotations

import gzip
import importlib.util
import io
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from surveys.formats import (
    HEAD_BYTES,
    ExportFormatError,
    declared_format,
    detect_format,
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


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """One real file of each format, written by the libraries that write them."""
    folder = tmp_path_factory.mktemp("formats")
    rows = fx.responses(3)
    return {
        "csv": fx.csv_export(rows),
        "xlsx": fx.xlsx_export(folder / "e.xlsx", rows).read_bytes(),
        "sav": fx.sav_export(folder / "e.sav", rows).read_bytes(),
        "zsav": fx.sav_export(folder / "e.zsav", rows, compress=True).read_bytes(),
        "json": fx.json_export(rows),
    }


@pytest.mark.parametrize(
    ("sample", "expected"),
    [("csv", "csv"), ("xlsx", "xlsx"), ("sav", "sav"), ("zsav", "sav"), ("json", "json")],
)
def test_each_format_is_recognised_from_its_content(
    samples: dict[str, bytes], sample: str, expected: str
) -> None:
    warnings: list[str] = []
    assert detect_format(samples[sample][:HEAD_BYTES], warnings=warnings) == expected
    assert warnings == []


def test_a_declaration_that_agrees_with_the_content_earns_no_warning(
    samples: dict[str, bytes],
) -> None:
    warnings: list[str] = []
    fmt = detect_format(
        samples["xlsx"],
        declared="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        file_name="pre-round.XLSX",
        warnings=warnings,
    )
    assert fmt == "xlsx"
    assert warnings == []


def test_the_content_wins_over_a_contradicting_declaration_and_name(
    samples: dict[str, bytes],
) -> None:
    warnings: list[str] = []
    fmt = detect_format(
        samples["xlsx"],
        declared="text/csv; charset=utf-8",
        file_name="export.csv",
        warnings=warnings,
    )
    assert fmt == "xlsx"
    assert len(warnings) == 2
    assert "declared the file as csv" in warnings[0] and "read as xlsx" in warnings[0]
    assert "file name ends in .csv" in warnings[1]


def test_an_unknown_declaration_is_reported_and_the_content_used(
    samples: dict[str, bytes],
) -> None:
    warnings: list[str] = []
    assert (
        detect_format(samples["json"], declared="application/x-whatever", warnings=warnings)
        == "json"
    )
    assert "'application/x-whatever'" in warnings[0] and "do not recognise" in warnings[0]


def test_a_csv_declared_as_an_excel_workbook_is_read_as_csv(samples: dict[str, bytes]) -> None:
    warnings: list[str] = []
    assert (
        detect_format(samples["csv"], declared="xlsx", file_name="a.xls", warnings=warnings)
        == "csv"
    )
    assert len(warnings) == 1  # ".xls" is not a format we read, so only the declaration counts


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ("text/csv; charset=windows-1252", "csv"),
        (" APPLICATION/JSON ", "json"),
        (".sav", "sav"),
        ("application/x-spss-sav", "sav"),
        ("xlsx", "xlsx"),
        ("application/pdf", None),
        ("", None),
        (None, None),
    ],
)
def test_declared_formats_are_read_from_content_types_names_and_extensions(
    declared: str | None, expected: str | None
) -> None:
    assert declared_format(declared) == expected


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize(
    ("content", "described"),
    [
        (b"", "empty"),
        (b"  \r\n\t\n", "empty file (it holds only blank space)"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "a PDF document"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500), "an old .xls workbook"),
        (
            _zip({"notes.txt": b"hello", "data/a.csv": b"a,b\n"}),
            "a ZIP archive that is not an Excel workbook",
        ),
        (
            _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w/>"}),
            "a Word document",
        ),
        (b"PK\x05\x06" + bytes(18), "an empty ZIP archive"),
        (gzip.compress(b"a,b\n1,2\n", mtime=0), "gzip-compressed"),
        (b"\x89PNG\r\n\x1a\n" + bytes(30), "a PNG image"),
        (b"\xff\xfeR\x00e\x00", "UTF-16 text"),
        (bytes(range(256)) * 4, "binary data"),
        (b"RecipientEmail,K1\x00\x01\x02,K2\n", "binary data"),
        (b"<!DOCTYPE html><html><body>Please log in</body></html>", "an HTML web page"),
        (b'<?xml version="1.0"?><Workbook>', "an XML document"),
        (b'{"responses": [{"K1": 1}]}', "a single JSON object"),
    ],
)
def test_what_cannot_be_read_is_described(content: bytes, described: str) -> None:
    with pytest.raises(ExportFormatError) as caught:
        detect_format(content[:HEAD_BYTES], declared="text/csv")
    assert described in caught.value.detail
    assert caught.value.status == 422


def test_an_xlsx_whose_workbook_part_is_not_among_the_first_entries_is_still_xlsx(
    samples: dict[str, bytes],
) -> None:
    # Only the names of the first entries can be seen in the head; a package that starts the
    # usual way is taken as a workbook, and read_export checks the rest.
    package = _zip({"[Content_Types].xml": b"<Types/>", "_rels/.rels": b"<r/>"})
    assert detect_format(package) == "xlsx"
    with pytest.raises(ExportFormatError, match="ZIP archive that is not an Excel workbook"):
        read_export(io.BytesIO(package), format="xlsx")


def test_read_export_refuses_content_of_another_format(samples: dict[str, bytes]) -> None:
    with pytest.raises(ExportFormatError, match="read as csv, but its content is xlsx"):
        read_export(io.BytesIO(samples["xlsx"]), format="csv")
    with pytest.raises(ExportFormatError, match="HTML web page"):
        read_export(io.BytesIO(b"<html><body>Session expired</body></html>"), format="csv")
    with pytest.raises(ValueError, match="format must be one of"):
        read_export(io.BytesIO(samples["csv"]), format="xls")
