"""The ITT analysis of a cluster-randomised trial, as eefAnalytics' ``crtFREQ`` does it.

Conditional model ``outcome ~ treatment + covariates + (1 | school)`` and unconditional model
``outcome ~ 1 + (1 | school)``, both by REML (lme4's default); the treatment's 95% CI by profile
likelihood on the ML refit (lme4's ``confint``); effect sizes from Hedges (2007) with β always
from the conditional model and the variances from each model in turn. The EEF headline is the
total-variance effect size on the unconditional model's variances (``headline``): its
denominator does not depend on which covariates the analysis happened to adjust for.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from analytics.stats.backends import (
    Backend,
    EstimationError,
    ProfiledBackend,
    StatsmodelsBackend,
)
from analytics.stats.design import Design, build_design, collinear_columns
from analytics.stats.effect_sizes import ArmSchools, EffectSize, g_total, g_within
from analytics.stats.mixed import InterceptFit, school_sums
from analytics.stats.profile import ProfileError, profile_interval
from analytics.stats.results import FixedEffect, jsonable

EFFECT_SIZE_KEYS = (
    "within_conditional",
    "total_conditional",
    "within_unconditional",
    "total_unconditional",
)
HEADLINE = "total_unconditional"
PROFILE_METHOD = "profile likelihood"
WALD_METHOD = "wald z"


@dataclass(frozen=True)
class CrtResult:
    """The fitted ITT model. When ``converged`` is False every estimate is None: see ``message``.

    Variances: ``var_school`` σ²_b, ``var_pupil`` σ²_w (REML, conditional model); the
    ``*_unconditional`` ones are from the intercept-only model. ``p_value`` is the likelihood-
    ratio test on the ML fits, the test the profile CI inverts (so the CI excludes 0 exactly when
    p < 0.05); ``fixed_effects`` gives every coefficient, with Wald z CIs except those profiled.
    """

    converged: bool
    message: str
    outcome: str
    treatment: str
    cluster: str
    covariates: tuple[str, ...]
    schools_per_arm: dict[str, int]
    pupils_per_arm: dict[str, int]
    rows_used: int
    rows_dropped: int
    beta: float | None = None
    se: float | None = None
    p_value: float | None = None
    ci: tuple[float, float] | None = None
    ci_method: str = PROFILE_METHOD
    fixed_effects: dict[str, FixedEffect] = field(default_factory=dict)
    var_school: float | None = None
    var_pupil: float | None = None
    var_total: float | None = None
    icc: float | None = None
    var_school_unconditional: float | None = None
    var_pupil_unconditional: float | None = None
    var_total_unconditional: float | None = None
    icc_unconditional: float | None = None
    effect_sizes: dict[str, EffectSize] = field(
        default_factory=lambda: {key: EffectSize.missing() for key in EFFECT_SIZE_KEYS}
    )
    headline: str = HEADLINE
    log_likelihood_reml: float | None = None
    solver: str | None = None

    @property
    def schools(self) -> int:
        return sum(self.schools_per_arm.values())

    @property
    def pupils(self) -> int:
        return sum(self.pupils_per_arm.values())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; NaN becomes null."""
        return jsonable(self)


def arm_schools(design: Design) -> ArmSchools:
    """School sizes per arm; raises if a school has pupils in both arms (not a CRT)."""
    treated = np.ascontiguousarray(design.columns[:, 1])
    first = np.minimum.reduceat(treated, design.school_starts) if treated.size else treated
    last = np.maximum.reduceat(treated, design.school_starts) if treated.size else treated
    mixed = int((first != last).sum())
    if mixed:
        raise ValueError(
            f"the treatment varies within {mixed} school(s): fit_crt needs whole schools "
            "randomised (use fit_srt for pupil-level randomisation)"
        )
    sizes = design.school_sizes.astype(float)
    return ArmSchools(treated=sizes[first == 1.0], control=sizes[first == 0.0])


def estimability_problem(design: Design, arms: ArmSchools) -> str | None:
    """Why these data cannot give the CRT estimates, or None if they can (collinearity aside)."""
    if design.matrix.shape[0] == 0:
        return "no complete rows"
    if arms.treated.size < 2 or arms.control.size < 2:
        return (
            f"need at least two schools in each arm (intervention {arms.treated.size}, "
            f"control {arms.control.size}): the school variance is not identified"
        )
    if design.school_sizes.max() < 2:
        return "no school has more than one pupil: school and pupil variances are confounded"
    if np.ptp(design.outcome) == 0.0:
        return "the outcome does not vary"
    return None


def _wald(estimate: float, se: float) -> FixedEffect:
    z = stats.norm.ppf(0.975)
    p_value = float(2.0 * stats.norm.sf(abs(estimate / se)))
    return FixedEffect(
        estimate=float(estimate),
        se=float(se),
        p_value=p_value,
        ci=(float(estimate - z * se), float(estimate + z * se)),
        method=WALD_METHOD,
    )


def _converged(fit: InterceptFit, what: str) -> InterceptFit:
    if not fit.converged:
        raise EstimationError(f"{what}: {fit.message}")
    return fit


def _profiled(
    backend: Backend, ml: InterceptFit, column: int, reml_fit: InterceptFit
) -> FixedEffect:
    def fixed_deviance(value: float) -> float:
        return backend.fit_fixed(column=column, value=value).deviance

    try:
        interval = profile_interval(
            fixed_deviance,
            estimate=float(ml.beta[column]),
            se=float(ml.se[column]),
            minimum=ml.deviance,
        )
    except ProfileError as error:
        raise EstimationError(f"profile CI for {ml.names[column]}: {error}") from error
    return FixedEffect(
        estimate=float(reml_fit.beta[column]),
        se=float(reml_fit.se[column]),
        p_value=interval.p_value,
        ci=(interval.lower, interval.upper),
        method=PROFILE_METHOD,
    )


def _estimate(backend: Backend, *, arms: ArmSchools, profile_all: bool) -> dict[str, Any]:
    conditional = _converged(backend.fit(reml=True), "conditional model (REML)")
    unconditional = _converged(backend.fit(reml=True, keep=[0]), "unconditional model (REML)")
    ml = _converged(backend.fit(reml=False), "conditional model (ML refit for the profile)")
    profiled = range(len(conditional.names)) if profile_all else [1]
    fixed = {
        name: (
            _profiled(backend, ml, k, conditional)
            if k in profiled
            else _wald(conditional.beta[k], conditional.se[k])
        )
        for k, name in enumerate(conditional.names)
    }
    treatment = fixed[conditional.names[1]]
    assert treatment.estimate is not None
    beta = treatment.estimate
    var_b, var_w = conditional.var_school, conditional.var_pupil
    var_b0, var_w0 = unconditional.var_school, unconditional.var_pupil
    effect_sizes = {
        "within_conditional": g_within(
            beta=beta, var_pupil=var_w, icc=var_b / (var_b + var_w), arms=arms
        ),
        "total_conditional": g_total(beta=beta, var_school=var_b, var_pupil=var_w, arms=arms),
        "within_unconditional": g_within(
            beta=beta, var_pupil=var_w0, icc=var_b0 / (var_b0 + var_w0), arms=arms
        ),
        "total_unconditional": g_total(beta=beta, var_school=var_b0, var_pupil=var_w0, arms=arms),
    }
    estimates = {
        "beta": beta,
        "se": treatment.se,
        "p_value": treatment.p_value,
        "ci": treatment.ci,
        "fixed_effects": fixed,
        "var_school": var_b,
        "var_pupil": var_w,
        "var_total": var_b + var_w,
        "icc": var_b / (var_b + var_w),
        "var_school_unconditional": var_b0,
        "var_pupil_unconditional": var_w0,
        "var_total_unconditional": var_b0 + var_w0,
        "icc_unconditional": var_b0 / (var_b0 + var_w0),
        "effect_sizes": effect_sizes,
        "log_likelihood_reml": conditional.log_likelihood,
        "solver": backend.name,
    }
    # The last guard against silent numbers: a converged-looking fit on data that do not
    # identify the model (statsmodels reports such fits as converged) shows up here.
    broken = [name for name, value in estimates.items() if not _finite(value)]
    if broken:
        raise EstimationError(f"non-finite estimates: {', '.join(broken)}")
    return estimates


def _finite(value: Any) -> bool:
    """No NaN, infinity or None anywhere in a (nested) estimate.

    ``jsonable`` maps NaN and infinity to None, so looking for None in its output is enough.
    """
    plain = jsonable(value)
    if isinstance(plain, dict):
        return all(_finite(item) for item in plain.values())
    if isinstance(plain, list):
        return all(_finite(item) for item in plain)
    return plain is not None


def fit_crt(
    data: pd.DataFrame,
    *,
    outcome: str,
    treatment: str,
    cluster: str,
    covariates: Sequence[str] = (),
    profile_all: bool = False,
) -> CrtResult:
    """Fit the two-level random-intercept ITT model of a cluster-randomised trial.

    ``treatment`` is 0/1 and constant within each ``cluster`` (school). ``covariates`` are
    numeric, or labels (an LA, a stratum) that become dummies. Rows missing any used column are
    dropped (``rows_dropped``). The fast profiled solver is tried first, then statsmodels'
    MixedLM; a fit neither can complete comes back with ``converged=False`` and no numbers.
    With ``profile_all`` every coefficient gets a profile CI, not only the treatment's.
    """
    design = build_design(
        data, outcome=outcome, treatment=treatment, cluster=cluster, covariates=covariates
    )
    arms = arm_schools(design)
    counts: dict[str, Any] = {
        "outcome": outcome,
        "treatment": treatment,
        "cluster": cluster,
        "covariates": tuple(covariates),
        "schools_per_arm": {"intervention": arms.treated.size, "control": arms.control.size},
        "pupils_per_arm": {
            "intervention": int(arms.treated.sum()),
            "control": int(arms.control.sum()),
        },
        "rows_used": int(design.matrix.shape[0]),
        "rows_dropped": design.rows_dropped,
    }
    problem = estimability_problem(design, arms)
    if problem is not None:
        return CrtResult(converged=False, message=problem, **counts)
    sums = school_sums(design.matrix, design.school_starts, design.names)
    p = len(design.names)
    dependent = collinear_columns(design.names, sums.cross[:p, :p])
    if dependent:
        message = f"the fixed effects are collinear: {', '.join(dependent)}"
        return CrtResult(converged=False, message=message, **counts)
    failures = []
    backends: list[Callable[[], Backend]] = [
        lambda: ProfiledBackend(sums),
        lambda: StatsmodelsBackend(design),
    ]
    for make_backend in backends:
        backend = make_backend()
        try:
            estimates = _estimate(backend, arms=arms, profile_all=profile_all)
        except EstimationError as error:
            failures.append(f"{backend.name}: {error}")
            continue
        message = (
            "converged"
            if not failures
            else f"converged with {backend.name} after " + "; ".join(failures)
        )
        return CrtResult(converged=True, message=message, **counts, **estimates)
    return CrtResult(converged=False, message="; ".join(failures), **counts)
