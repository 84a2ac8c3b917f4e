"""Complier average causal effect by two-stage least squares, allocation instrumenting compliance.

Angrist, Imbens & Rubin (1996), "Identification of causal effects using instrumental variables",
JASA 91(434): with random allocation as the instrument, 2SLS of the outcome on compliance
estimates the effect among compliers (without covariates it is the Wald ratio ITT / (difference
in compliance rates)). The EEF guidance asks for it alongside the ITT, as an effect size on the
same variance as the ITT's headline; here the CACE is multiplied by the very factor that turns
the ITT β into its total (unconditional) g, Hedges' (2007) d_T2 scale, so g_CACE / g_ITT =
CACE / β. Standard errors are school-clustered (CR1) with t(G−1) intervals, as ``fit_srt``'s.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from linearmodels.iv import IV2SLS
from linearmodels.iv.results import IVResults
from scipy import stats

from analytics.stats.crt import CrtResult, arm_schools, fit_crt
from analytics.stats.design import build_design, collinear_columns, complete_cases, fill_matrix
from analytics.stats.effect_sizes import EffectSize, total_scale
from analytics.stats.results import jsonable


@dataclass(frozen=True)
class CaceResult:
    """The CACE. When ``converged`` is False every estimate is None: see ``message``."""

    converged: bool
    message: str
    outcome: str
    treatment: str
    complier: str
    cluster: str
    covariates: tuple[str, ...]
    schools: int
    rows_used: int
    rows_dropped: int
    compliance: dict[str, float | None] = field(default_factory=dict)
    cace: float | None = None
    se: float | None = None
    p_value: float | None = None
    ci: tuple[float, float] | None = None
    ci_method: str = "cluster-robust t (CR1)"
    first_stage_f: float | None = None
    effect_size: EffectSize = field(default_factory=EffectSize.missing)
    effect_size_variance: float | None = None
    effect_size_basis: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; NaN becomes null."""
        return jsonable(self)


def _scale(
    used: pd.DataFrame,
    *,
    outcome: str,
    treatment: str,
    cluster: str,
    covariates: Sequence[str],
    itt: CrtResult | None,
    total_variance: float | None,
) -> tuple[float | None, float | None, str]:
    """(factor from the outcome scale to g, the variance behind it, where it came from)."""
    if total_variance is not None:
        if not total_variance > 0:
            raise ValueError("total_variance must be positive")
        return 1.0 / np.sqrt(total_variance), total_variance, "total_variance given"
    if itt is None:
        itt = fit_crt(
            used, outcome=outcome, treatment=treatment, cluster=cluster, covariates=covariates
        )
        basis = "fit_crt of the same rows, total unconditional variance, Hedges (2007) d_T2"
    else:
        basis = "the ITT given, total unconditional variance, Hedges (2007) d_T2"
    if not itt.converged:
        return None, None, f"no effect size: the ITT fit did not converge ({itt.message})"
    assert itt.var_school_unconditional is not None and itt.var_pupil_unconditional is not None
    design = build_design(
        used, outcome=outcome, treatment=treatment, cluster=cluster, covariates=()
    )
    factor = total_scale(
        var_school=itt.var_school_unconditional,
        var_pupil=itt.var_pupil_unconditional,
        arms=arm_schools(design),
    )
    return factor, itt.var_total_unconditional, basis


def cace(
    data: pd.DataFrame,
    *,
    outcome: str,
    treatment: str,
    complier: str,
    cluster: str,
    covariates: Sequence[str] = (),
    itt: CrtResult | None = None,
    total_variance: float | None = None,
) -> CaceResult:
    """The CACE of ``complier`` (0/1, took up the programme) with ``treatment`` (0/1) as instrument.

    The effect size uses ``total_variance`` if given (g = CACE/σ_T), else the unconditional
    variances of ``itt`` (a ``fit_crt`` result on the same data), else a ``fit_crt`` of these rows.
    Rows missing a used column are dropped and counted.
    """
    used, dropped = complete_cases(data, [outcome, treatment, complier, cluster, *covariates])
    names, matrix = fill_matrix(
        used,
        outcome=outcome,
        terms=[complier, treatment],
        covariates=covariates,
        order=np.arange(len(used)),
    )
    groups = pd.factorize(used[cluster])[0]
    took_up, allocated = matrix[:, 1], matrix[:, 2]
    rates = {
        arm: float(took_up[allocated == value].mean()) if (allocated == value).any() else None
        for arm, value in (("intervention", 1.0), ("control", 0.0))
    }
    counts: dict[str, Any] = {
        "outcome": outcome,
        "treatment": treatment,
        "complier": complier,
        "cluster": cluster,
        "covariates": tuple(covariates),
        "schools": int(groups.max() + 1) if groups.size else 0,
        "rows_used": int(matrix.shape[0]),
        "rows_dropped": dropped,
        "compliance": rates,
    }
    exog_index = [0, *range(3, len(names))]
    problem = None
    if rates["intervention"] is None or rates["control"] is None:
        problem = "both arms need pupils"
    elif rates["intervention"] == rates["control"]:
        problem = "compliance is the same in both arms: allocation does not predict it"
    elif counts["schools"] < 3:
        problem = "clustered standard errors need at least three schools"
    else:
        instruments = matrix[:, [*exog_index, 2]]
        dependent = collinear_columns(
            [names[k] for k in exog_index] + [treatment], instruments.T @ instruments
        )
        if dependent:
            problem = f"the covariates are collinear: {', '.join(dependent)}"
    if problem is not None:
        return CaceResult(converged=False, message=problem, **counts)

    fit = IV2SLS(matrix[:, -1], matrix[:, exog_index], matrix[:, 1], matrix[:, 2]).fit(
        cov_type="clustered", clusters=groups, debiased=True
    )
    assert isinstance(fit, IVResults)  # IV2SLS with an endogenous column always gives one
    estimate = float(np.asarray(fit.params)[-1])
    se = float(np.asarray(fit.std_errors)[-1])
    dof = counts["schools"] - 1
    quantile = float(stats.t.ppf(0.975, dof))
    first_stage = fit.first_stage.diagnostics
    factor, variance, basis = _scale(
        used,
        outcome=outcome,
        treatment=treatment,
        cluster=cluster,
        covariates=covariates,
        itt=itt,
        total_variance=total_variance,
    )
    effect_size = (
        EffectSize(
            g=estimate * factor,
            se=se * factor,
            ci=((estimate - quantile * se) * factor, (estimate + quantile * se) * factor),
        )
        if factor is not None
        else EffectSize.missing()
    )
    return CaceResult(
        converged=True,
        message="converged" if factor is not None else f"converged; {basis}",
        **counts,
        cace=estimate,
        se=se,
        p_value=float(2.0 * stats.t.sf(abs(estimate / se), dof)),
        ci=(estimate - quantile * se, estimate + quantile * se),
        first_stage_f=float(np.asarray(first_stage["f.stat"])[0]),
        effect_size=effect_size,
        effect_size_variance=variance,
        effect_size_basis=basis,
    )
