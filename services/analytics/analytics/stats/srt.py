"""Pupil- or teacher-level analysis by OLS, as eefAnalytics' ``srtFREQ`` does it.

``lm(outcome ~ treatment + covariates)``; the effect size is Hedges' g = J·β/σ with σ the
residual SD (conditional) or the SD of the outcome (unconditional, the EEF headline), see
``effect_sizes.g_pupil_randomised``. With ``cluster`` given (teachers within schools), β's
standard error is school-clustered: the CR1 sandwich, G/(G−1)·(N−1)/(N−p) (Liang & Zeger 1986;
Cameron & Miller 2015, "A practitioner's guide to cluster-robust inference", J. Hum. Resour.
50(2)), with t(G−1) intervals. The g intervals keep srtFREQ's formula, which has no clustering
term: read the clustered β CI for inference.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm

from analytics.stats.design import collinear_columns, complete_cases, fill_matrix
from analytics.stats.effect_sizes import EffectSize, g_pupil_randomised, hedges_j
from analytics.stats.results import FixedEffect, jsonable

EFFECT_SIZE_KEYS = ("conditional", "unconditional")


@dataclass(frozen=True)
class SrtResult:
    """The fitted OLS model. When ``converged`` is False every estimate is None: see ``message``."""

    converged: bool
    message: str
    outcome: str
    treatment: str
    covariates: tuple[str, ...]
    cluster: str | None
    clusters: int | None
    pupils_per_arm: dict[str, int]
    rows_used: int
    rows_dropped: int
    beta: float | None = None
    se: float | None = None
    p_value: float | None = None
    ci: tuple[float, float] | None = None
    ci_method: str | None = None
    fixed_effects: dict[str, FixedEffect] = field(default_factory=dict)
    sd_conditional: float | None = None
    sd_unconditional: float | None = None
    hedges_j: float | None = None
    effect_sizes: dict[str, EffectSize] = field(
        default_factory=lambda: {key: EffectSize.missing() for key in EFFECT_SIZE_KEYS}
    )
    headline: str = "unconditional"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; NaN becomes null."""
        return jsonable(self)


def _problem(matrix: np.ndarray, names: tuple[str, ...], treated: int, control: int) -> str | None:
    rows, p = matrix.shape[0], len(names)
    if treated < 2 or control < 2:
        return f"need at least two rows in each arm (intervention {treated}, control {control})"
    if rows <= p:
        return f"{rows} rows cannot fit {p} coefficients"
    if np.ptp(matrix[:, -1]) == 0.0:
        return "the outcome does not vary"
    columns = matrix[:, :-1]
    dependent = collinear_columns(names, columns.T @ columns)
    if dependent:
        return f"the fixed effects are collinear: {', '.join(dependent)}"
    return None


def fit_srt(
    data: pd.DataFrame,
    *,
    outcome: str,
    treatment: str,
    covariates: Sequence[str] = (),
    cluster: str | None = None,
) -> SrtResult:
    """OLS of ``outcome`` on the 0/1 ``treatment`` and ``covariates``, with Hedges' g.

    Rows missing a used column (``cluster`` included) are dropped and counted. With ``cluster``
    the standard errors are school-clustered (CR1) and the intervals t(G−1).
    """
    extra = [cluster] if cluster is not None else []
    used, dropped = complete_cases(data, [outcome, treatment, *covariates, *extra])
    names, matrix = fill_matrix(
        used,
        outcome=outcome,
        terms=[treatment],
        covariates=covariates,
        order=np.arange(len(used)),
    )
    treated = int(matrix[:, 1].sum())
    control = int(matrix.shape[0] - treated)
    groups = pd.factorize(used[cluster])[0] if cluster is not None else None
    counts: dict[str, Any] = {
        "outcome": outcome,
        "treatment": treatment,
        "covariates": tuple(covariates),
        "cluster": cluster,
        "clusters": int(groups.max() + 1) if groups is not None and groups.size else None,
        "pupils_per_arm": {"intervention": treated, "control": control},
        "rows_used": int(matrix.shape[0]),
        "rows_dropped": dropped,
    }
    problem = _problem(matrix, names, treated, control)
    if problem is None and groups is not None and counts["clusters"] < 2:
        problem = "clustered standard errors need at least two clusters"
    if problem is not None:
        return SrtResult(converged=False, message=problem, **counts)

    model = sm.OLS(matrix[:, -1], matrix[:, :-1])
    if groups is None:
        fit = model.fit()
        method = "t"
    else:
        fit = model.fit(cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
        method = "cluster-robust t (CR1)"
    bounds = np.asarray(fit.conf_int())
    fixed = {
        name: FixedEffect(
            estimate=float(fit.params[k]),
            se=float(fit.bse[k]),
            p_value=float(fit.pvalues[k]),
            ci=(float(bounds[k, 0]), float(bounds[k, 1])),
            method=method,
        )
        for k, name in enumerate(names)
    }
    beta = fixed[treatment]
    sd_conditional = float(np.sqrt(fit.scale))
    sd_unconditional = float(np.std(matrix[:, -1], ddof=1))
    effect_sizes = {
        "conditional": g_pupil_randomised(
            beta=float(fit.params[1]), sd=sd_conditional, treated=treated, control=control
        ),
        "unconditional": g_pupil_randomised(
            beta=float(fit.params[1]), sd=sd_unconditional, treated=treated, control=control
        ),
    }
    return SrtResult(
        converged=True,
        message="converged",
        **counts,
        beta=beta.estimate,
        se=beta.se,
        p_value=beta.p_value,
        ci=beta.ci,
        ci_method=method,
        fixed_effects=fixed,
        sd_conditional=sd_conditional,
        sd_unconditional=sd_unconditional,
        hedges_j=hedges_j(treated + control),
        effect_sizes=effect_sizes,
    )
