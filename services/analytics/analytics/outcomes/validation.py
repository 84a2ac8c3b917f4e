"""Pupil outcome files: read in chunks, every value checked, every problem counted with examples.

Pure: a binary stream in; a normalised Parquet file (one row per row of the file, every value
parsed, each row's excluding problem named) and a `Problems` record out. No row is ever dropped
here: a row the analysis cannot use stays in the normalised file with the reason, and every kind
of problem is counted, with a few examples, in the import's record and the report.

The file: CSV (UTF-8, with or without BOM, or Windows-1252; comma, semicolon or tab separated) or
Parquet, recognised from its content. Columns are matched by name, case and punctuation aside,
with the aliases below; ``fsm``, ``sex`` and ``sen`` are read where present.

Decisions taken here:
- KS2 reading and maths are scaled scores, 80 to 120: a score outside that range, or not a
  number, is reported and treated as missing (the pupil's other outcome is still used).
- CIN and LAC flags read 1/0, yes/no, y/n, true/false; a blank flag reads as "not flagged" (the
  DfE extracts' convention) and is counted. A pupil neither CIN nor LAC is outside the trial's
  population: reported, not analysed.
- The trial's outcome is Year 6: any other year group is reported, not analysed.
- A pupil id on more than one row: every one of those rows is reported and none is analysed
  (which one is right is not ours to guess).
- URNs are checked against the trial's schools (`classify`): unknown to recruitment, never
  randomised, withdrawn (lost to follow-up, as the CONSORT flow counts them) or allocated in error
  are each reported and not analysed.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, BinaryIO, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from analytics.records import RANDOMISED, WITHDRAWN, AllocationRecord, SchoolRecord

__all__ = [
    "COLUMN_ALIASES",
    "EFFECTS",
    "OPTIONAL",
    "REQUIRED",
    "SCORE_RANGE",
    "OutcomeFileError",
    "ParsedFile",
    "Problems",
    "classify",
    "detect_format",
    "parse_file",
    "read_normalised",
]

SCORE_RANGE = (80.0, 120.0)
SCORES = ("ks2_reading", "ks2_maths")
REQUIRED = ("pupil_id", "urn", "year_group", "cin", "lac", *SCORES, "ks1_prior")
OPTIONAL = ("fsm", "sex", "sen")
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "pupil_id": ("pupil_id", "pupil", "pseudonymous_pupil_id", "pupil_pseudonym", "pseudo_id"),
    "urn": ("urn", "school_urn"),
    "year_group": ("year_group", "year", "nc_year", "ncyear", "nc_year_group"),
    "cin": ("cin", "child_in_need", "children_in_need"),
    "lac": ("lac", "looked_after", "looked_after_child", "cla"),
    "ks2_reading": ("ks2_reading", "ks2_read", "ks2_reading_scaled_score", "reading"),
    "ks2_maths": ("ks2_maths", "ks2_mat", "ks2_math", "ks2_maths_scaled_score", "maths"),
    "ks1_prior": ("ks1_prior", "ks1", "ks1_aps", "ks1_prior_attainment", "prior_attainment"),
    "fsm": ("fsm", "fsm_eligible", "ever_fsm"),
    "sex": ("sex", "gender"),
    "sen": ("sen", "sen_provision", "send"),
}
TRUE_WORDS = frozenset({"1", "1.0", "y", "yes", "true", "t"})
FALSE_WORDS = frozenset({"0", "0.0", "n", "no", "false", "f"})
MAX_TEXT = 64
EXAMPLE_TEXT = 40

#: What the analysis does with the rows of each kind of problem.
EFFECTS = {
    "missing_pupil_id": "row not analysed",
    "invalid_pupil_id": "row not analysed",
    "invalid_urn": "row not analysed",
    "invalid_year_group": "row not analysed",
    "not_year_6": "row not analysed (the outcome is Year 6)",
    "invalid_flag": "row not analysed (CIN/LAC not known)",
    "blank_flag": "read as not flagged",
    "neither_cin_nor_lac": "row not analysed (outside the trial's population)",
    "invalid_score": "score treated as missing",
    "out_of_range_score": "score treated as missing (KS2 scaled scores are 80-120)",
    "invalid_prior": "prior attainment treated as missing",
    "invalid_background": "value treated as missing",
    "duplicate_pupil": "none of the pupil's rows analysed",
    "unknown_urn": "row not analysed (not a school in the trial)",
    "school_not_randomised": "row not analysed (school not randomised)",
    "withdrawn_school": "row not analysed (school withdrew: lost to follow-up)",
    "allocation_in_error": "row not analysed (allocation made in error)",
}
#: The problems that take a row out of the analysis, in the order they are looked for.
EXCLUDING = (
    "missing_pupil_id",
    "invalid_pupil_id",
    "invalid_urn",
    "invalid_year_group",
    "not_year_6",
    "invalid_flag",
    "neither_cin_nor_lac",
)

Format = Literal["csv", "parquet"]


class OutcomeFileError(ValueError):
    """The file cannot be read as pupil outcomes; the message says what was found."""


@dataclass
class _Kind:
    count: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)


class Problems:
    """Counts and the first few examples of each kind of problem."""

    def __init__(self, *, examples_kept: int) -> None:
        self.examples_kept = examples_kept
        self._kinds: dict[str, _Kind] = {}

    def add(
        self,
        kind: str,
        frame: pd.DataFrame,
        mask: Any,
        *,
        column: str | None = None,
        values: pd.Series | None = None,
    ) -> None:
        """Count the rows of ``frame`` under ``mask``; keep examples (row, urn, pupil, value)."""
        selected = np.asarray(mask, dtype=bool)
        n = int(selected.sum())
        if not n:
            return
        entry = self._kinds.setdefault(kind, _Kind())
        entry.count += n
        room = self.examples_kept - len(entry.examples)
        if room <= 0:
            return
        rows = frame.loc[selected].head(room)
        shown = None if values is None else values.loc[selected].head(room)
        for position, (_, row) in enumerate(rows.iterrows()):
            example: dict[str, Any] = {"row": int(row["row"])}
            urn = row.get("urn")
            example["urn"] = None if urn is None or pd.isna(urn) else int(urn)
            pupil = row.get("pupil_id")
            example["pupil_id"] = None if pupil is None or pd.isna(pupil) else str(pupil)
            if column is not None:
                example["column"] = column
            if shown is not None:
                example["value"] = str(shown.iloc[position])[:EXAMPLE_TEXT]
            entry.examples.append(example)

    def count(self, kind: str) -> int:
        entry = self._kinds.get(kind)
        return entry.count if entry else 0

    def as_list(self, *, with_pupil_ids: bool = True) -> list[dict[str, Any]]:
        """Every kind found, in a fixed order: count, effect on the analysis, examples."""
        order = {kind: i for i, kind in enumerate(EFFECTS)}
        out = []
        for kind in sorted(self._kinds, key=lambda k: order.get(k, len(order))):
            entry = self._kinds[kind]
            examples = [
                e if with_pupil_ids else {k: v for k, v in e.items() if k != "pupil_id"}
                for e in entry.examples
            ]
            out.append(
                {
                    "kind": kind,
                    "count": entry.count,
                    "effect": EFFECTS.get(kind, ""),
                    "examples": examples,
                }
            )
        return out

    @classmethod
    def from_list(cls, items: list[dict[str, Any]], *, examples_kept: int) -> Problems:
        problems = cls(examples_kept=examples_kept)
        for item in items:
            problems._kinds[item["kind"]] = _Kind(item["count"], list(item["examples"]))
        return problems


# --- reading ----------------------------------------------------------------------------------

PARQUET_MAGIC = b"PAR1"
_REFUSED_MAGIC = {
    b"PK\x03\x04": "a ZIP archive (an Excel .xlsx workbook?)",
    b"\xd0\xcf\x11\xe0": "an old Excel or Word file",
    b"%PDF": "a PDF document",
    b"\x1f\x8b": "a gzip archive",
    b"$FL2": "an SPSS .sav file",
}


def detect_format(head: bytes) -> Format:
    """Parquet or CSV from the first bytes; anything else raises `OutcomeFileError`."""
    if not head:
        raise OutcomeFileError("The file is empty.")
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    for magic, what in _REFUSED_MAGIC.items():
        if head.startswith(magic):
            raise OutcomeFileError(
                f"The file is {what}, not pupil outcomes; export the data as CSV or Parquet."
            )
    if b"\x00" in head:
        raise OutcomeFileError(
            "The file is binary, not a CSV or Parquet file (is it UTF-16? save it as UTF-8 CSV)."
        )
    return "csv"


def _encoding(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(head, final=False)  # a character cut at the end of the sample is fine
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


def _delimiter(first_line: str) -> str:
    counts = {sep: first_line.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def _normalise_name(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def _column_map(found: list[str]) -> dict[str, str]:
    """Canonical name → the file's column; a missing required column raises, naming them."""
    by_normalised: dict[str, str] = {}
    for name in found:
        by_normalised.setdefault(_normalise_name(str(name)), str(name))
    mapping: dict[str, str] = {}
    for canonical, aliases in COLUMN_ALIASES.items():
        for alias in aliases:
            if alias in by_normalised:
                mapping[canonical] = by_normalised[alias]
                break
    missing = [name for name in REQUIRED if name not in mapping]
    if missing:
        shown = ", ".join(str(f) for f in found[:40]) or "none"
        wanted = "; ".join(f"{name} (or {', '.join(COLUMN_ALIASES[name][1:])})" for name in missing)
        raise OutcomeFileError(f"The file has no column for: {wanted}. Columns found: {shown}.")
    return mapping


def _csv_chunks(stream: BinaryIO, chunk_rows: int) -> Iterator[pd.DataFrame]:
    head = stream.read(64 * 1024)
    stream.seek(0)
    encoding = _encoding(head)
    sample = head.decode(encoding, errors="replace").lstrip("\ufeff")
    lines = sample.splitlines()
    if not lines or not lines[0].strip():
        raise OutcomeFileError("The file's first line is empty: it needs a header row.")
    sep = _delimiter(lines[0])
    # pandas would quietly turn the extra cells of a first row longer than the header into an
    # index (later rows are an error): refuse such a file instead.
    first_rows = list(itertools.islice(csv.reader(io.StringIO(sample), delimiter=sep), 2))
    if len(first_rows) == 2 and len(first_rows[1]) > len(first_rows[0]):
        raise OutcomeFileError(
            f"The CSV file cannot be read: row 1 has {len(first_rows[1])} cells but the header "
            f"names {len(first_rows[0])} columns."
        )
    try:
        reader = pd.read_csv(
            stream,
            sep=sep,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            encoding=encoding,
            chunksize=chunk_rows,
            on_bad_lines="error",
            index_col=False,
        )
        yield from reader
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise OutcomeFileError(f"The CSV file cannot be read: {exc}".rstrip(".") + ".") from None


def _as_text(series: pd.Series) -> pd.Series:
    return series.astype("string").fillna("").astype(object)


def _parquet_chunks(stream: BinaryIO, chunk_rows: int) -> Iterator[pd.DataFrame]:
    try:
        parquet = pq.ParquetFile(stream)
        names = list(parquet.schema_arrow.names)
        for batch in parquet.iter_batches(batch_size=chunk_rows):
            frame = batch.to_pandas()
            yield pd.DataFrame({name: _as_text(frame[name]) for name in names})
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise OutcomeFileError(
            f"The Parquet file cannot be read: {exc}".rstrip(".") + "."
        ) from None


# --- parsing ----------------------------------------------------------------------------------


def _numbers(text: pd.Series) -> pd.Series:
    return pd.to_numeric(text, errors="coerce")


def _flags(text: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(value: True/False/NA, blank mask, invalid mask)."""
    lowered = text.str.lower()
    value = pd.Series(pd.NA, index=text.index, dtype="boolean")
    value[lowered.isin(TRUE_WORDS)] = True
    value[lowered.isin(FALSE_WORDS)] = False
    blank = lowered == ""
    invalid = value.isna() & ~blank
    return value, blank, invalid


_YEAR = re.compile(r"^(?:y(?:ear)?\s*)?(\d{1,2})$", re.IGNORECASE)


def _parse_chunk(
    raw: pd.DataFrame, columns: dict[str, str], first_row: int, problems: Problems
) -> pd.DataFrame:
    text = {name: raw[source].astype(str).str.strip() for name, source in columns.items()}
    n = len(raw)
    out = pd.DataFrame({"row": np.arange(first_row, first_row + n, dtype=np.int64)})
    out.index = raw.index
    excluded = pd.Series(None, index=raw.index, dtype=object)

    def exclude(
        kind: str, mask: pd.Series, column: str | None = None, values: pd.Series | None = None
    ) -> None:
        fresh = mask & excluded.isna()
        problems.add(kind, out, fresh, column=column, values=values)
        excluded[fresh] = kind

    pupil = text["pupil_id"]
    out["pupil_id"] = pupil.where(pupil != "", None)
    urn_number = _numbers(text["urn"])
    urn_ok = urn_number.notna() & (urn_number % 1 == 0) & urn_number.between(100_000, 999_999)
    out["urn"] = urn_number.where(urn_ok).astype("Int64")
    exclude("missing_pupil_id", pupil == "")
    exclude("invalid_pupil_id", pupil.str.len() > MAX_TEXT, "pupil_id", pupil)
    exclude("invalid_urn", ~urn_ok, "urn", text["urn"])

    year = text["year_group"].str.extract(_YEAR, expand=False)
    year_number = pd.to_numeric(year, errors="coerce").astype("Int64")
    out["year_group"] = year_number
    exclude("invalid_year_group", year_number.isna(), "year_group", text["year_group"])
    exclude(
        "not_year_6", year_number.notna() & (year_number != 6), "year_group", text["year_group"]
    )

    for flag in ("cin", "lac"):
        value, blank, invalid = _flags(text[flag])
        problems.add("blank_flag", out, blank & excluded.isna(), column=flag)
        exclude("invalid_flag", invalid, flag, text[flag])
        out[flag] = value.fillna(False).astype(bool)
    exclude("neither_cin_nor_lac", ~out["cin"] & ~out["lac"])

    low, high = SCORE_RANGE
    for score in SCORES:
        number = _numbers(text[score])
        given = text[score] != ""
        invalid = given & number.isna()
        outside = number.notna() & ~number.between(low, high)
        usable = excluded.isna()
        problems.add("invalid_score", out, invalid & usable, column=score, values=text[score])
        problems.add("out_of_range_score", out, outside & usable, column=score, values=text[score])
        out[score] = number.where(~outside).astype(float)
    prior = _numbers(text["ks1_prior"])
    problems.add(
        "invalid_prior",
        out,
        (text["ks1_prior"] != "") & prior.isna() & excluded.isna(),
        column="ks1_prior",
        values=text["ks1_prior"],
    )
    out["ks1_prior"] = prior.astype(float)

    if "fsm" in text:
        value, _, invalid = _flags(text["fsm"])
        problems.add(
            "invalid_background", out, invalid & excluded.isna(), column="fsm", values=text["fsm"]
        )
        out["fsm"] = value
    else:
        out["fsm"] = pd.Series(pd.NA, index=raw.index, dtype="boolean")
    for name in ("sex", "sen"):
        if name in text:
            values = text[name].str.upper()
            too_long = values.str.len() > 20
            problems.add(
                "invalid_background", out, too_long & excluded.isna(), column=name, values=values
            )
            out[name] = values.where((values != "") & ~too_long, None)
        else:
            out[name] = None
    out["row_problem"] = excluded
    return out.reset_index(drop=True)


SCHEMA = pa.schema(
    [
        ("row", pa.int64()),
        ("pupil_id", pa.string()),
        ("urn", pa.int64()),
        ("year_group", pa.int64()),
        ("cin", pa.bool_()),
        ("lac", pa.bool_()),
        ("ks2_reading", pa.float64()),
        ("ks2_maths", pa.float64()),
        ("ks1_prior", pa.float64()),
        ("fsm", pa.bool_()),
        ("sex", pa.string()),
        ("sen", pa.string()),
        ("row_problem", pa.string()),
    ]
)


@dataclass
class ParsedFile:
    format: Format
    rows: int
    problems: Problems
    summary: dict[str, Any]


def parse_file(
    stream: BinaryIO,
    *,
    out: IO[bytes],
    chunk_rows: int = 50_000,
    examples_kept: int = 10,
) -> ParsedFile:
    """Read ``stream`` in chunks and write every row, parsed, as Parquet to ``out``."""
    head = stream.read(64 * 1024)
    stream.seek(0)
    kind = detect_format(head)
    chunks = (
        _csv_chunks(stream, chunk_rows) if kind == "csv" else _parquet_chunks(stream, chunk_rows)
    )
    problems = Problems(examples_kept=examples_kept)
    rows = 0
    columns: dict[str, str] | None = None
    summary: dict[str, Any] = {
        "scores_given": dict.fromkeys(SCORES, 0),
        "cin": 0,
        "lac": 0,
        "cin_and_lac": 0,
    }
    with pq.ParquetWriter(out, SCHEMA) as writer:
        for raw in chunks:
            if columns is None:
                columns = _column_map(list(raw.columns))
                summary["columns"] = {name: columns[name] for name in columns}
                summary["optional_columns_present"] = [c for c in OPTIONAL if c in columns]
            parsed = _parse_chunk(raw, columns, rows + 1, problems)
            rows += len(parsed)
            for score in SCORES:
                summary["scores_given"][score] += int(parsed[score].notna().sum())
            summary["cin"] += int(parsed["cin"].sum())
            summary["lac"] += int(parsed["lac"].sum())
            summary["cin_and_lac"] += int((parsed["cin"] & parsed["lac"]).sum())
            writer.write_table(pa.Table.from_pandas(parsed, schema=SCHEMA, preserve_index=False))
    if columns is None or rows == 0:
        raise OutcomeFileError("The file has a header but no pupil rows.")
    return ParsedFile(format=kind, rows=rows, problems=problems, summary=summary)


def read_normalised(source: Any) -> pd.DataFrame:
    """The normalised Parquet file back as a DataFrame (scores as floats, NaN when missing)."""
    table = pq.read_table(source, schema=SCHEMA)
    frame = table.to_pandas()
    for name in ("urn", "year_group"):
        frame[name] = frame[name].astype("Int64")
    return frame


# --- the trial's schools ----------------------------------------------------------------------


def _randomised_by_recruitment(school: SchoolRecord) -> bool:
    return school.status == RANDOMISED or (
        school.status == WITHDRAWN and school.withdrawn_from_status == RANDOMISED
    )


def classify(
    frame: pd.DataFrame,
    *,
    schools: Mapping[int, SchoolRecord],
    allocations: Mapping[int, AllocationRecord] | None,
    problems: Problems,
) -> pd.Series:
    """Each row's reason for not being analysed (None: analysed), counting every new problem.

    Row-level problems (``row_problem``) come first, then duplicate pupils, then the school:
    unknown, not randomised (by the randomisation service's allocations when given, else by
    recruitment's record), withdrawn, allocated in error.
    """
    reason = frame["row_problem"].astype(object).where(frame["row_problem"].notna(), None)
    # Only rows otherwise fine count as duplicates: a bad row does not make a good one doubtful.
    open_ids = frame["pupil_id"].where(reason.isna() & frame["pupil_id"].notna())
    duplicated = open_ids.map(open_ids.value_counts()).fillna(0).to_numpy() > 1
    problems.add("duplicate_pupil", frame, duplicated)
    reason[duplicated] = "duplicate_pupil"

    school_problem: dict[int, str | None] = {}
    for value in frame["urn"].dropna().unique():
        urn = int(value)
        school = schools.get(urn)
        allocation = allocations.get(urn) if allocations is not None else None
        withdrawn = school is not None and school.status == WITHDRAWN
        if school is None and allocation is None:
            school_problem[urn] = "unknown_urn"
        elif allocations is not None and allocation is None:
            school_problem[urn] = "school_not_randomised"
        elif withdrawn:
            # Randomised (by the allocations) or not (recruitment alone may not know: its
            # record of the randomisation can come after the withdrawal), it is not analysed.
            school_problem[urn] = "withdrawn_school"
        elif allocations is None and not (
            school is not None and _randomised_by_recruitment(school)
        ):
            school_problem[urn] = "school_not_randomised"
        elif allocation is not None and allocation.in_error:
            school_problem[urn] = "allocation_in_error"
        else:
            school_problem[urn] = None
    by_school = frame["urn"].astype(object).map(school_problem)
    for kind in ("unknown_urn", "school_not_randomised", "withdrawn_school", "allocation_in_error"):
        fresh = (by_school == kind).to_numpy() & reason.isna().to_numpy()
        problems.add(kind, frame, fresh)
        reason[fresh] = kind
    return reason
