"""fit_srt: OLS with Hedges' g, and school-clustered (CR1) errors for teacher outcomes."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analytics.stats import fit_srt


def teachers(seed: int, *, schools: int = 40, per_school: int = 3) -> pd.DataFrame:
    """Teachers in schools randomised 1:1: a post score with a school component, a pre score."""
    rng = np.random.default_rng(seed)
    school = np.repeat(np.arange(schools), per_school)
    arm = (rng.permutation(schools) % 2)[school]
    pre = rng.normal(3.0, 0.6, school.size)
    post = 1.0 + 0.5 * pre + 0.3 * arm + rng.normal(0, 0.4, schools)[school]
    post = post + rng.normal(0, 0.5, school.size)
    return pd.DataFrame({"school": school, "arm": arm, "pre": pre, "post": post})


def cr1_covariance(x: np.ndarray, residuals: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """The CR1 sandwich written out: bread·meat·bread·G/(G−1)·(N−1)/(N−p)."""
    n, p = x.shape
    labels = np.unique(groups)
    bread = np.linalg.inv(x.T @ x)
    meat = np.zeros((p, p))
    for label in labels:
        score = x[groups == label].T @ residuals[groups == label]
        meat += np.outer(score, score)
    g = labels.size
    return bread @ meat @ bread * g / (g - 1) * (n - 1) / (n - p)


def test_clustered_standard_errors_are_cr1_with_t_on_g_minus_1() -> None:
    data = teachers(seed=1)
    result = fit_srt(data, outcome="post", treatment="arm", covariates=["pre"], cluster="school")
    assert result.converged and result.clusters == 40
    assert result.ci_method == "cluster-robust t (CR1)"

    x = np.column_stack([np.ones(len(data)), data["arm"], data["pre"]])
    beta, *_ = np.linalg.lstsq(x, data["post"].to_numpy(), rcond=None)
    covariance = cr1_covariance(x, data["post"].to_numpy() - x @ beta, data["school"].to_numpy())
    se = float(np.sqrt(covariance[1, 1]))
    assert result.beta == pytest.approx(beta[1], rel=1e-10)
    assert result.se == pytest.approx(se, rel=1e-8)
    quantile = stats.t.ppf(0.975, 40 - 1)
    assert result.ci == pytest.approx((beta[1] - quantile * se, beta[1] + quantile * se), rel=1e-8)
    assert result.p_value == pytest.approx(2 * stats.t.sf(abs(beta[1] / se), 39), rel=1e-6)


def test_clustering_widens_the_interval_when_schools_share_a_component() -> None:
    data = teachers(seed=2)
    plain = fit_srt(data, outcome="post", treatment="arm", covariates=["pre"])
    clustered = fit_srt(data, outcome="post", treatment="arm", covariates=["pre"], cluster="school")
    assert plain.beta == clustered.beta  # the same OLS point estimate
    assert plain.se is not None and clustered.se is not None and clustered.se > plain.se
    assert plain.ci_method == "t" and plain.clusters is None
    # The g's are srtFREQ's formula either way (no clustering term).
    assert plain.effect_sizes == clustered.effect_sizes


def test_effect_sizes_follow_srtfreq() -> None:
    data = teachers(seed=3)
    result = fit_srt(data, outcome="post", treatment="arm", covariates=["pre"])
    n_t, n_c = int(data.arm.sum()), int((1 - data.arm).sum())
    n = n_t + n_c
    j = 1 - 3 / (4 * (n - 2) - 1)
    assert result.hedges_j == pytest.approx(j)
    d = result.beta / data["post"].std(ddof=1)
    unconditional = result.effect_sizes["unconditional"]
    assert unconditional.g == pytest.approx(j * d)
    assert unconditional.se == pytest.approx(j * np.sqrt(n / (n_t * n_c) + d**2 / (2 * n)))
    assert result.headline == "unconditional"
    assert result.pupils_per_arm == {"intervention": n_t, "control": n_c}


def test_missing_rows_are_dropped_and_counted() -> None:
    data = teachers(seed=4)
    data.loc[[0, 1], "pre"] = np.nan
    data.loc[[5], "school"] = np.nan  # schools 0 and 1 keep one and two teachers
    clustered = fit_srt(data, outcome="post", treatment="arm", covariates=["pre"], cluster="school")
    plain = fit_srt(data, outcome="post", treatment="arm", covariates=["pre"])
    assert clustered.rows_dropped == 3 and clustered.rows_used == len(data) - 3
    assert plain.rows_dropped == 2  # the school is not used without cluster=
    payload = json.loads(json.dumps(clustered.to_dict(), allow_nan=False))
    assert payload["rows_dropped"] == 3 and payload["clusters"] == 40


def test_degenerate_data_are_not_converged() -> None:
    data = teachers(seed=5)
    constant = fit_srt(data.assign(post=4.0), outcome="post", treatment="arm")
    assert not constant.converged and constant.beta is None and "does not vary" in constant.message
    assert constant.effect_sizes["unconditional"].g is None
    lone = data[(data.arm == 0) | (data.index == data.index[data.arm == 1][0])]
    one_treated = fit_srt(lone, outcome="post", treatment="arm")
    assert not one_treated.converged and "two rows in each arm" in one_treated.message
    one_school = fit_srt(data.assign(school=1), outcome="post", treatment="arm", cluster="school")
    assert not one_school.converged and "two clusters" in one_school.message
