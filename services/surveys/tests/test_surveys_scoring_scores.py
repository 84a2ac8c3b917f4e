"""Scale scores: reverse-coding, the min_answered rule, unusable answers, chunk = one by one."""

from __future__ import annotations

import copy
import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from surveys.formats import RowError
from surveys.scoring import Codebook, ScaleScore, score_frame, score_response


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


def _answers(**values: Any) -> dict[str, Any]:
    response: dict[str, Any] = {
        "ResponseId": "R_1",
        "RecipientEmail": "a@b.sch.uk",
        "Role": "Teacher",
    }
    response.update(values)
    return response


def test_a_full_response_is_scored_with_reverse_coding() -> None:
    scores = score_response(
        _answers(
            K1=1,
            K2=2,
            K3=3,
            K4=4,
            K5=5,
            A1=5,
            A2=1,
            A3=4,
            A4=2,
            A5=5,
            U1="2",
            U2="3",
            U3=" 4 ",
            U4="5",
        ),
        CODEBOOK,
    )
    assert scores["knowledge"] == ScaleScore(score=3.0, answered=5, items=5)
    # A2 and A4 are reverse-worded: 1 -> 5 and 2 -> 4, so (5 + 5 + 4 + 4 + 5) / 5.
    assert scores["attitudes"] == ScaleScore(score=4.6, answered=5, items=5)
    assert scores["use"].score == pytest.approx(3.5)  # text that is a number is a number


def test_a_scale_needs_min_answered_of_its_items() -> None:
    # 0.8 of 5 items is 4: four answers score, three do not.
    four = score_response(_answers(K1=2, K2=4, K3=None, K4=3, K5=3), CODEBOOK)["knowledge"]
    assert four == ScaleScore(score=3.0, answered=4, items=5)
    three = score_response(_answers(K1=2, K2="", K3=None, K4=3, K5=3), CODEBOOK)["knowledge"]
    assert three == ScaleScore(score=None, answered=3, items=5)
    # 0.8 of 4 items is 3.2, so all four use items are needed.
    assert score_response(_answers(U1=1, U2=2, U3=3), CODEBOOK)["use"].score is None


def test_a_share_that_is_a_whole_number_of_items_is_not_rounded_up() -> None:
    body = copy.deepcopy(fx.CODEBOOK)
    body["min_answered"] = 0.7
    body["scales"] = {"use": {"items": [f"U{i}" for i in range(1, 11)], "min": 1, "max": 5}}
    codebook = Codebook.model_validate(body)  # 0.7 x 10 is 7.000000000000001 in floating point
    seven = {f"U{i}": 3 for i in range(1, 8)}
    assert score_response(seven, codebook)["use"].score == 3.0
    six = {f"U{i}": 3 for i in range(1, 7)}
    assert score_response(six, codebook)["use"].score is None


def test_unusable_answers_are_row_errors_and_not_scored() -> None:
    scores = score_response(
        _answers(K1="Strongly agree", K2=7, K3=0, K4=4, K5=4, A1=True, U1=99), CODEBOOK, row=12
    )
    knowledge = scores["knowledge"]
    assert knowledge.score is None and knowledge.answered == 2
    assert knowledge.errors == (
        RowError(12, "K1", "the answer is not a number"),
        RowError(12, "K2", "7 is outside the range 1-5"),
        RowError(12, "K3", "0 is outside the range 1-5"),
    )
    assert scores["attitudes"].errors == (RowError(12, "A1", "the answer is not a number"),)
    assert scores["use"].errors == (RowError(12, "U1", "99 is outside the range 1-5"),)


def test_a_blank_or_missing_answer_is_unanswered_not_an_error() -> None:
    scores = score_response(_answers(K1="  ", K2=None, K3=float("nan"), K4=1, K5=1), CODEBOOK)
    assert scores["knowledge"] == ScaleScore(score=None, answered=2, items=5)
    assert scores["use"] == ScaleScore(score=None, answered=0, items=4)


def test_a_chunk_is_scored_at_once_with_errors_in_row_order() -> None:
    rows = fx.responses(6)
    rows[1]["K2"], rows[1]["A1"], rows[4]["U3"] = "n/a", 6, "lots"
    frame = pd.DataFrame(rows, index=pd.Index(range(4, 10), name="row"), dtype=object)
    scored = score_frame(frame, CODEBOOK)
    assert list(scored.scores.columns) == [
        "knowledge",
        "knowledge_answered",
        "attitudes",
        "attitudes_answered",
        "use",
        "use_answered",
    ]
    assert list(scored.scores.index) == [4, 5, 6, 7, 8, 9]
    assert [(e.row, e.column) for e in scored.errors] == [(5, "K2"), (5, "A1"), (8, "U3")]
    assert scored.error_count == 3
    assert scored.items["attitudes"].shape == (6, 5)
    expected = [(r["A1"] + 6 - r["A2"] + r["A3"] + 6 - r["A4"] + r["A5"]) / 5 for r in rows]
    assert scored.scores.loc[4, "attitudes"] == pytest.approx(expected[0])
    assert scored.scores.loc[5, "attitudes_answered"] == 4  # A1 was out of range
    assert np.isnan(scored.scores.loc[8, "use"])  # 3 of 4 use items: not enough


def test_errors_are_capped_but_all_counted() -> None:
    frame = pd.DataFrame({item: ["x"] * 300 for item in fx.ITEMS}, dtype=object)
    scored = score_frame(frame, CODEBOOK, max_errors=50)
    assert scored.error_count == 300 * 14
    assert len(scored.errors) == 50
    assert [e.column for e in scored.errors[:14]] == fx.ITEMS  # row 0's items, codebook order
    assert {e.row for e in scored.errors} == {0, 1, 2, 3}


def test_numeric_columns_from_spss_and_columns_under_other_names() -> None:
    frame = pd.DataFrame({"k1": [1.0, np.nan, 99.0], "K2": [2.0, 3.0, 4.0]})
    columns = {"K1": "k1"}  # e.g. CodebookColumns.items from codebook.resolve()
    body = copy.deepcopy(fx.CODEBOOK)
    body["scales"] = {"knowledge": {"items": ["K1", "K2"], "min": 1, "max": 5}}
    codebook = Codebook.model_validate(body)
    scored = score_frame(frame, codebook, columns=columns)
    assert scored.scores["knowledge"].tolist()[0] == 1.5
    assert scored.scores["knowledge_answered"].tolist() == [2, 1, 1]
    assert scored.errors == [RowError(2, "k1", "99 is outside the range 1-5")]
    booleans = score_frame(pd.DataFrame({"K1": [True, False], "K2": [1, 2]}), codebook)
    assert booleans.error_count == 2 and booleans.scores["knowledge_answered"].tolist() == [1, 1]


def test_no_error_echoes_an_answer_that_is_text() -> None:
    scores = score_response(_answers(K1="head@school.sch.uk", K2="Jane Smith"), CODEBOOK)
    for error in scores["knowledge"].errors:
        assert "@" not in str(error) and "Jane" not in str(error)


answer = st.one_of(
    st.none(),
    st.integers(min_value=-2, max_value=8),
    st.sampled_from(["", " ", "3", "4.0", " 2 ", "five", "n/a", "1e0", "nan"]),
    st.floats(min_value=0.5, max_value=5.5, allow_nan=False),
)


def _reference_score(row: dict[str, Any], scale_name: str) -> tuple[float | None, int, int]:
    """The rules written out plainly, one answer at a time: (score, answered, errors)."""
    scale = fx.CODEBOOK["scales"][scale_name]
    usable: list[float] = []
    errors = 0
    for item in scale["items"]:
        value = row.get(item)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        try:
            number = float(value)
        except ValueError:
            errors += 1
            continue
        if math.isnan(number) or not scale["min"] <= number <= scale["max"]:
            errors += 1
            continue
        usable.append(
            scale["min"] + scale["max"] - number if item in scale.get("reverse", []) else number
        )
    needed = math.ceil(0.8 * len(scale["items"]) - 1e-9)
    return (sum(usable) / len(usable) if len(usable) >= needed else None), len(usable), errors


@settings(max_examples=60, deadline=None)
@given(st.lists(st.fixed_dictionaries(dict.fromkeys(fx.ITEMS, answer)), min_size=1, max_size=12))
def test_a_chunk_scores_as_the_plain_rules_and_as_its_responses_one_by_one(
    rows: list[dict[str, Any]],
) -> None:
    frame = pd.DataFrame(rows, index=pd.Index(range(2, 2 + len(rows)), name="row"), dtype=object)
    frame = frame.mask(frame == "")  # as read_export yields cells: never an empty string
    scored = score_frame(frame, CODEBOOK)
    errors_by_row: dict[int, list[RowError]] = {}
    for error in scored.errors:
        errors_by_row.setdefault(error.row, []).append(error)
    for position, row in enumerate(rows):
        number = position + 2
        one = score_response(row, CODEBOOK, row=number)
        for scale, result in one.items():
            expected, answered, errors = _reference_score(row, scale)
            assert result.answered == answered and len(result.errors) == errors
            assert result.score == (None if expected is None else pytest.approx(expected))
            chunk_score = scored.scores.loc[number, scale]
            assert (result.score is None) == bool(np.isnan(chunk_score))
            if result.score is not None:
                assert result.score == pytest.approx(chunk_score)
            assert result.answered == scored.scores.loc[number, f"{scale}_answered"]
        assert [e for s in one.values() for e in s.errors] == errors_by_row.get(number, [])
