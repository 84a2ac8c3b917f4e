"""Cronbach's alpha and scale summaries, checked against a published example and against
independent computations of the definition."""

from __future__ import annotations

import importlib.util
import statistics
import sys
from fractions import Fraction
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from surveys.scoring import (
    Codebook,
    ScaleAccumulator,
    ScoreSummaries,
    cronbach_alpha,
    scale_summary,
    score_frame,
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

# A worked example with its alpha printed: ten customers rating three aspects 1-3
# (Statology, "How to Calculate Cronbach's Alpha in Python", computed there with
# pingouin.cronbach_alpha: "(0.7734375, array([0.336, 0.939]))").
WORKED = np.array(
    [
        [1, 2, 2, 3, 2, 2, 3, 3, 2, 3],  # Q1
        [1, 1, 1, 2, 3, 3, 2, 3, 3, 3],  # Q2
        [1, 1, 2, 1, 2, 3, 3, 3, 2, 3],  # Q3
    ],
    dtype=float,
).T


def _alpha_from_variances(matrix: np.ndarray) -> float:
    """The textbook definition with Python's statistics module: k/(k-1) (1 - Σ s²_i / s²_total)."""
    k = matrix.shape[1]
    item_variances = sum(statistics.variance(column) for column in matrix.T.tolist())
    total_variance = statistics.variance(matrix.sum(axis=1).tolist())
    return k / (k - 1) * (1 - item_variances / total_variance)


def _alpha_from_covariances(matrix: np.ndarray) -> float:
    """The covariance form: k c̄ / (v̄ + (k-1) c̄), with c̄ the mean inter-item covariance and v̄
    the mean item variance."""
    covariance = np.cov(matrix, rowvar=False, ddof=1)
    k = matrix.shape[1]
    mean_variance = np.trace(covariance) / k
    mean_covariance = (covariance.sum() - np.trace(covariance)) / (k * (k - 1))
    return k * mean_covariance / (mean_variance + (k - 1) * mean_covariance)


def test_the_published_worked_example() -> None:
    assert cronbach_alpha(WORKED) == pytest.approx(0.7734375, abs=1e-12)
    # The definition in exact arithmetic gives the printed figure exactly: 99/128.
    values = [[Fraction(int(v)) for v in row] for row in WORKED.tolist()]
    totals = [Fraction(sum(row)) for row in values]

    def variance(xs: list[Fraction]) -> Fraction:
        mean = Fraction(sum(xs), len(xs))
        return Fraction(sum((x - mean) ** 2 for x in xs), len(xs) - 1)

    exact = Fraction(3, 2) * (
        1 - sum(variance(list(c)) for c in zip(*values, strict=True)) / variance(totals)
    )
    assert exact == Fraction(99, 128) == Fraction(0.7734375)


matrices = st.integers(min_value=2, max_value=8).flatmap(
    lambda k: arrays(
        np.float64, st.tuples(st.integers(3, 40), st.just(k)), elements=st.integers(1, 5)
    )
)


@settings(max_examples=80, deadline=None)
@given(matrices)
def test_alpha_agrees_with_two_independent_computations(matrix: np.ndarray) -> None:
    total_variance = statistics.variance(matrix.sum(axis=1).tolist())
    alpha = cronbach_alpha(matrix)
    if total_variance == 0:
        assert alpha is None  # undefined: nobody differs from anybody
        return
    assert alpha == pytest.approx(_alpha_from_variances(matrix), abs=1e-9)
    assert alpha == pytest.approx(_alpha_from_covariances(matrix), abs=1e-9)


def test_alpha_uses_complete_cases_only() -> None:
    with_gaps = np.vstack([WORKED, [[np.nan, 1, 1], [3, np.nan, np.nan]]])
    assert cronbach_alpha(with_gaps) == pytest.approx(0.7734375)
    summary = scale_summary(with_gaps, min_answered=0.6)
    assert summary.complete_cases == 10
    assert summary.n == 11  # the row with two of three answered has a score; one of three has not


def test_alpha_at_its_limits() -> None:
    parallel = np.array([[1, 1, 1], [2, 2, 2], [4, 4, 4], [5, 5, 5]], dtype=float)
    assert cronbach_alpha(parallel) == pytest.approx(1.0)
    assert cronbach_alpha(WORKED[:, :1]) is None  # one item
    assert cronbach_alpha(WORKED[:1]) is None  # one respondent
    assert cronbach_alpha(np.full((5, 3), 3.0)) is None  # no variance
    assert cronbach_alpha(np.full((4, 3), np.nan)) is None  # no complete case


def test_the_summary_of_scores_uses_the_sample_sd() -> None:
    summary = scale_summary(WORKED)
    scores = WORKED.mean(axis=1).tolist()
    assert summary.items == 3 and summary.n == 10 and summary.complete_cases == 10
    assert summary.mean == pytest.approx(statistics.mean(scores))
    assert summary.sd == pytest.approx(statistics.stdev(scores))  # n - 1
    empty = scale_summary(np.empty((0, 3)))
    assert (empty.n, empty.mean, empty.sd, empty.alpha) == (0, None, None, None)
    single = scale_summary(WORKED[:1])
    assert single.mean == pytest.approx(1.0) and single.sd is None


@settings(max_examples=50, deadline=None)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(0, 60), st.just(4)),
        elements=st.sampled_from([1.0, 2.0, 3.0, 4.0, 5.0, np.nan]),
    ),
    st.lists(st.integers(0, 60), max_size=5),
)
def test_chunks_accumulate_to_the_summary_of_the_whole(matrix: np.ndarray, cuts: list[int]) -> None:
    accumulator = ScaleAccumulator(items=4, needed=3)
    edges = [0, *sorted(c for c in cuts if c <= len(matrix)), len(matrix)]
    for start, end in zip(edges, edges[1:], strict=False):
        accumulator.add(matrix[start:end])  # including empty chunks
    whole = scale_summary(matrix, min_answered=0.75)
    streamed = accumulator.summary()
    assert (streamed.n, streamed.complete_cases, streamed.items) == (
        whole.n,
        whole.complete_cases,
        4,
    )
    for figure in ("mean", "sd", "alpha"):
        expected = getattr(whole, figure)
        got = getattr(streamed, figure)
        assert (got is None) == (expected is None)
        if expected is not None:
            assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_a_round_of_responses_summarised_chunk_by_chunk() -> None:
    codebook = Codebook.model_validate(fx.CODEBOOK)
    rows = fx.responses(1000, missing=0.03)
    frame = pd.DataFrame(rows, dtype=object)
    summaries = ScoreSummaries(codebook)
    linked = ScoreSummaries(codebook)
    for start in range(0, 1000, 128):
        scored = score_frame(frame.iloc[start : start + 128], codebook)
        summaries.add(scored)
        linked.add(scored, include=np.arange(start, min(start + 128, 1000)) % 2 == 0)
    result = summaries.summaries()
    whole = score_frame(frame, codebook)
    for name in ("knowledge", "attitudes", "use"):
        direct = scale_summary(whole.items[name], min_answered=0.8)
        assert (result[name].n, result[name].complete_cases) == (direct.n, direct.complete_cases)
        assert result[name].alpha == pytest.approx(direct.alpha)
        assert result[name].mean == pytest.approx(whole.scores[name].mean())
        assert result[name].sd == pytest.approx(whole.scores[name].std(ddof=1))
        even = scale_summary(whole.items[name][::2], min_answered=0.8)
        assert linked.summaries()[name].n == even.n
        assert linked.summaries()[name].alpha == pytest.approx(even.alpha)
    # The synthetic respondents share a tendency, so the scales hang together; reverse-coding
    # the reverse-worded attitude items is what makes that scale's alpha high too.
    assert result["attitudes"].alpha is not None and result["attitudes"].alpha > 0.8


def test_an_accumulator_refuses_a_matrix_of_the_wrong_width() -> None:
    with pytest.raises(ValueError, match="expected 3 item columns, got 2"):
        ScaleAccumulator(items=3, needed=2).add(np.ones((4, 2)))
