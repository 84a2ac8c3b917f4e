"""Profile-likelihood confidence intervals for one fixed effect, as lme4's ``confint()`` does.

lme4 (``profile.merMod`` + ``confint.thpr``; Bates et al. 2015, J. Stat. Softw. 67(1), sec. 5.1)
refits the model by maximum likelihood with the coefficient held at each trial value (an
offset), and the 95% interval is where the ML deviance rises by the chi-square(1) 0.95 quantile,
3.841..., above its minimum. Both ends are found here by bracketing, then ``brentq``; the
likelihood-ratio p-value comes from the same deviance at 0, so the interval excludes 0 exactly
when p < 0.05.
"""

from collections.abc import Callable
from dataclasses import dataclass

from scipy import optimize, stats

#: How far out (in standard errors) the bracket search goes before it gives up.
_MAX_STEPS = 12


class ProfileError(RuntimeError):
    """The profile could not be traced: a refit failed or no bracket was found."""


@dataclass(frozen=True)
class ProfileInterval:
    lower: float
    upper: float
    p_value: float  # likelihood-ratio test of the coefficient = 0


def profile_interval(
    fixed_deviance: Callable[[float], float],
    *,
    estimate: float,
    se: float,
    minimum: float,
    level: float = 0.95,
) -> ProfileInterval:
    """The interval {b : D(b) − D_min ≤ χ²₁(level)} for the ML deviance D with β fixed at b.

    ``estimate`` and ``se`` are the ML estimate and its Wald SE (they only place the bracket);
    ``minimum`` is the unconstrained ML deviance. ``fixed_deviance`` raises ``ProfileError`` or
    returns a non-finite value when a refit fails.
    """
    cutoff = float(stats.chi2.ppf(level, 1))
    if not se > 0.0:
        raise ProfileError("the standard error is not positive")

    def gap(value: float) -> float:
        deviance = fixed_deviance(value)
        if deviance != deviance or deviance in (float("inf"), float("-inf")):
            raise ProfileError(f"the ML refit with the coefficient fixed at {value:.6g} failed")
        return deviance - minimum - cutoff

    def end(direction: float) -> float:
        inner, step = estimate, se
        for _ in range(_MAX_STEPS):
            outer = estimate + direction * step
            if gap(outer) > 0.0:
                return float(optimize.brentq(gap, *sorted((inner, outer)), xtol=1e-10 * se))
            inner, step = outer, 2.0 * step
        raise ProfileError("the profile deviance never reached the cut-off")

    lower, upper = end(-1.0), end(1.0)
    # The constrained refit cannot beat the unconstrained one; a tiny negative value is
    # optimiser noise, not evidence.
    statistic = max(fixed_deviance(0.0) - minimum, 0.0)
    return ProfileInterval(lower=lower, upper=upper, p_value=float(stats.chi2.sf(statistic, 1)))
