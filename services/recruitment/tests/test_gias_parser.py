"""The GIAS extract parser: encodings, header handling, rejections, streaming, the synthetic file."""

from __future__ import annotations

import importlib.util
import io
import itertools
import json
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from recruitment.csvfile import MAX_LINE_BYTES, decode_line
from recruitment.gias.parser import (
    GiasFormatError,
    GiasRejection,
    GiasRow,
    assess_row,
    is_open,
    is_primary_phase,
    iter_gias_rows,
)

REFERENCE = Path(__file__).parent / "data" / "example_rows_latin1.csv"
SYNTH = Path(__file__).resolve().parents[3] / "bench" / "gias_synth.py"

# Real header names (a subset, in file order) plus two the parser has never heard of.
HEADER = [
    "URN",
    "LA (code)",
    "LA (name)",
    "EstablishmentNumber",
    "EstablishmentName",
    "TypeOfEstablishment (name)",
    "EstablishmentTypeGroup (name)",
    "EstablishmentStatus (name)",
    "OpenDate",
    "CloseDate",
    "PhaseOfEducation (name)",
    "StatutoryLowAge",
    "StatutoryHighAge",
    "NumberOfPupils",
    "PercentageFSM",
    "Town",
    "Postcode",
    "SomeColumnAddedIn2030",
    "OfstedRating (name)",
]
NUMERIC = {"URN", "StatutoryLowAge", "StatutoryHighAge"}  # written bare, as GIAS does

DEFAULTS = {
    "URN": "126416",
    "LA (code)": "865",
    "LA (name)": "Wiltshire",
    "EstablishmentNumber": "3396",
    "EstablishmentName": "St Thomas à Becket Church of England Aided Primary School",
    "TypeOfEstablishment (name)": "Voluntary aided school",
    "EstablishmentTypeGroup (name)": "Local authority maintained schools",
    "EstablishmentStatus (name)": "Open",
    "OpenDate": "",
    "CloseDate": "",
    "PhaseOfEducation (name)": "Primary",
    "StatutoryLowAge": "4",
    "StatutoryHighAge": "11",
    "NumberOfPupils": "67",
    "PercentageFSM": "12.5",
    "Town": "Salisbury",
    "Postcode": "SP3 4RZ",
    "SomeColumnAddedIn2030": "whatever",
    "OfstedRating (name)": "Good",
}


def _quote(column: str, value: str) -> str:
    if column in NUMERIC and value.isdigit():
        return value
    return '"' + value.replace('"', '""') + '"'


def record(header: list[str] = HEADER, **values: str) -> str:
    """One CSV line for ``header``; keyword names use _ for spaces and drop brackets."""
    by_column = dict(DEFAULTS)
    for key, value in values.items():
        column = next(c for c in header if _key(c) == key)
        by_column[column] = value
    return ",".join(_quote(c, by_column.get(c, "")) for c in header)


def _key(column: str) -> str:
    return column.replace(" (", "_").replace(")", "").replace(" ", "_")


def extract(*lines: str, header: list[str] = HEADER, encoding: str = "latin-1") -> io.BytesIO:
    text = "\r\n".join([",".join(f'"{h}"' for h in header), *lines]) + "\r\n"
    return io.BytesIO(text.encode(encoding))


def parse(stream: io.BytesIO) -> tuple[list[GiasRow], list[GiasRejection]]:
    rows: list[GiasRow] = []
    rejections: list[GiasRejection] = []
    for item in iter_gias_rows(stream):
        (rows if isinstance(item, GiasRow) else rejections).append(item)
    return rows, rejections


# --- the real reference rows -------------------------------------------------------------------


def test_reference_file_real_rows() -> None:
    with REFERENCE.open("rb") as f:
        rows, rejections = parse(f)  # type: ignore[arg-type]

    by_urn = {r.urn: r for r in rows}
    assert sorted(by_urn) == [106653, 117137, 126416]
    becket = by_urn[126416]
    assert becket.name == "St Thomas à Becket Church of England Aided Primary School"
    assert (becket.phase, becket.low_age, becket.high_age, becket.pupils) == ("Primary", 4, 11, 67)
    assert becket.line == 3

    fleetville = by_urn[117137]
    assert fleetville.status == "Closed"
    assert fleetville.close_date == date(2012, 5, 31)
    assert fleetville.open_date == date(1997, 2, 26)
    assert fleetville.pupils is None and fleetville.percentage_fsm is None

    penistone = by_urn[106653]
    assert penistone.phase == "Secondary"
    assert penistone.percentage_fsm == Decimal("3.4")
    assert penistone.postcode == "S36 7BX"
    assert penistone.type_group == "LA maintained schools"

    [bad] = rejections
    assert bad.line == 5
    assert bad.urn == "148847"
    assert "139 fields" in bad.reason and "133 columns" in bad.reason


# --- rows and values ---------------------------------------------------------------------------


def test_values_are_typed_stripped_and_unknowns_are_none() -> None:
    rows, rejections = parse(
        extract(
            record(),
            record(
                URN="100001",
                EstablishmentName="  Fleetville Junior School ",
                EstablishmentStatus_name="Closed",
                OpenDate="26-02-1997",
                CloseDate="31-05-2012",
                StatutoryLowAge="..",
                NumberOfPupils="",
                PercentageFSM="..",
                Postcode="..",
                Town=" ",
            ),
            record(URN="100002", PhaseOfEducation_name="Secondary", StatutoryLowAge="11"),
        )
    )
    assert rejections == []
    becket, closed, secondary = rows
    assert becket == GiasRow(
        urn=126416,
        la_code="865",
        la_name="Wiltshire",
        name="St Thomas à Becket Church of England Aided Primary School",
        establishment_type="Voluntary aided school",
        status="Open",
        phase="Primary",
        low_age=4,
        high_age=11,
        pupils=67,
        percentage_fsm=Decimal("12.5"),
        postcode="SP3 4RZ",
        open_date=None,
        close_date=None,
        town="Salisbury",
        type_group="Local authority maintained schools",
        line=2,
    )
    assert closed.name == "Fleetville Junior School"
    assert (closed.status, closed.open_date, closed.close_date) == (
        "Closed",
        date(1997, 2, 26),
        date(2012, 5, 31),
    )
    assert (closed.low_age, closed.pupils, closed.percentage_fsm) == (None, None, None)
    assert (closed.postcode, closed.town) == (None, None)
    assert (secondary.phase, secondary.line) == ("Secondary", 4)


def test_attributes_are_json_ready_and_leave_out_the_line() -> None:
    rows, _ = parse(extract(record(OpenDate="01-09-2010", CloseDate="31-08-2026")))
    attributes = rows[0].attributes()
    assert json.loads(json.dumps(attributes)) == attributes
    assert attributes["open_date"] == "2010-09-01"
    assert attributes["close_date"] == "2026-08-31"
    assert attributes["percentage_fsm"] == "12.5"
    assert attributes["urn"] == 126416
    assert "line" not in attributes
    # The same school on another line compares equal.
    again, _ = parse(extract("", record(OpenDate="01-09-2010", CloseDate="31-08-2026")))
    assert again[0].line == 3 and again[0].attributes() == attributes


def test_rows_are_frozen() -> None:
    rows, _ = parse(extract(record()))
    with pytest.raises(AttributeError):
        rows[0].name = "x"  # type: ignore[misc]


def test_columns_found_by_name_in_any_order_and_optional_columns_may_be_absent() -> None:
    header = [
        "EstablishmentName",
        "PhaseOfEducation (name)",
        "urn",  # case and spacing are forgiven
        "LA(code)",
        "LA (name)",
        "EstablishmentStatus (name)",
        "TypeOfEstablishment (name)",
    ]
    line = '"St Mary\'s","Primary",126416,"865","Wiltshire","Open","Community school"'
    rows, rejections = parse(extract(line, header=header))
    assert rejections == []
    [row] = rows
    assert (row.urn, row.la_code, row.name, row.phase) == (126416, "865", "St Mary's", "Primary")
    assert (row.low_age, row.high_age, row.pupils, row.postcode, row.open_date) == (None,) * 5


# --- rejections --------------------------------------------------------------------------------


def test_too_many_and_too_few_fields_are_rejected_with_line_and_counts() -> None:
    full = record(URN="100001")
    rows, rejections = parse(
        extract(
            record(URN="100000"),
            full + ',"x","y"',
            ",".join(full.split(",")[:5]),
            record(URN="100003"),
        )
    )
    assert [r.urn for r in rows] == [100000, 100003]
    many, few = rejections
    assert (many.line, many.urn) == (3, "100001")
    assert f"{len(HEADER) + 2} fields" in many.reason
    assert f"{len(HEADER)} columns" in many.reason
    assert (few.line, few.urn) == (4, "100001")
    assert "5 fields" in few.reason


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("OpenDate", "31-02-2020", "OpenDate '31-02-2020' is not a dd-mm-yyyy date"),
        ("CloseDate", "2020-02-01", "CloseDate '2020-02-01' is not a dd-mm-yyyy date"),
        ("OpenDate", "1-2-2020", "OpenDate '1-2-2020' is not a dd-mm-yyyy date"),
        ("StatutoryLowAge", "four", "StatutoryLowAge 'four' is not a whole number"),
        ("StatutoryHighAge", "10.5", "StatutoryHighAge '10.5' is not a whole number"),
        ("StatutoryHighAge", "-1", "StatutoryHighAge '-1' is not a whole number"),
        ("NumberOfPupils", "1,565", "NumberOfPupils '1,565' is not a whole number"),
        ("PercentageFSM", "NaN", "PercentageFSM 'NaN' is not a percentage"),
        ("PercentageFSM", "101", "PercentageFSM '101' is not a percentage"),
        ("URN", "12A", "URN '12A' is not a whole number"),
        ("URN", "0", "URN '0' is not a six-digit DfE number"),
        ("URN", "1000000", "URN '1000000' is not a six-digit DfE number"),
        ("URN", "", "URN is missing"),
        ("URN", "..", "URN is missing"),
        ("EstablishmentName", " ", "EstablishmentName is empty"),
        ("PhaseOfEducation (name)", "..", "PhaseOfEducation (name) is empty"),
    ],
)
def test_bad_values_are_rejected_with_a_reason(column: str, value: str, reason: str) -> None:
    rows, rejections = parse(extract(record(URN="100000"), record(**{_key(column): value})))
    assert [r.urn for r in rows] == [100000]
    [rejection] = rejections
    assert rejection.line == 3
    assert reason in rejection.reason
    if column != "URN":
        assert rejection.urn == "126416"
    else:
        assert rejection.urn == (None if value in ("", "..") else value)


def test_every_problem_in_a_row_is_reported() -> None:
    _, [rejection] = parse(extract(record(OpenDate="32-01-2020", StatutoryLowAge="x")))
    assert "OpenDate '32-01-2020'" in rejection.reason
    assert "StatutoryLowAge 'x'" in rejection.reason


def test_a_long_bad_value_is_cut_short_in_the_reason() -> None:
    _, [rejection] = parse(extract(record(OpenDate="9" * 5000)))
    assert len(rejection.reason) < 120


def test_duplicate_urn_second_occurrence_rejected() -> None:
    rows, rejections = parse(
        extract(
            record(URN="100000"),
            record(URN="100001", EstablishmentName="First"),
            record(URN="100001", EstablishmentName="Second"),
            record(URN="100001", EstablishmentName="Third"),
        )
    )
    assert [(r.urn, r.name) for r in rows] == [
        (100000, DEFAULTS["EstablishmentName"]),
        (100001, "First"),
    ]
    assert [(r.line, r.urn) for r in rejections] == [(4, "100001"), (5, "100001")]
    assert all("already appears on line 3" in r.reason for r in rejections)


def test_blank_lines_and_empty_spreadsheet_rows_are_skipped_but_counted_as_lines() -> None:
    rows, rejections = parse(
        extract("", record(URN="100000"), ",".join([""] * len(HEADER)), "", record(URN="100001"))
    )
    assert rejections == []
    assert [(r.urn, r.line) for r in rows] == [(100000, 3), (100001, 6)]


def test_a_quoted_value_over_two_lines_keeps_later_line_numbers_physical() -> None:
    rows, _ = parse(
        extract(record(URN="100000", Town="Line one\r\nline two"), record(URN="100001"))
    )
    assert [(r.urn, r.line) for r in rows] == [(100000, 2), (100001, 4)]
    assert rows[0].town == "Line one\r\nline two"


def test_leading_blank_lines_before_the_header() -> None:
    stream = extract(record())
    [row] = parse(io.BytesIO(b"\r\n\r\n" + stream.getvalue()))[0]
    assert row.line == 4


def test_header_only_file_gives_no_rows() -> None:
    assert parse(extract()) == ([], [])


# --- encodings ---------------------------------------------------------------------------------


def test_utf8_with_bom_is_decoded_as_utf8() -> None:
    stream = extract(record(), encoding="utf-8")
    data = b"\xef\xbb\xbf" + stream.getvalue()
    [row] = parse(io.BytesIO(data))[0]
    assert row.name == "St Thomas à Becket Church of England Aided Primary School"


def test_utf8_without_bom_is_not_mangled_into_latin1() -> None:
    [row] = parse(extract(record(EstablishmentName="Ysgol Gymraeg Bro Hafrén"), encoding="utf-8"))[
        0
    ]
    assert row.name == "Ysgol Gymraeg Bro Hafrén"


def test_latin1_and_cp1252_bytes() -> None:
    line = record(EstablishmentName="NAME").encode("latin-1")
    # 0xE0 is "à" in latin-1; 0x92 is cp1252's apostrophe; 0x81 is undefined in cp1252 and
    # falls back to its latin-1 meaning rather than failing.
    named = line.replace(b"NAME", b"St Thomas \xe0 Becket St Mary\x92s \x81")
    header = ",".join(f'"{h}"' for h in HEADER).encode()
    [row] = parse(io.BytesIO(header + b"\r\n" + named + b"\r\n"))[0]
    assert row.name == "St Thomas à Becket St Mary\u2019s \x81"


def test_decode_line() -> None:
    assert decode_line(b"plain\r\n") == "plain\r\n"
    assert decode_line("à".encode()) == "à"
    assert decode_line(b"\xe0") == "à"
    assert decode_line(b"\x80\x81") == "\u20ac\x81"


# Latin-1 text round-trips, except text whose bytes happen to be valid UTF-8 ("Ã©"): the
# documented trade-off of detecting UTF-8 uploads line by line.
_LATIN1_TEXT = st.text(
    alphabet=st.characters(codec="latin-1", exclude_categories=("Cc",)),
    min_size=1,
    max_size=40,
)


@given(name=_LATIN1_TEXT)
def test_latin1_names_round_trip(name: str) -> None:
    assume(name.strip() not in ("", ".."))
    encoded = name.encode("latin-1")
    try:
        encoded.decode("utf-8")
        assume(encoded.isascii())
    except UnicodeDecodeError:
        pass
    [row] = parse(extract(record(EstablishmentName=name)))[0]
    assert row.name == name.strip()


# --- files that are not a GIAS extract ---------------------------------------------------------


def test_missing_required_column_names_it_and_the_columns_found() -> None:
    header = [h for h in HEADER if h not in ("URN", "PhaseOfEducation (name)")]
    with pytest.raises(GiasFormatError) as error:
        iter_gias_rows(extract(header=header))  # raised on the call, before iterating
    message = str(error.value)
    assert "'URN'" in message and "'PhaseOfEducation (name)'" in message
    assert "'LA (code)'" in message  # a found column is listed
    assert f"Columns found ({len(header)})" in message


def test_semicolon_separated_file_gets_a_hint() -> None:
    with pytest.raises(GiasFormatError, match="semicolons"):
        iter_gias_rows(io.BytesIO(";".join(HEADER).encode() + b"\r\n"))


def test_duplicate_used_column_is_ambiguous() -> None:
    with pytest.raises(GiasFormatError, match="more than once.*'URN'"):
        iter_gias_rows(extract(header=[*HEADER, "URN"]))


@pytest.mark.parametrize("data", [b"", b"\r\n\r\n", b"\xef\xbb\xbf"])
def test_empty_file(data: bytes) -> None:
    with pytest.raises(GiasFormatError, match="empty"):
        iter_gias_rows(io.BytesIO(data))


@pytest.mark.parametrize(
    ("data", "hint"),
    [
        (bytes(range(256)) * 4, "binary"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (b"PK\x03\x04\x14\x00\x06\x00", "Excel workbook"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "Excel"),
        (b'{"schools": [{"urn": 1}]}', "JSON"),
        (b"  [1, 2, 3]\n", "JSON"),
        (b"<!DOCTYPE html><html>", "web page"),
        ('"URN","LA (code)"\r\n'.encode("utf-16"), "UTF-16"),
        (b"%PDF-1.7\n", "PDF"),
    ],
)
def test_not_a_csv_file(data: bytes, hint: str) -> None:
    with pytest.raises(GiasFormatError, match=hint):
        iter_gias_rows(io.BytesIO(data))


def test_text_that_is_not_the_extract() -> None:
    with pytest.raises(GiasFormatError, match="missing the required GIAS column"):
        iter_gias_rows(io.BytesIO(b"name,address\nfoo,bar\n"))


def test_a_line_longer_than_the_limit_stops_the_import() -> None:
    header = ",".join(f'"{h}"' for h in HEADER).encode()
    data = header + b"\r\n" + record().encode("latin-1") + b"\r\n" + b"x" * MAX_LINE_BYTES
    rows = iter_gias_rows(io.BytesIO(data))
    assert isinstance(next(rows), GiasRow)
    with pytest.raises(GiasFormatError, match="Line 3 is longer than"):
        next(rows)


# --- streaming ---------------------------------------------------------------------------------


class _EndlessExtract(io.RawIOBase):
    """An extract that is generated as it is read and never ends; records how much was read."""

    def __init__(self) -> None:
        self.served = 0
        self._lines = itertools.chain(
            [",".join(f'"{h}"' for h in HEADER).encode() + b"\r\n"],
            (record(URN=str(100_000 + i)).encode("latin-1") + b"\r\n" for i in itertools.count()),
        )
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while len(self._pending) < len(buffer):
            self._pending += next(self._lines)
        n = len(buffer)
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        self.served += n
        return n


def test_reads_incrementally() -> None:
    raw = _EndlessExtract()
    rows = iter_gias_rows(io.BufferedReader(raw))  # type: ignore[arg-type]
    first = list(itertools.islice(rows, 1000))
    assert [r.urn for r in first[:2]] == [100_000, 100_001]  # type: ignore[union-attr]
    assert len(first) == 1000
    # What 1,000 records take, plus read-ahead buffers: not "everything" (which never ends).
    assert raw.served < 1000 * len(record().encode("latin-1")) + 64 * 1024


# --- eligibility helpers -----------------------------------------------------------------------


def test_phase_and_status_helpers() -> None:
    rows, _ = parse(
        extract(
            record(URN="100001"),
            record(URN="100002", PhaseOfEducation_name="Secondary", StatutoryLowAge="11"),
            record(URN="100003", EstablishmentStatus_name="Closed"),
            record(URN="100004", PhaseOfEducation_name="Middle deemed primary"),
        )
    )
    assert [is_primary_phase(r) for r in rows] == [True, False, True, True]
    assert [is_open(r) for r in rows] == [True, True, False, True]
    decision = assess_row(rows[0], year56_social_worker_pupils=2, year56_looked_after_pupils=0)
    assert decision.eligible and not decision.looked_after_flag
    assert not assess_row(
        rows[1], year56_social_worker_pupils=2, year56_looked_after_pupils=1
    ).eligible


# --- the synthetic extract (bench/gias_synth.py) -----------------------------------------------


@pytest.fixture(scope="module")
def synth() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gias_synth", SYNTH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


def test_synthetic_extract_parses_as_described(synth: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "edubasealldata20250101.csv"
    stats = synth.write_extract(path, 2000, seed=7)
    assert len(synth.COLUMNS) == 135
    assert stats.rows == 2000 and stats.rejected == 4 and stats.valid == 1996

    with path.open("rb") as f:
        rows, rejections = parse(f)  # type: ignore[arg-type]
    assert len(rows) == stats.valid
    assert [r.line for r in rejections] == stats.rejected_lines
    reasons = [r.reason for r in rejections]
    assert "141 fields" in reasons[0] and "136 fields" in reasons[1]
    assert "OpenDate '31-02-2020'" in reasons[2] and "already appears" in reasons[3]

    phases: dict[str, int] = {}
    statuses: dict[str, int] = {}
    for r in rows:
        phases[r.phase] = phases.get(r.phase, 0) + 1
        statuses[r.status] = statuses.get(r.status, 0) + 1
    assert phases == stats.phases and statuses == stats.statuses
    assert {"Closed", "Open"} <= set(statuses) and {"Primary", "Secondary"} <= set(phases)
    assert any("à" in r.name for r in rows)  # latin-1 names arrive intact
    assert any(r.percentage_fsm is None and r.status == "Open" for r in rows)  # ".." values
    assert all(r.close_date for r in rows if r.status == "Closed")
    assert b"\xe0" in path.read_bytes()  # and it really is latin-1 on disk


def test_synthetic_extract_is_deterministic_and_can_be_clean(
    synth: ModuleType, tmp_path: Path
) -> None:
    a, b = io.BytesIO(), io.BytesIO()
    synth.write_extract(a, 50, seed=3)
    synth.write_extract(b, 50, seed=3)
    assert a.getvalue() == b.getvalue()
    clean = io.BytesIO()
    stats = synth.write_extract(clean, 300, seed=3, malformed_every=0)
    clean.seek(0)
    rows, rejections = parse(clean)
    assert (len(rows), rejections, stats.rejected) == (300, [], 0)
