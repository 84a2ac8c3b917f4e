"""From a pupil table to the arrays the models need: complete cases, dummies, school order.

Every model in this package drops the rows with a missing value in any column it uses (as R's
``na.omit`` does in eefAnalytics) and reports how many it dropped. A covariate that is not
numeric (an LA, a stratum label) becomes treatment-coded dummies with its first level, in sorted
order, as the reference, as R's ``factor`` would.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

INTERCEPT = "Intercept"


@dataclass(frozen=True)
class Design:
    """Complete cases in school order, as one matrix whose last column is the outcome.

    Keeping the outcome as the last column of ``matrix`` lets one cross-product pass give every
    sufficient statistic the random-intercept solver needs (see ``mixed.school_sums``).
    """

    matrix: np.ndarray  # (pupils, p + 1): intercept, [treatment,] covariates..., outcome
    names: tuple[str, ...]  # the p fixed-effect names
    school_starts: np.ndarray  # index of each school's first row in ``matrix``
    school_labels: np.ndarray  # the cluster value of each school, in the same order
    rows_dropped: int

    @property
    def outcome(self) -> np.ndarray:
        return self.matrix[:, -1]

    @property
    def columns(self) -> np.ndarray:
        return self.matrix[:, :-1]

    @property
    def school_sizes(self) -> np.ndarray:
        return np.diff(np.append(self.school_starts, self.matrix.shape[0]))

    @property
    def school_codes(self) -> np.ndarray:
        """The school index (0..schools-1) of every row."""
        return np.repeat(np.arange(self.school_starts.size), self.school_sizes)


def complete_cases(data: pd.DataFrame, columns: Sequence[str]) -> tuple[pd.DataFrame, int]:
    """The rows with no missing value in ``columns``, and how many rows were dropped."""
    missing = [name for name in columns if name not in data.columns]
    if missing:
        raise ValueError(f"columns not in the data: {', '.join(missing)}")
    used = data.loc[:, list(dict.fromkeys(columns))]
    keep = used.notna().all(axis=1).to_numpy()
    return used.loc[keep], int((~keep).sum())


def binary_column(values: pd.Series, *, role: str) -> np.ndarray:
    """A 0/1 column (bool allowed) as float; anything else is a caller's error."""
    array = values.to_numpy()
    if array.dtype == bool:
        return array.astype(float)
    if not pd.api.types.is_numeric_dtype(values):
        raise ValueError(f"the {role} column {values.name!r} must be coded 0/1")
    numbers = array.astype(float)
    if not np.isin(numbers, (0.0, 1.0)).all():
        raise ValueError(f"the {role} column {values.name!r} must be coded 0/1")
    return numbers


def _covariate_names(data: pd.DataFrame, name: str) -> tuple[list[str], np.ndarray | None]:
    """The column names a covariate expands to, and its level codes if it is a label."""
    values = data[name]
    if values.dtype == bool or pd.api.types.is_numeric_dtype(values):
        return [name], None
    codes, levels = pd.factorize(values, sort=True)
    return [f"{name}[{level}]" for level in levels[1:]], codes


def fill_matrix(
    used: pd.DataFrame,
    *,
    outcome: str,
    terms: Sequence[str],
    covariates: Sequence[str],
    order: np.ndarray,
) -> tuple[tuple[str, ...], np.ndarray]:
    """[1, terms (0/1), covariates (dummies for labels), outcome] for the rows ``order``.

    Filled column by column in that order, so no pupil-by-column temporary is ever built,
    which matters for 600,000 pupils and 150 LA dummies.
    """
    if not pd.api.types.is_numeric_dtype(used[outcome]):
        raise ValueError(f"the outcome column {outcome!r} must be numeric")
    expanded = [(name, *_covariate_names(used, name)) for name in covariates]
    names = [INTERCEPT, *terms, *(column for _, columns, _ in expanded for column in columns)]
    matrix = np.zeros((order.size, len(names) + 1))
    matrix[:, 0] = 1.0
    for at, term in enumerate(terms, start=1):
        matrix[:, at] = binary_column(used[term], role="treatment")[order]
    at = 1 + len(terms)
    for name, columns, level_codes in expanded:
        if level_codes is None:
            matrix[:, at] = used[name].to_numpy(dtype=float)[order]
        else:
            sorted_levels = level_codes[order]
            rows = np.flatnonzero(sorted_levels > 0)
            matrix[rows, at + sorted_levels[rows] - 1] = 1.0
        at += len(columns)
    matrix[:, -1] = used[outcome].to_numpy(dtype=float)[order]
    return tuple(names), matrix


def collinear_columns(names: Sequence[str], cross: np.ndarray) -> list[str]:
    """The fixed effects that are linear combinations of the ones before them.

    Read from X'X (scaled to unit diagonal), so it costs O(p³), not a pass over pupils.
    """
    scale = np.sqrt(np.diag(cross))
    if scale.all():
        scaled = cross / np.outer(scale, scale)
        if np.linalg.eigvalsh(scaled)[0] > 1e-10:
            return []
    dependent: list[str] = []
    kept: list[int] = []
    for k, name in enumerate(names):
        trial = [*kept, k]
        block = cross[np.ix_(trial, trial)] / np.outer(scale[trial], scale[trial])
        if scale[k] == 0.0 or np.linalg.eigvalsh(block)[0] < 1e-10:
            dependent.append(name)
        else:
            kept.append(k)
    return dependent


def build_design(
    data: pd.DataFrame,
    *,
    outcome: str,
    cluster: str,
    covariates: Sequence[str],
    treatment: str | None = None,
) -> Design:
    """The design of ``outcome ~ [treatment +] covariates + (1 | cluster)`` on complete cases.

    The treatment, when given, must be coded 0/1 and is the second column, after the intercept.
    """
    terms = [treatment] if treatment is not None else []
    used, dropped = complete_cases(data, [outcome, cluster, *terms, *covariates])
    codes, labels = pd.factorize(used[cluster], sort=True)
    # A stable sort keeps pupils' order within a school, so results do not depend on it.
    order = np.argsort(codes, kind="stable")
    names, matrix = fill_matrix(
        used, outcome=outcome, terms=terms, covariates=covariates, order=order
    )
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])[: order.size]
    return Design(
        matrix=matrix,
        names=names,
        school_starts=starts,
        school_labels=np.asarray(labels),
        rows_dropped=dropped,
    )
