"""Every export format and encoding through the webhook to stored, scored responses; corrupt,
empty and incomplete files fail their export with what was found, and the raw file is kept."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from surveys.models import SurveyResponse
from surveys.scoring import Codebook
from surveys.scoring.packing import unpack


def download(sv: Any, round: str = "pre") -> list[dict[str, str]]:
    resp = sv.client.get(f"/rounds/{round}/responses.csv", headers=sv.evaluator())
    assert resp.status_code == 200, resp.text
    return list(csv.DictReader(io.StringIO(resp.content.decode("utf-8"))))


def stored(sv: Any) -> list[SurveyResponse]:
    engine = sv.client.app.state.engine
    with engine.connect() as conn:
        return list(conn.execute(select(SurveyResponse).order_by(SurveyResponse.row)).all())


def emails(sv: Any, n: int) -> list[str]:
    w = sv.world
    return [(w["hillside"].email, w["valley"].email, w["brookside"].email)[i % 3] for i in range(n)]


def test_spss_value_labels_and_user_missing_codes_are_honoured(sv: Any, tmp_path: Path) -> None:
    sv.put_round()
    rows = sv.rows(emails(sv, 12))
    rows[0]["K1"] = 99  # "not answered", declared user-missing in the file
    rows[1]["K1"] = 99
    path = sv.fx.sav_export(tmp_path / "export.sav", rows, missing_ranges={"K1": [99]})
    export = sv.ingest(path.read_bytes(), name="export.sav", format="sav")
    assert export["status"] == "done", export
    assert export["format"] == "sav" and export["rows"] == 12 and export["linked"] == 12
    assert any("user-missing" in w for w in export["warnings"]), export["warnings"]
    assert export["error_count"] == 0  # 99 was not read as an out-of-range answer
    out = {r["teacher_key"]: r for r in download(sv)}
    roles = sorted({r["role"] for r in out.values()})
    assert roles == ["Senior leader", "Teacher"]  # the value labels, not the codes 1 and 2
    by_row = {r.row: r for r in stored(sv)}
    first = by_row[1]
    codebook = Codebook.model_validate(sv.fx.CODEBOOK)
    assert np.isnan(unpack([first.items], codebook)["knowledge"][0, 0])  # K1 not answered
    answered = [float(rows[0][f"K{i}"]) for i in range(2, 6)]
    assert first.knowledge == pytest.approx(sum(answered) / 4)  # 4 of 5 items: >= 0.8


def test_an_xlsx_workbook(sv: Any, tmp_path: Path) -> None:
    sv.put_round()
    rows = sv.rows(emails(sv, 9))
    path = sv.fx.xlsx_export(tmp_path / "export.xlsx", rows)
    export = sv.ingest(path.read_bytes(), name="export.xlsx", format="xlsx")
    assert export["status"] == "done", export
    assert (export["format"], export["rows"], export["linked"]) == ("xlsx", 9, 9)


def test_a_windows_1252_csv_with_accented_names(sv: Any) -> None:
    sv.put_round()
    rows = sv.rows(emails(sv, 6), Role="Enseignante – Année 5")
    for row, name in zip(rows, ["Zoë Brontë", "José Núñez", "Renée Çelik"] * 2, strict=True):
        row["Name"] = name
    columns = [*sv.fx.COLUMNS, "Name"]
    data = sv.fx.csv_export(rows, columns=columns, encoding="cp1252", qualtrics=False)
    assert "é".encode("cp1252") in data and "é".encode() not in data
    export = sv.ingest(data)
    assert export["status"] == "done" and export["rows"] == 6, export
    assert {r["role"] for r in download(sv)} == {"Enseignante – Année 5"}
    # Names are not kept anywhere outside the raw archive.
    engine = sv.client.app.state.engine
    with engine.connect() as conn:
        text = str([tuple(r) for r in conn.execute(select(SurveyResponse)).all()])
    assert "Zoë" not in text and "Brontë" not in text and "Núñez" not in text


def test_the_three_header_row_layout_skips_question_text_and_import_ids(sv: Any) -> None:
    sv.put_round()
    data = sv.fx.csv_export(sv.rows(emails(sv, 7)), qualtrics=True)
    assert b"ImportId" in data and b"Question text of" in data
    export = sv.ingest(data)
    assert export["rows"] == 7 and export["error_count"] == 0, export
    assert sorted(r.row for r in stored(sv)) == list(range(4, 11))  # spreadsheet rows


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_semicolon_and_tab_separated_csv(sv: Any, delimiter: str) -> None:
    sv.put_round()
    data = sv.fx.csv_export(sv.rows(emails(sv, 5)), delimiter=delimiter, encoding="utf-8-sig")
    export = sv.ingest(data)
    assert export["status"] == "done" and export["rows"] == 5 and export["linked"] == 5


def test_a_json_array(sv: Any) -> None:
    sv.put_round()
    data = sv.fx.json_export(sv.rows(emails(sv, 8)), indent=2)
    export = sv.ingest(data, name="export.json", format="json")
    assert (export["status"], export["format"], export["rows"]) == ("done", "json", 8), export


def test_a_format_declared_wrongly_is_read_by_its_content(sv: Any) -> None:
    sv.put_round()
    data = sv.fx.json_export(sv.rows(emails(sv, 3)))
    export = sv.ingest(data, name="export.csv", format="csv")
    assert export["format"] == "json" and export["rows"] == 3
    assert any("its content is a JSON array" in w for w in export["warnings"]), export


def raw_kept(sv: Any, data: bytes) -> bool:
    key = f"surveys/exports/{hashlib.sha256(data).hexdigest()}"
    return sv.s3.client().get_object(Bucket=sv.s3.bucket, Key=key)["Body"].read() == data


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("empty", "The file is empty"),
        ("pdf", "it is a PDF document"),
        ("truncated-xlsx", "damaged or incomplete"),
        ("unterminated-csv", "never closed"),
        ("html", "HTML web page"),
    ],
)
def test_a_corrupt_or_empty_file_fails_with_what_was_found_and_is_kept(
    sv: Any, tmp_path: Path, kind: str, says: str
) -> None:
    sv.put_round()
    good = sv.fx.csv_export(sv.rows(emails(sv, 30)), qualtrics=False)
    data = {
        "empty": b"",
        "pdf": b"%PDF-1.4\n% a report, not an export\n",
        "truncated-xlsx": (
            sv.fx.xlsx_export(tmp_path / "x.xlsx", sv.rows(emails(sv, 30))).read_bytes()[:3000]
        ),
        # A stray quote in the last row: every row would be lost after it.
        "unterminated-csv": good + b'R_x,"office@brookside.sch.uk,Teacher,1\r\n',
        "html": b"<!DOCTYPE html><html><body>Please log in</body></html>",
    }[kind]
    export = sv.ingest(data)
    assert export["status"] == "failed", export
    assert says in export["errors"][0]["problem"], export["errors"]
    assert raw_kept(sv, data)
    assert stored(sv) == []  # nothing of a broken file was written


def test_a_missing_email_column_fails_and_lists_the_columns_found(sv: Any) -> None:
    sv.put_round()
    columns = [c for c in sv.fx.COLUMNS if c != "RecipientEmail"] + ["Notes"]
    data = sv.fx.csv_export(sv.rows(emails(sv, 3)), columns=columns)
    export = sv.ingest(data)
    assert export["status"] == "failed"
    problem = export["errors"][0]
    assert problem["missing"] == [["RecipientEmail", "school_email", "email"]]
    assert problem["found"] == columns
    assert "Columns found (17)" in problem["problem"] and "'Notes'" in problem["problem"]


def test_row_problems_are_reported_by_row_and_the_rest_is_kept(sv: Any) -> None:
    sv.put_round()
    rows = sv.rows(emails(sv, 6))
    rows[1]["K2"] = "Strongly agree"  # text where a number belongs
    rows[2]["A1"] = 7  # outside 1-5
    rows[3]["ResponseId"] = None  # no id: cannot be kept
    rows[4]["ResponseId"] = rows[5]["ResponseId"]  # the same response twice: the later is kept
    export = sv.ingest(sv.fx.csv_export(rows, qualtrics=False))
    assert export["status"] == "done"
    assert export["rows"] == 6 and export["linked"] == 4 and export["skipped"] == 2
    problems = {(p["row"], p["column"]): p["problem"] for p in export["errors"]}
    assert problems[(3, "K2")] == "the answer is not a number"
    assert problems[(4, "A1")] == "7 is outside the range 1-5"
    assert problems[(5, "ResponseId")] == "the response has no id"
    assert "row 7, which was kept" in problems[(6, "ResponseId")]
    assert not any("Strongly" in p for p in problems.values())  # no cell text echoed


def test_damage_found_part_way_says_what_was_written(sv: Any) -> None:
    """A CSV whose quotes pair up is read once; if it still breaks part-way (here a literal
    quote in an answer, then a quoted field never closed), the export fails and says that the
    responses before the damage were written."""
    sv.put_round()
    rows = sv.rows(emails(sv, 120))
    before = sv.fx.csv_export(rows[:60], qualtrics=False).replace(b"Teacher", b'12" Teacher', 1)
    after = sv.fx.csv_export(rows[60:], qualtrics=False).split(b"\r\n", 1)[1]
    data = before + b'R_x,"office@brookside.sch.uk,Teacher,1\r\n' + after
    export = sv.ingest(data)
    assert export["status"] == "failed"
    assert "never closed" in export["errors"][0]["problem"]
    assert "up to row 41) were written" in export["errors"][1]["problem"]
    assert len(stored(sv)) == 40  # the one full chunk (40 rows here) before the damage


def test_control_characters_deep_in_a_file_are_not_stored(sv: Any) -> None:
    """Past the first 64 KiB a NUL is not seen by format detection; it must not reach a
    database column (PostgreSQL text cannot hold it) nor stop the export."""
    sv.put_round()
    rows = sv.rows(emails(sv, 1000))
    rows[-1]["Role"] = "Tea\x00cher\x07"
    rows[-1]["ResponseId"] = "R_\x00last"
    data = sv.fx.csv_export(rows, qualtrics=False)
    assert data.index(b"\x00") > 64 * 1024
    export = sv.ingest(data)
    assert export["status"] == "done" and export["rows"] == 1000, export
    last = max(stored(sv), key=lambda r: r.row)
    assert (last.response_id, last.role) == ("R_last", "Teacher")
