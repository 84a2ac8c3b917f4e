"""Minimum detectable effect size of a two-level cluster-randomised trial (PowerUp! CRA2_2r).

Dong, N. & Maynard, R. (2013), "PowerUp!: A tool for calculating minimum detectable effect sizes
and minimum required sample sizes for experimental and quasi-experimental design studies",
J. Res. Educ. Eff. 6(1), 24-67, model 3.1 (CRA2_2r; as in PowerUpR's ``mdes.cra2r2``):

    MDES = M · sqrt( ρ(1−R²₂) / (P(1−P)J) + (1−ρ)(1−R²₁) / (P(1−P)J·n) )

with M = t_{1−α/2, df} + t_{power, df} (one-tailed: t_{1−α, df}) and df = J − g* − 2, where g*
counts the school-level covariates, stratum dummies included (6 LAs as fixed effects = 5).
For power < 0.5 PowerUp! uses M = t_α − t_{1−power}; that case is kept for completeness.
"""

import functools
import math

from scipy import stats

#: schools_for_mdes gives up beyond this many schools (the MDES never reaches the target).
_MAX_SCHOOLS = 10_000_000


def _check(
    *,
    pupils_per_school: float,
    icc: float,
    r2_school: float,
    r2_pupil: float,
    p_treated: float,
    alpha: float,
    power: float,
    school_covariates: int,
) -> None:
    if not pupils_per_school > 0:
        raise ValueError("pupils_per_school must be positive")
    if not 0.0 <= icc <= 1.0:
        raise ValueError("icc must be in [0, 1]")
    for name, value in (("r2_school", r2_school), ("r2_pupil", r2_pupil)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be in [0, 1)")
    if not 0.0 < p_treated < 1.0:
        raise ValueError("p_treated must be in (0, 1)")
    if not 0.0 < alpha < 1.0 or not 0.0 < power < 1.0:
        raise ValueError("alpha and power must be in (0, 1)")
    if school_covariates < 0:
        raise ValueError("school_covariates must be at least 0")


def mdes_crt(
    *,
    schools: int,
    pupils_per_school: float,
    icc: float,
    r2_school: float = 0.0,
    r2_pupil: float = 0.0,
    p_treated: float = 0.5,
    school_covariates: int = 0,
    alpha: float = 0.05,
    power: float = 0.8,
    two_tailed: bool = True,
) -> float:
    """The MDES (in SD units of the total variance) for J = ``schools`` schools of n pupils.

    ``pupils_per_school`` is the (harmonic) mean cluster size, as PowerUp! takes it.
    """
    _check(
        pupils_per_school=pupils_per_school,
        icc=icc,
        r2_school=r2_school,
        r2_pupil=r2_pupil,
        p_treated=p_treated,
        alpha=alpha,
        power=power,
        school_covariates=school_covariates,
    )
    dof = schools - school_covariates - 2
    if dof < 1:
        raise ValueError(
            f"{schools} schools leave {dof} degrees of freedom with {school_covariates} "
            "school-level covariates: the design is not feasible"
        )
    t_alpha = stats.t.ppf(1.0 - (alpha / 2.0 if two_tailed else alpha), dof)
    t_power = abs(stats.t.ppf(power, dof))
    multiplier = t_alpha + t_power if power >= 0.5 else t_alpha - t_power
    allocation = p_treated * (1.0 - p_treated) * schools
    variance = icc * (1.0 - r2_school) / allocation + (1.0 - icc) * (1.0 - r2_pupil) / (
        allocation * pupils_per_school
    )
    return float(multiplier * math.sqrt(variance))


def schools_for_mdes(
    *,
    target_mdes: float,
    pupils_per_school: float,
    icc: float,
    r2_school: float = 0.0,
    r2_pupil: float = 0.0,
    p_treated: float = 0.5,
    school_covariates: int = 0,
    alpha: float = 0.05,
    power: float = 0.8,
    two_tailed: bool = True,
) -> int:
    """The smallest number of schools J with ``mdes_crt(J, ...) <= target_mdes``.

    The MDES falls strictly as J grows (more schools and more degrees of freedom), so a
    doubling search then bisection finds it. J·P is not rounded to whole schools, as in PowerUp!.
    """
    if not target_mdes > 0:
        raise ValueError("target_mdes must be positive")
    mdes = functools.partial(
        mdes_crt,
        pupils_per_school=pupils_per_school,
        icc=icc,
        r2_school=r2_school,
        r2_pupil=r2_pupil,
        p_treated=p_treated,
        school_covariates=school_covariates,
        alpha=alpha,
        power=power,
        two_tailed=two_tailed,
    )

    def reached(schools: int) -> bool:
        return mdes(schools=schools) <= target_mdes

    low = school_covariates + 3  # the fewest schools that leave one degree of freedom
    if reached(low):
        return low
    high = 2 * low
    while not reached(high):
        if high > _MAX_SCHOOLS:
            raise ValueError(f"no design with up to {_MAX_SCHOOLS} schools reaches {target_mdes}")
        low, high = high, 2 * high
    while high - low > 1:  # invariant: low misses the target, high reaches it
        middle = (low + high) // 2
        low, high = (low, middle) if reached(middle) else (middle, high)
    return high
