"""Scale summaries: n, mean and SD of the scale scores, and Cronbach's alpha.

Alpha is computed on complete cases (respondents who answered every item), as
α = k/(k−1) · (1 − Σ var(item) / var(total)). The variance of the total is the sum of the item
covariance matrix, so alpha = k/(k−1) · (1 − trace(C)/sum(C)) for the matrix C of centred
cross-products (the n−1 cancels).

``ScaleAccumulator`` gets the same figures from chunks without keeping the answers: it merges
each chunk's count, means and cross-product matrix (Chan, Golub and LeVeque's pairwise update),
which is as accurate as computing on all rows at once. ``scale_summary`` computes directly on a
whole matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from surveys.scoring.codebook import Codebook, ScaleName, answers_needed
from surveys.scoring.scores import ScoredChunk, scale_scores

__all__ = [
    "ScaleAccumulator",
    "ScaleSummary",
    "ScoreSummaries",
    "cronbach_alpha",
    "scale_summary",
]


@dataclass(frozen=True, slots=True)
class ScaleSummary:
    """A scale across respondents. None where a figure is undefined (too few respondents or
    items, or no variance)."""

    items: int  # k
    n: int  # respondents with a scale score
    mean: float | None
    sd: float | None  # sample SD (n − 1)
    complete_cases: int  # respondents with every item answered: alpha's sample
    alpha: float | None


def _matrix(item_matrix: npt.ArrayLike) -> np.ndarray:
    matrix = np.asarray(item_matrix, dtype=float)
    if matrix.ndim != 2:
        raise ValueError("an item matrix has one row per respondent and one column per item")
    return matrix


def _alpha(cross_products: np.ndarray, k: int, n: int) -> float | None:
    total = float(cross_products.sum())
    if k < 2 or n < 2 or total <= 0:
        return None
    return k / (k - 1) * (1.0 - float(np.trace(cross_products)) / total)


def cronbach_alpha(item_matrix: npt.ArrayLike) -> float | None:
    """Cronbach's alpha of a (respondents x items) matrix, on the rows with no NaN."""
    matrix = _matrix(item_matrix)
    complete = matrix[~np.isnan(matrix).any(axis=1)]
    centred = complete - complete.mean(axis=0) if len(complete) else complete
    return _alpha(centred.T @ centred, matrix.shape[1], len(complete))


def scale_summary(item_matrix: npt.ArrayLike, *, min_answered: float = 0.8) -> ScaleSummary:
    """Summary of a (respondents x items) matrix of reverse-coded answers (NaN = unanswered):
    scores are row means where at least ``min_answered`` of the items are answered."""
    matrix = _matrix(item_matrix)
    k = matrix.shape[1]
    scores, _ = scale_scores(matrix, needed=answers_needed(items=k, min_answered=min_answered))
    scored = scores[~np.isnan(scores)]
    complete = int((~np.isnan(matrix).any(axis=1)).sum())
    return ScaleSummary(
        items=k,
        n=len(scored),
        mean=float(scored.mean()) if len(scored) else None,
        sd=float(scored.std(ddof=1)) if len(scored) > 1 else None,
        complete_cases=complete,
        alpha=cronbach_alpha(matrix),
    )


class ScaleAccumulator:
    """A scale's summary built up from chunks of its item matrix, in constant memory."""

    def __init__(self, *, items: int, needed: int) -> None:
        if items < 1 or needed < 1:
            raise ValueError("a scale has at least one item and needs at least one answer")
        self.items = items
        self.needed = needed
        # Scale scores: count, mean, sum of squared deviations.
        self._n = 0
        self._mean = 0.0
        self._m2 = 0.0
        # Complete cases: count, item means, centred cross-product matrix.
        self._nc = 0
        self._means = np.zeros(items)
        self._cross = np.zeros((items, items))

    def add(self, item_matrix: npt.ArrayLike) -> None:
        """Add respondents: a (respondents x items) matrix, NaN for unanswered."""
        matrix = _matrix(item_matrix)
        if matrix.shape[1] != self.items:
            raise ValueError(f"expected {self.items} item columns, got {matrix.shape[1]}")
        scores, _ = scale_scores(matrix, needed=self.needed)
        scored = scores[~np.isnan(scores)]
        if len(scored):
            n_b, mean_b = len(scored), float(scored.mean())
            m2_b = float(((scored - mean_b) ** 2).sum())
            n = self._n + n_b
            delta = mean_b - self._mean
            self._m2 += m2_b + delta * delta * self._n * n_b / n
            self._mean += delta * n_b / n
            self._n = n
        complete = matrix[~np.isnan(matrix).any(axis=1)]
        if len(complete):
            n_b = len(complete)
            means_b = complete.mean(axis=0)
            centred = complete - means_b
            n = self._nc + n_b
            delta = means_b - self._means
            self._cross += centred.T @ centred + np.outer(delta, delta) * (self._nc * n_b / n)
            self._means += delta * (n_b / n)
            self._nc = n

    def summary(self) -> ScaleSummary:
        return ScaleSummary(
            items=self.items,
            n=self._n,
            mean=self._mean if self._n else None,
            sd=float(np.sqrt(self._m2 / (self._n - 1))) if self._n > 1 else None,
            complete_cases=self._nc,
            alpha=_alpha(self._cross, self.items, self._nc),
        )


class ScoreSummaries:
    """One ``ScaleAccumulator`` per scale of a codebook, fed with ``ScoredChunk``s.

    Pass ``include`` (a boolean mask over the chunk's rows) to summarise only some responses,
    e.g. those linked to a trial school.
    """

    def __init__(self, codebook: Codebook) -> None:
        self._scales: dict[ScaleName, ScaleAccumulator] = {
            name: ScaleAccumulator(
                items=len(scale.items), needed=scale.needed(codebook.min_answered)
            )
            for name, scale in codebook.scales.items()
        }

    def add(self, scored: ScoredChunk, *, include: npt.ArrayLike | None = None) -> None:
        for name, accumulator in self._scales.items():
            matrix = scored.items[name]
            accumulator.add(matrix if include is None else matrix[np.asarray(include, bool)])

    def summaries(self) -> dict[ScaleName, ScaleSummary]:
        return {name: accumulator.summary() for name, accumulator in self._scales.items()}
