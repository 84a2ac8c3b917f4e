"""From an export in any format to scores: the same responses score the same in each."""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from surveys.formats import HEAD_BYTES, detect_format, read_export
from surveys.scoring import (
    Codebook,
    ScaleName,
    ScaleSummary,
    ScoreSummaries,
    score_frame,
    score_response,
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
CODEBOOK = Codebook.model_validate(fx.CODEBOOK)
ROWS = fx.responses(240, seed=11, missing=0.05)


def _export(fmt: str, folder: Path) -> bytes:
    if fmt == "csv":
        return fx.csv_export(ROWS, encoding="cp1252", delimiter=";")
    if fmt == "xlsx":
        return fx.xlsx_export(folder / "e.xlsx", ROWS).read_bytes()
    if fmt == "sav":
        return fx.sav_export(folder / "e.sav", ROWS).read_bytes()
    return fx.json_export(ROWS)


def _score(data: bytes) -> tuple[pd.DataFrame, pd.DataFrame, dict[ScaleName, ScaleSummary]]:
    """What the worker does with a stored export: detect, read, resolve, score, summarise."""
    fmt = detect_format(data[:HEAD_BYTES], declared="application/octet-stream")
    reader = read_export(
        io.BytesIO(data),
        format=fmt,
        chunk_rows=50,
        required_columns=CODEBOOK.required_columns(),
        label_columns=CODEBOOK.label_columns(),
    )
    columns = CODEBOOK.resolve(reader.metadata.columns)
    summaries = ScoreSummaries(CODEBOOK)
    scores, frames = [], []
    for chunk in reader:
        scored = score_frame(chunk.frame, CODEBOOK, columns=columns)
        assert scored.errors == []
        summaries.add(scored)
        scores.append(scored.scores)
        frames.append(chunk.frame[[columns.email, columns.respondent_id, columns.role]])
    return pd.concat(scores), pd.concat(frames), summaries.summaries()


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "sav", "json"])
def test_each_format_scores_the_same_responses_alike(fmt: str, tmp_path: Path) -> None:
    scores, ids, summaries = _score(_export(fmt, tmp_path))
    assert len(scores) == len(ROWS)
    assert ids["ResponseId"].tolist() == [r["ResponseId"] for r in ROWS]
    assert ids["Role"].tolist() == [r["Role"] for r in ROWS]  # SPSS labels applied
    expected = [score_response(r, CODEBOOK) for r in ROWS]
    for scale in ("knowledge", "attitudes", "use"):
        want = np.array([np.nan if e[scale].score is None else e[scale].score for e in expected])
        np.testing.assert_allclose(scores[scale].to_numpy(dtype=float), want, equal_nan=True)
        assert summaries[scale].n == int(np.count_nonzero(~np.isnan(want)))
        assert summaries[scale].mean == pytest.approx(np.nanmean(want))


def test_an_spss_not_answered_code_is_never_scored(tmp_path: Path) -> None:
    rows = [dict(r) for r in ROWS[:3]]
    for row in rows:
        row.update({"K1": 99, "K2": 99})  # "not answered", declared user-missing
    path = fx.sav_export(
        tmp_path / "e.sav",
        rows,
        value_labels={"K1": {99: "Not answered"}, "K2": {99: "Not answered"}},
        missing_ranges={"K1": [99], "K2": [99]},
    )
    scores, _, _ = _score(path.read_bytes())
    assert scores["knowledge_answered"].tolist() == [3, 3, 3]
    # Three of five answered is under 0.8: no knowledge score, rather than one dragged to ~40.
    assert scores["knowledge"].isna().all()
