"""Pupil outcomes in: every kind of bad row counted with examples, never dropped silently (URNs
checked against the live recruitment service's trial schools); CSV in its usual encodings and
separators, Parquet; unreadable files refused with what was found; the raw file and its
normalised copy kept in storage; recruitment's process stopped refuses the import clearly."""

from __future__ import annotations

import hashlib
import io

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analytics.errors import continuing
from analytics.outcomes import validation
from analytics.records import AllocationRecord, SchoolRecord
from rlc_testkit.recruitment import assert_problem
from rlc_testkit.trial import pupil_rows, to_csv

GOOD_PER_SCHOOL = 3


def _bad_rows(trial) -> list[dict]:
    """One row of each kind of problem, after three good pupils of every allocated school (the
    withdrawn one and the one whose allocation is in error included)."""
    good = pupil_rows(trial, urns=trial.urns(), per_school=GOOD_PER_SCHOOL)
    first = good[0]
    row = dict(first) | {"cin": 1, "lac": 0}
    extra = [
        row | {"pupil_id": "X-unknown", "urn": 999_001},
        row | {"pupil_id": "X-range", "ks2_reading": 130},
        row | {"pupil_id": "X-text", "ks2_maths": "absent"},
        row | {"pupil_id": first["pupil_id"]},  # a duplicate of the first pupil
        row | {"pupil_id": "X-withdrawn", "urn": trial.withdrawn},
        row | {"pupil_id": "X-not-randomised", "urn": trial.ineligible},
        row | {"pupil_id": "X-neither", "cin": 0, "lac": 0},
        row | {"pupil_id": "X-year5", "year_group": 5},
        row | {"pupil_id": "X-flag", "cin": "maybe"},
        row | {"pupil_id": "X-blank-flag", "lac": ""},
        row | {"pupil_id": "", "urn": first["urn"]},
        row | {"pupil_id": "X-urn", "urn": "12AB"},
        row | {"pupil_id": "X-prior", "ks1_prior": "n/a"},
        # In GIAS, never nominated: recruitment does not have it in the trial.
        row | {"pupil_id": "X-outside", "urn": trial.outside},
    ]
    return good + extra


def _problems(imported: dict) -> dict[str, dict]:
    return {p["kind"]: p for p in imported["problems"]}


def test_every_problem_is_counted_with_examples(api, trial) -> None:
    rows = _bad_rows(trial)
    good = len(trial.urns()) * GOOD_PER_SCHOOL
    api.frozen_plan()
    imported = api.ok(api.import_outcomes(to_csv(rows)), 201)
    problems = _problems(imported)
    counts = {kind: p["count"] for kind, p in problems.items()}
    assert counts == {
        "missing_pupil_id": 1,
        "invalid_urn": 1,
        "not_year_6": 1,
        "invalid_flag": 1,
        "blank_flag": 1,
        "neither_cin_nor_lac": 1,
        "invalid_score": 1,
        "out_of_range_score": 1,
        "invalid_prior": 1,
        "duplicate_pupil": 2,
        "unknown_urn": 2,
        "school_not_randomised": 1,
        # the withdrawn school's own pupils and the extra row placed there
        "withdrawn_school": GOOD_PER_SCHOOL + 1,
    }
    assert imported["rows"] == len(rows)
    excluded = sum(counts[k] for k in counts if problems[k]["effect"].startswith(("row", "none")))
    assert imported["usable_rows"] == len(rows) - excluded
    unknown = problems["unknown_urn"]
    assert unknown["examples"] == [
        {"row": good + 1, "urn": 999_001, "pupil_id": "X-unknown", "column": None, "value": None},
        {
            "row": good + 14,
            "urn": trial.outside,
            "pupil_id": "X-outside",
            "column": None,
            "value": None,
        },
    ]
    assert "not a school in the trial" in unknown["effect"]
    rng = problems["out_of_range_score"]["examples"][0]
    assert rng["column"] == "ks2_reading" and rng["value"] == "130"
    assert "treated as missing" in problems["out_of_range_score"]["effect"]
    duplicate = problems["duplicate_pupil"]["examples"]
    assert {e["row"] for e in duplicate} == {1, good + 4}
    assert problems["invalid_urn"]["examples"][0]["value"] == "12AB"
    (not_randomised,) = problems["school_not_randomised"]["examples"]
    assert not_randomised["urn"] == trial.ineligible
    # The import record is kept and can be read again, by the evaluator only.
    again = api.ok(api.client.get(f"/outcomes/imports/{imported['id']}", headers=api.evaluator()))
    assert again == imported
    for role in ("trial_manager", "auditor"):
        assert api.client.get("/outcomes/imports", headers=api.headers(role)).status_code == 403


def test_the_analysis_reports_the_same_rows_without_pupil_ids(api, trial) -> None:
    rows = _bad_rows(trial)
    api.frozen_plan()
    api.ok(api.import_outcomes(to_csv(rows)), 201)
    _, report = api.analyse()
    data = report["outcome_data"]
    not_analysed = {p["kind"]: p["count"] for p in data["not_analysed"]}
    assert not_analysed["unknown_urn"] == 2 and not_analysed["duplicate_pupil"] == 2
    assert not_analysed["withdrawn_school"] == GOOD_PER_SCHOOL + 1
    # Randomisation's allocations, read at analysis time, put the one in error aside.
    assert not_analysed["allocation_in_error"] == GOOD_PER_SCHOOL
    assert data["rows"] == len(rows)
    imported = {p["kind"]: p["count"] for p in data["import_problems"]}
    assert imported["out_of_range_score"] == 1 and imported["invalid_score"] == 1
    assert data["analysed_rows"] == len(rows) - sum(not_analysed.values())
    assert any("Pupil outcome rows not analysed" in w for w in report["warnings"])
    text = str(report)
    assert "X-unknown" not in text and rows[0]["pupil_id"] not in text
    # CONSORT counts the pupils of the schools analysed, and the withdrawn school is lost.
    lost = report["consort"]["arms"][trial.arm(trial.withdrawn)]["lost_to_follow_up"]
    assert lost["urns"] == [trial.withdrawn]


@pytest.mark.parametrize(
    ("sep", "encoding", "header"),
    [
        (";", "cp1252", "Pupil ID;URN;NC Year;CIN;LAC;KS2 Reading;KS2 Maths;KS1 APS;FSM;Gender"),
        ("\t", "utf-8-sig", None),
        (",", "utf-8", None),
    ],
)
def test_csv_dialects(api, trial, sep: str, encoding: str, header: str | None) -> None:
    rows = pupil_rows(trial, per_school=2)
    body = to_csv(rows, sep=sep, encoding=encoding)
    if header is not None:
        body = header.encode(encoding) + body[body.index(b"\r\n") :]
    api.frozen_plan()
    imported = api.ok(api.import_outcomes(body), 201)
    assert imported["rows"] == len(rows) and imported["usable_rows"] == len(rows)
    assert imported["problems"] == []
    assert imported["format"] == "csv"
    assert imported["sha256"] == hashlib.sha256(body).hexdigest()
    assert imported["summary"]["optional_columns_present"] == ["fsm", "sex"]


def test_parquet_with_typed_columns(api, trial) -> None:
    rows = pupil_rows(trial, per_school=2)
    frame = pd.DataFrame(rows).astype({"cin": bool, "lac": bool, "ks2_reading": float})
    frame.loc[0, "ks2_maths"] = None
    out = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), out)
    api.frozen_plan()
    imported = api.ok(api.import_outcomes(out.getvalue(), name="outcomes.bin"), 201)
    assert imported["format"] == "parquet"
    assert imported["usable_rows"] == len(rows)
    assert imported["summary"]["scores_given"] == {
        "ks2_reading": len(rows),
        "ks2_maths": len(rows) - 1,
    }


@pytest.mark.parametrize(
    ("body", "status", "needles"),
    [
        (b"", 422, ["empty"]),
        (b"PK\x03\x04rest of a workbook", 415, ["ZIP archive", "CSV or Parquet"]),
        (b"%PDF-1.4 a letter", 415, ["PDF"]),
        (
            b"pupil_id,urn,cin\r\np1,100001,1\r\n",
            422,
            ["no column for: year_group", "Columns found: pupil_id, urn, cin"],
        ),
        (
            b"pupil_id,urn,year_group,cin,lac,ks2_reading,ks2_maths,ks1_prior\r\n",
            422,
            ["no pupil rows"],
        ),
        (
            b"pupil_id,urn,year_group,cin,lac,ks2_reading,ks2_maths,ks1_prior\r\n"
            b"p1,100001,6,1,0,100,100,15,too,many,cells\r\n",
            422,
            ["cannot be read"],
        ),
        (b"PAR1 but not really parquet", 422, ["Parquet file cannot be read"]),
    ],
)
def test_unreadable_files_are_refused_saying_what_was_found(api, body, status, needles):
    api.frozen_plan()
    assert_problem(api.import_outcomes(body), status, *needles)
    assert api.ok(api.client.get("/outcomes/imports", headers=api.evaluator()))["count"] == 0


def test_recruitment_down_refuses_the_import_and_stores_nothing(api, live, trial, settings) -> None:
    from pathlib import Path

    api.frozen_plan()
    before = {p for p in Path(settings.storage_dir).rglob("*") if p.is_file()}
    body = to_csv(pupil_rows(trial, per_school=1))
    with live.down("recruitment"):
        resp = api.import_outcomes(body)
    # Nothing listens on recruitment's port: 503, "could not be reached".
    assert_problem(
        resp, 503, "outcomes were not imported", "recruitment service could not be reached"
    )
    assert {p for p in Path(settings.storage_dir).rglob("*") if p.is_file()} == before
    assert api.ok(api.client.get("/outcomes/imports", headers=api.evaluator()))["count"] == 0
    # Started again, the same file is imported.
    assert api.import_outcomes(body).status_code == 201


@pytest.mark.parametrize(
    ("detail", "said"),
    [
        (
            "The recruitment service could not be reached.",
            "the recruitment service could not be reached.",
        ),
        ("X", "x"),
        ("", "it failed saying nothing."),
        ("  ", "it failed saying nothing."),
        (None, "it failed saying nothing."),
    ],
)
def test_an_upstream_errors_detail_continues_the_sentence_even_when_empty(detail, said) -> None:
    """The import's refusal quotes recruitment's error; one that says nothing must still give a
    sentence (it once indexed the detail's first letter: an IndexError, a 500)."""
    assert continuing(detail, otherwise="it failed saying nothing.") == said


def test_stored_files_are_the_upload_and_its_normalised_rows(api, trial, client) -> None:
    from analytics.models import OutcomeImport
    from rlc_shared.db import transaction

    rows = pupil_rows(trial, per_school=2)
    body = to_csv(rows)
    api.frozen_plan()
    imported = api.ok(api.import_outcomes(body), 201)
    with transaction(client.app.state.engine) as session:
        row = session.get(OutcomeImport, imported["id"])
        assert row is not None
    storage = client.app.state.storage
    with storage.open(row.raw_key) as raw:
        assert raw.read() == body
    with storage.open(row.normalised_key) as stored:
        data = stored.read()
    assert hashlib.sha256(data).hexdigest() == row.normalised_sha256
    frame = validation.read_normalised(io.BytesIO(data))
    assert list(frame["pupil_id"]) == [r["pupil_id"] for r in rows]
    assert list(frame["ks2_reading"]) == [float(r["ks2_reading"]) for r in rows]


# --- the reader on its own --------------------------------------------------------------------


def _parse(body: bytes, chunk_rows: int) -> tuple[pd.DataFrame, list[dict]]:
    out = io.BytesIO()
    parsed = validation.parse_file(io.BytesIO(body), out=out, chunk_rows=chunk_rows)
    out.seek(0)
    return validation.read_normalised(out), parsed.problems.as_list()


def test_chunked_reading_gives_the_same_rows_and_counts(trial) -> None:
    rows = [
        r | {"ks2_reading": 121 if i % 7 == 0 else r["ks2_reading"]}
        for i, r in enumerate(pupil_rows(trial, per_school=5))
    ]
    body = to_csv(rows)
    small, small_problems = _parse(body, chunk_rows=7)
    large, large_problems = _parse(body, chunk_rows=100_000)
    pd.testing.assert_frame_equal(small, large)
    assert small_problems == large_problems
    assert small_problems[0]["count"] == len(range(0, len(rows), 7))
    assert list(small["row"]) == list(range(1, len(rows) + 1))


def test_classify_uses_the_randomisation_services_allocations() -> None:
    body = (
        b"pupil_id,urn,year_group,cin,lac,ks2_reading,ks2_maths,ks1_prior\r\n"
        b"a,100001,6,1,0,100,100,15\r\n"
        b"b,100002,6,1,0,100,100,15\r\n"
        b"c,100003,6,1,0,100,100,15\r\n"
        b"d,100004,6,1,0,100,100,15\r\n"
    )
    frame, _ = _parse(body, chunk_rows=10)
    schools = {
        100001: SchoolRecord(100001, "randomised"),
        100002: SchoolRecord(100002, "randomised"),
        # recruitment says consented, but randomisation allocated it: allocated is what counts
        100003: SchoolRecord(100003, "consented"),
    }
    allocations = {
        100001: AllocationRecord(100001, "intervention"),
        100002: AllocationRecord(100002, "control", in_error=True),
        100003: AllocationRecord(100003, "control"),
    }
    problems = validation.Problems(examples_kept=5)
    reason = validation.classify(frame, schools=schools, allocations=allocations, problems=problems)
    assert list(reason) == [None, "allocation_in_error", None, "unknown_urn"]
    without = validation.classify(
        frame, schools=schools, allocations=None, problems=validation.Problems(examples_kept=5)
    )
    assert list(without) == [None, None, "school_not_randomised", "unknown_urn"]
