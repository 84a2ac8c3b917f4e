"""The published eefAnalytics numbers (crtFREQ on crtData, srtFREQ on mstData), reproduced.

The data are AGPL-licensed package data kept beside the checkout (``../shared/reference/eef``),
never copied into it, and a missing file fails these tests (`eef_reference`); the
published figures are 2-decimal values, compared at |Δ| ≤ 0.005 (one of them, 0.5959, is only
0.0009 above a rounding boundary, so exact string comparison would be fragile).
"""

import pytest
from eef_reference import eef_data, eef_path

from analytics.stats import fit_crt, fit_srt

TOLERANCE = 0.005


def close(value: float | None, published: float) -> bool:
    return value is not None and abs(value - published) <= TOLERANCE


@pytest.fixture(scope="module")
def crt_result():
    return fit_crt(
        eef_data("crtData.csv"),
        outcome="Posttest",
        treatment="Intervention",
        cluster="School",
        covariates=["Prettest"],
        profile_all=True,
    )


def test_crtfreq_beta_and_its_profile_ci(crt_result) -> None:
    result = crt_result
    assert result.converged and result.solver == "profiled"
    assert close(result.beta, 3.11)
    assert result.ci is not None
    assert close(result.ci[0], 0.75) and close(result.ci[1], 5.47)
    # Not the Wald interval (0.74, 5.48) statsmodels would print.
    assert result.ci[0] > 0.745 and result.ci[1] < 5.475
    assert result.ci_method == "profile likelihood"
    # The interval excludes 0, so the likelihood-ratio p-value it inverts is below 0.05.
    assert result.p_value is not None and result.p_value < 0.05


@pytest.mark.parametrize(
    ("name", "estimate", "lower", "upper"),
    [("Intercept", 11.23, 9.05, 13.42), ("Prettest", 1.79, 1.39, 2.18)],
)
def test_crtfreq_other_fixed_effects(crt_result, name, estimate, lower, upper) -> None:
    effect = crt_result.fixed_effects[name]
    assert close(effect.estimate, estimate)
    assert effect.ci is not None and close(effect.ci[0], lower) and close(effect.ci[1], upper)


def test_crtfreq_variances_and_icc(crt_result) -> None:
    result = crt_result
    assert close(result.var_school, 5.67)
    assert close(result.var_pupil, 14.78)
    assert close(result.var_total, 20.45)
    assert close(result.icc, 0.28)
    # Not printed in the paper; the README's statsmodels reproduction: 6.5919 / 19.6644.
    assert close(result.var_school_unconditional, 6.59)
    assert close(result.var_pupil_unconditional, 19.66)
    assert close(result.icc_unconditional, 0.25)


@pytest.mark.parametrize(
    ("key", "g", "lower", "upper"),
    [
        ("within_conditional", 0.81, 0.10, 1.52),
        ("total_conditional", 0.67, 0.07, 1.28),
        ("within_unconditional", 0.70, 0.04, 1.37),
        ("total_unconditional", 0.60, 0.02, 1.17),
    ],
)
def test_crtfreq_effect_sizes(crt_result, key, g, lower, upper) -> None:
    effect = crt_result.effect_sizes[key]
    assert close(effect.g, g)
    assert effect.ci is not None and close(effect.ci[0], lower) and close(effect.ci[1], upper)


def test_crtfreq_counts_and_headline(crt_result) -> None:
    result = crt_result
    assert result.headline == "total_unconditional"
    assert result.schools_per_arm == {"intervention": 10, "control": 12}
    assert result.pupils_per_arm == {"intervention": 144, "control": 121}
    assert result.rows_dropped == 0


def test_srtfreq_on_mstdata() -> None:
    result = fit_srt(
        eef_data("mstData.csv"),
        outcome="Posttest",
        treatment="Intervention",
        covariates=["Prettest"],
    )
    assert result.converged
    assert close(result.beta, 3.59)
    assert result.ci is not None and close(result.ci[0], 0.58) and close(result.ci[1], 6.59)
    intercept = result.fixed_effects["Intercept"]
    assert close(intercept.estimate, 39.64)
    assert intercept.ci is not None and close(intercept.ci[0], 28.89)
    assert close(intercept.ci[1], 50.39)
    conditional = result.effect_sizes["conditional"]
    unconditional = result.effect_sizes["unconditional"]
    assert close(conditional.g, 0.32)
    assert conditional.ci is not None
    assert close(conditional.ci[0], 0.05) and close(conditional.ci[1], 0.60)
    assert close(unconditional.g, 0.27)
    assert unconditional.ci is not None
    assert close(unconditional.ci[0], 0.00) and close(unconditional.ci[1], 0.54)
    # The README's residual and outcome variances: 121.76 and 170.81.
    assert result.sd_conditional is not None and close(result.sd_conditional**2, 121.76)
    assert result.sd_unconditional is not None and close(result.sd_unconditional**2, 170.81)


def test_a_missing_reference_file_fails_saying_where_it_is_expected() -> None:
    """Never a skip: CI without the data must not pass without these checks."""
    with pytest.raises(pytest.fail.Exception, match=r"expected at .*shared/reference/eef"):
        eef_path("noSuchData.csv")
