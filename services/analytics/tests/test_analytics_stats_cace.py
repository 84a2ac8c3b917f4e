"""cace: 2SLS with allocation instrumenting take-up, and its effect size on the ITT's scale."""

import json

import numpy as np
import pandas as pd
import pytest

from analytics.stats import cace, fit_crt
from analytics.stats.simulate import simulate_trial


def trial_with_take_up(seed: int, *, complier_effect: float = 0.4) -> pd.DataFrame:
    """Intervention schools take the programme up with probability 0.6 (none in control);
    only schools that take it up benefit, by ``complier_effect`` SDs."""
    data = simulate_trial(schools=150, pupils=3750, strata=6, icc=0.15, effect=0.0, seed=seed)
    rng = np.random.default_rng(seed + 1)
    took_up = (rng.random(150) < 0.6)[data["school"]] & (data["arm"] == 1).to_numpy()
    return data.assign(took_up=took_up.astype(int), score=data["score"] + complier_effect * took_up)


def test_without_covariates_2sls_is_the_wald_ratio() -> None:
    data = trial_with_take_up(seed=1)
    result = cace(data, outcome="score", treatment="arm", complier="took_up", cluster="school")
    treated, control = data[data.arm == 1], data[data.arm == 0]
    itt = treated.score.mean() - control.score.mean()
    uptake = treated.took_up.mean() - control.took_up.mean()
    assert result.converged
    assert result.cace == pytest.approx(itt / uptake, rel=1e-10)
    assert result.compliance == {
        "intervention": pytest.approx(treated.took_up.mean()),
        "control": 0.0,
    }
    assert result.schools == 150 and result.first_stage_f is not None
    assert result.first_stage_f > 10  # the usual weak-instrument threshold, far exceeded


def test_the_planted_complier_effect_is_recovered_with_covariates() -> None:
    data = trial_with_take_up(seed=2)
    result = cace(
        data,
        outcome="score",
        treatment="arm",
        complier="took_up",
        cluster="school",
        covariates=["prior_attainment", "la"],
    )
    assert result.converged and result.ci is not None
    assert result.ci[0] < 0.4 < result.ci[1]
    # The ITT is diluted by the 40% who did not take it up; the CACE is not.
    itt = fit_crt(
        data,
        outcome="score",
        treatment="arm",
        cluster="school",
        covariates=["prior_attainment", "la"],
    )
    assert itt.beta is not None and result.cace is not None and result.cace > itt.beta


def test_the_effect_size_is_on_the_same_scale_as_the_itt_headline() -> None:
    data = trial_with_take_up(seed=3)
    covariates = ["prior_attainment", "la"]
    itt = fit_crt(data, outcome="score", treatment="arm", cluster="school", covariates=covariates)
    result = cace(
        data,
        outcome="score",
        treatment="arm",
        complier="took_up",
        cluster="school",
        covariates=covariates,
    )
    headline = itt.effect_sizes["total_unconditional"]
    assert headline.g is not None and itt.beta is not None and result.cace is not None
    assert result.effect_size.g == pytest.approx(headline.g * result.cace / itt.beta, rel=1e-9)
    assert result.effect_size_variance == pytest.approx(itt.var_total_unconditional)
    given = cace(
        data,
        outcome="score",
        treatment="arm",
        complier="took_up",
        cluster="school",
        covariates=covariates,
        itt=itt,
    )
    assert given.effect_size == result.effect_size
    assert given.effect_size_basis is not None and "ITT given" in given.effect_size_basis


def test_a_given_total_variance_is_used_as_is() -> None:
    data = trial_with_take_up(seed=4)
    result = cace(
        data,
        outcome="score",
        treatment="arm",
        complier="took_up",
        cluster="school",
        total_variance=4.0,
    )
    assert result.cace is not None and result.ci is not None and result.se is not None
    assert result.effect_size.g == pytest.approx(result.cace / 2.0)
    assert result.effect_size.ci == pytest.approx((result.ci[0] / 2.0, result.ci[1] / 2.0))
    assert result.effect_size.se == pytest.approx(result.se / 2.0)
    payload = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert payload["effect_size_basis"] == "total_variance given"


def test_missing_take_up_is_dropped_and_counted() -> None:
    data = trial_with_take_up(seed=5).astype({"took_up": float})
    data.loc[[3, 4, 5], "took_up"] = np.nan
    result = cace(data, outcome="score", treatment="arm", complier="took_up", cluster="school")
    assert result.rows_dropped == 3 and result.rows_used == len(data) - 3


def test_equal_take_up_in_both_arms_is_not_converged() -> None:
    data = trial_with_take_up(seed=6).assign(took_up=1)
    result = cace(data, outcome="score", treatment="arm", complier="took_up", cluster="school")
    assert not result.converged
    assert result.cace is None and result.ci is None and result.effect_size.g is None
    assert "does not predict" in result.message
