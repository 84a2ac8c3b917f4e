"""mdes_crt and schools_for_mdes against PowerUp!'s CRA2_2r formula (Dong & Maynard 2013)."""

import math

import pytest
from scipy import stats

from analytics.stats import mdes_crt, schools_for_mdes


def test_the_textbook_design_j40_n20_icc02() -> None:
    # J = 40, n = 20, ρ = 0.2, no covariates, P = 0.5, α = 0.05 two-tailed, power 0.8:
    # df = 38, M = t(0.975, 38) + t(0.8, 38) = 2.0244 + 0.8514 = 2.8758, and
    # sqrt(0.2/(0.25·40) + 0.8/(0.25·40·20)) = sqrt(0.024) = 0.15492, so MDES = 0.4455.
    mdes = mdes_crt(schools=40, pupils_per_school=20, icc=0.2)
    assert mdes == pytest.approx(0.44548, abs=5e-6)
    # The "about 0.43" often quoted is the large-sample (normal) multiplier 1.96 + 0.84;
    # PowerUp! uses t with J − g* − 2 degrees of freedom, which is larger.
    normal = (stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) * math.sqrt(0.024)
    assert normal == pytest.approx(0.4340, abs=5e-5)
    assert mdes > normal


def test_a_worked_example_with_covariates_and_strata() -> None:
    # 60 schools of 25, ρ = 0.15, a pre-test explaining half the variance at both levels,
    # 6 LAs as fixed effects (g* = 5), 60% of schools treated, one-tailed α = 0.05, power 0.9.
    j, n, rho, r2, p, g_star = 60, 25, 0.15, 0.5, 0.6, 5
    df = j - g_star - 2
    multiplier = stats.t.ppf(0.95, df) + stats.t.ppf(0.9, df)
    allocation = p * (1 - p) * j
    expected = multiplier * math.sqrt(
        rho * (1 - r2) / allocation + (1 - rho) * (1 - r2) / (allocation * n)
    )
    mdes = mdes_crt(
        schools=j,
        pupils_per_school=n,
        icc=rho,
        r2_school=r2,
        r2_pupil=r2,
        p_treated=p,
        school_covariates=g_star,
        alpha=0.05,
        power=0.9,
        two_tailed=False,
    )
    assert mdes == pytest.approx(expected, rel=1e-12)
    # By hand: df = 53, M = 1.6741 + 1.2978 = 2.9719; P(1−P)J = 14.4;
    # sqrt(0.075/14.4 + 0.425/360) = sqrt(0.0063889) = 0.079930; MDES = 0.2375.
    assert mdes == pytest.approx(0.2375, abs=5e-5)


def test_more_schools_more_pupils_and_covariates_all_lower_the_mdes() -> None:
    base = mdes_crt(schools=40, pupils_per_school=20, icc=0.2)
    assert mdes_crt(schools=80, pupils_per_school=20, icc=0.2) < base
    assert mdes_crt(schools=40, pupils_per_school=40, icc=0.2) < base
    assert mdes_crt(schools=40, pupils_per_school=20, icc=0.2, r2_school=0.5) < base
    # Each school-level covariate costs a degree of freedom and nothing else.
    assert mdes_crt(schools=40, pupils_per_school=20, icc=0.2, school_covariates=5) > base


def test_power_below_one_half_uses_the_difference_of_quantiles() -> None:
    df = 38
    expected = (stats.t.ppf(0.975, df) - abs(stats.t.ppf(0.3, df))) * math.sqrt(0.024)
    assert mdes_crt(schools=40, pupils_per_school=20, icc=0.2, power=0.3) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("target", "n", "icc", "r2", "g_star"),
    [(0.4455, 20, 0.2, 0.0, 0), (0.20, 25, 0.15, 0.5, 5), (0.25, 30, 0.1, 0.0, 149)],
)
def test_schools_for_mdes_is_the_smallest_sufficient_number(target, n, icc, r2, g_star) -> None:
    settings = {
        "pupils_per_school": n,
        "icc": icc,
        "r2_school": r2,
        "r2_pupil": r2,
        "school_covariates": g_star,
    }
    schools = schools_for_mdes(target_mdes=target, **settings)
    assert mdes_crt(schools=schools, **settings) <= target
    if schools - 1 - g_star - 2 >= 1:
        assert mdes_crt(schools=schools - 1, **settings) > target


def test_schools_for_mdes_inverts_mdes_crt() -> None:
    mdes = mdes_crt(schools=123, pupils_per_school=25, icc=0.15, r2_pupil=0.4)
    assert schools_for_mdes(target_mdes=mdes, pupils_per_school=25, icc=0.15, r2_pupil=0.4) == 123


def test_infeasible_or_invalid_designs_are_refused() -> None:
    with pytest.raises(ValueError, match="degrees of freedom"):
        mdes_crt(schools=7, pupils_per_school=20, icc=0.2, school_covariates=5)
    with pytest.raises(ValueError, match="icc"):
        mdes_crt(schools=40, pupils_per_school=20, icc=1.2)
    with pytest.raises(ValueError, match="p_treated"):
        mdes_crt(schools=40, pupils_per_school=20, icc=0.2, p_treated=1.0)
    with pytest.raises(ValueError, match="target_mdes"):
        schools_for_mdes(target_mdes=0.0, pupils_per_school=20, icc=0.2)
