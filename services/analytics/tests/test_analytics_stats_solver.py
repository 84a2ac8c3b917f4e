"""The dedicated random-intercept solver against lme4's published fit and statsmodels' MixedLM."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels
from eef_reference import eef_data
from statsmodels.regression.mixed_linear_model import MixedLM, MixedLMParams

from analytics.stats.design import Design, build_design
from analytics.stats.mixed import deviance, fit_random_intercept, school_sums
from analytics.stats.simulate import simulate_trial

DIETOX = Path(statsmodels.__file__).parent / "regression" / "tests" / "results" / "dietox.csv"


def dietox_design() -> Design:
    return build_design(pd.read_csv(DIETOX), outcome="Weight", cluster="Pig", covariates=["Time"])


def crt_design() -> Design:
    crt = eef_data("crtData.csv")
    return build_design(
        crt,
        outcome="Posttest",
        treatment="Intervention",
        cluster="School",
        covariates=["Prettest"],
    )


def stratified_design() -> Design:
    """150 schools, 6 LA dummies, a prior-attainment covariate: the trial's own model."""
    trial = simulate_trial(schools=150, pupils=3750, strata=6, icc=0.15, effect=0.2, seed=1)
    return build_design(
        trial,
        outcome="score",
        treatment="arm",
        cluster="school",
        covariates=["prior_attainment", "la"],
    )


def near_zero_design() -> Design:
    """A true ICC of 0.002: REML puts σ²_b just above 0, ML on the boundary, 0."""
    trial = simulate_trial(
        schools=60, pupils=1200, strata=3, icc=0.002, effect=0.2, la_sd=0.0, seed=5
    )
    return build_design(
        trial, outcome="score", treatment="arm", cluster="school", covariates=["prior_attainment"]
    )


def significant_figures(value: float, digits: int = 5) -> float:
    return float(f"{value:.{digits - 1}e}")


def test_dietox_matches_lme4_to_five_significant_figures() -> None:
    # lme4: lmer(Weight ~ Time + (1 | Pig), dietox): fixed 15.723523, 6.942505;
    # Pig variance 40.39395, residual 11.36692.
    design = dietox_design()
    fit = fit_random_intercept(
        school_sums(design.matrix, design.school_starts, design.names), reml=True
    )
    assert fit.converged
    assert design.rows_dropped == 0  # Feed has NAs, but Feed is not used
    assert significant_figures(fit.beta[0]) == significant_figures(15.723523)
    assert significant_figures(fit.beta[1]) == significant_figures(6.942505)
    assert significant_figures(fit.var_school) == significant_figures(40.39395)
    assert significant_figures(fit.var_pupil) == significant_figures(11.36692)


def _statsmodels_fit(design: Design, *, reml: bool) -> tuple[MixedLM, object]:
    model = MixedLM(design.outcome, design.columns, groups=design.school_codes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # boundary warnings for the near-zero data set
        # Powell's default tolerances leave σ²_b ~1e-4 (relative) short of the optimum.
        result = model.fit(reml=reml, method=["powell", "bfgs"], xtol=1e-10, ftol=1e-12)
    return model, result


def gls_covariance(design: Design, *, var_school: float, var_pupil: float) -> np.ndarray:
    """(Σ_i X_i' V_i⁻¹ X_i)⁻¹ with V_i = σ²_w·I + σ²_b·11' built and inverted school by school."""
    information = np.zeros((len(design.names),) * 2)
    for start, size in zip(design.school_starts, design.school_sizes, strict=True):
        block = design.columns[start : start + size]
        covariance = var_pupil * np.eye(size) + var_school * np.ones((size, size))
        information += block.T @ np.linalg.inv(covariance) @ block
    return np.linalg.inv(information)


@pytest.mark.parametrize(
    "make_design", [dietox_design, crt_design, stratified_design, near_zero_design]
)
@pytest.mark.parametrize("reml", [True, False])
def test_solver_agrees_with_statsmodels_mixedlm(make_design, reml: bool) -> None:
    design = make_design()
    sums = school_sums(design.matrix, design.school_starts, design.names)
    fit = fit_random_intercept(sums, reml=reml)
    model, result = _statsmodels_fit(design, reml=reml)
    assert fit.converged and result.converged
    sm_var_school = float(np.asarray(result.cov_re)[0, 0])

    # Same estimates, to within statsmodels' own optimiser tolerance.
    assert np.abs(fit.beta - result.fe_params).max() <= 1e-4 * fit.se.min()
    assert fit.var_school == pytest.approx(sm_var_school, rel=1e-5, abs=1e-8)
    assert fit.var_pupil == pytest.approx(result.scale, rel=1e-6)
    # lme4's vcov, σ²(X'V⁻¹X)⁻¹ at the estimates. (statsmodels' bse_fe inverts the joint
    # observed information instead, which differs for the covariates by up to ~1%.)
    expected = gls_covariance(design, var_school=fit.var_school, var_pupil=fit.var_pupil)
    assert fit.cov_beta == pytest.approx(expected, rel=1e-8, abs=1e-14)
    # The same objective (REML and ML constants included) ...
    assert fit.log_likelihood == pytest.approx(result.llf, abs=1e-6)
    assert -0.5 * deviance(sums, var_ratio=sm_var_school / result.scale, reml=reml) == (
        pytest.approx(result.llf, abs=1e-8)
    )
    # ... and ours is at least as high: statsmodels' optimum is never better.
    assert fit.log_likelihood >= result.llf - 1e-8
    if fit.var_school > 0:  # statsmodels' loglike is not finite at σ²_b = 0 exactly
        model.reml = reml
        params = MixedLMParams.from_components(
            fe_params=fit.beta, cov_re=np.array([[fit.var_school / fit.var_pupil]])
        )
        at_ours = model.loglike(params, profile_fe=False)
        assert at_ours == pytest.approx(fit.log_likelihood, abs=1e-8)


def test_near_zero_school_variance_is_a_boundary_estimate_not_a_failure() -> None:
    design = near_zero_design()
    sums = school_sums(design.matrix, design.school_starts, design.names)
    ml = fit_random_intercept(sums, reml=False)
    reml = fit_random_intercept(sums, reml=True)
    assert ml.converged and ml.var_school == 0.0 and "boundary" in ml.message
    assert reml.converged and 0.0 < reml.var_school < 0.01


def test_offset_refit_from_sufficient_statistics_equals_refit_on_the_offset_data() -> None:
    # The profile fixes β by transforming the statistics; that must equal refitting
    # y − b·x without the column, which is what lme4 (and the statsmodels fallback) do.
    design = crt_design()
    sums = school_sums(design.matrix, design.school_starts, design.names)
    value = 1.25
    offset = design.matrix.copy()
    offset[:, -1] -= value * offset[:, 1]
    offset = np.delete(offset, 1, axis=1)
    names = tuple(n for k, n in enumerate(design.names) if k != 1)
    direct = fit_random_intercept(school_sums(offset, design.school_starts, names), reml=False)
    via_sums = fit_random_intercept(sums.with_fixed(1, value), reml=False)
    assert via_sums.names == direct.names == ("Intercept", "Prettest")
    assert via_sums.deviance == pytest.approx(direct.deviance, abs=1e-9)
    assert via_sums.beta == pytest.approx(direct.beta, rel=1e-9)
    assert via_sums.var_school == pytest.approx(direct.var_school, rel=1e-7)


def test_sub_model_from_selected_statistics_equals_its_own_fit() -> None:
    design = crt_design()
    sums = school_sums(design.matrix, design.school_starts, design.names)
    only_intercept = design.matrix[:, [0, -1]]
    direct = fit_random_intercept(
        school_sums(only_intercept, design.school_starts, ("Intercept",)), reml=True
    )
    selected = fit_random_intercept(sums.select([0]), reml=True)
    assert selected.deviance == pytest.approx(direct.deviance, abs=1e-9)
    # eefAnalytics' unconditional variances on crtData (README: 6.5919 / 19.6644).
    assert selected.var_school == pytest.approx(6.5919, abs=5e-5)
    assert selected.var_pupil == pytest.approx(19.6644, abs=5e-5)


def test_pupil_order_within_and_across_schools_does_not_change_the_fit() -> None:
    crt = crt_design()
    shuffled = eef_data("crtData.csv").sample(frac=1.0, random_state=3)
    design = build_design(
        shuffled,
        outcome="Posttest",
        treatment="Intervention",
        cluster="School",
        covariates=["Prettest"],
    )
    first = fit_random_intercept(school_sums(crt.matrix, crt.school_starts, crt.names), reml=True)
    second = fit_random_intercept(
        school_sums(design.matrix, design.school_starts, design.names), reml=True
    )
    assert second.beta == pytest.approx(first.beta, rel=1e-10)
    assert second.var_school == pytest.approx(first.var_school, rel=1e-8)
