"""Simulated cluster-randomised trials with a planted effect, for tests, benchmarks and power.

Schools are allocated 1:1 within each LA (the stratum), as the trial's randomisation does. The
outcome is ``effect·arm + LA effect + school effect + pupil noise`` with the school and pupil
parts adding to variance 1, so ``effect`` is the effect size on that total variance and ``icc``
the intra-class correlation of the outcome given the LA. The prior-attainment score correlates
``prior_correlation`` with the outcome's school-plus-pupil part, as a pre-test would.
"""

import numpy as np
import pandas as pd


def simulate_trial(
    *,
    schools: int,
    pupils: int,
    strata: int,
    icc: float,
    effect: float,
    prior_correlation: float = 0.6,
    la_sd: float = 0.1,
    seed: int,
) -> pd.DataFrame:
    """One trial: columns ``school``, ``la``, ``arm`` (0/1), ``prior_attainment``, ``score``.

    School sizes vary around pupils/schools (half of it fixed, the rest multinomial), so the
    unequal-cluster-size formulas are exercised; they add up to ``pupils`` exactly.
    """
    if schools < 2 * strata:
        raise ValueError("every stratum needs at least two schools")
    rng = np.random.default_rng(seed)
    floor = pupils // schools // 2
    sizes = floor + rng.multinomial(pupils - floor * schools, np.full(schools, 1.0 / schools))
    la = rng.permutation(np.arange(schools) % strata)
    arm = np.empty(schools, dtype=np.int64)
    for stratum in range(strata):
        members = np.flatnonzero(la == stratum)
        halves = np.arange(members.size) % 2
        if members.size % 2:  # the odd school out goes to a random arm
            halves[-1] = rng.integers(2)
        arm[members] = rng.permutation(halves)
    school = np.repeat(np.arange(schools), sizes)
    la_effect = rng.normal(0.0, la_sd, strata)
    latent = rng.normal(0.0, np.sqrt(icc), schools)[school] + rng.normal(
        0.0, np.sqrt(1.0 - icc), pupils
    )
    prior = prior_correlation * latent + np.sqrt(1.0 - prior_correlation**2) * rng.normal(
        0.0, 1.0, pupils
    )
    score = effect * arm[school] + la_effect[la[school]] + latent
    width = len(str(strata))
    labels = np.array([f"LA{k:0{width}d}" for k in range(strata)])
    return pd.DataFrame(
        {
            "school": school,
            "la": labels[la[school]],
            "arm": arm[school],
            "prior_attainment": prior,
            "score": score,
        }
    )
