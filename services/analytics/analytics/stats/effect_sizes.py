"""Effect sizes as the EEF analysis guidance and eefAnalytics compute them.

Cluster-randomised trials: Hedges, L. V. (2007), "Effect sizes in cluster-randomized designs",
J. Educ. Behav. Stat. 32(4), 341-370, the unequal-cluster-size forms (d_W and d_T2 with their
variances), as eefAnalytics' ``crtFREQ`` codes them (see /work/shared/reference/eef/README.md).
Pupil-randomised trials: Cohen's d with Hedges' small-sample factor J = 1 − 3/(4(N−2) − 1)
(Hedges & Olkin 1985), as ``srtFREQ``. Confidence intervals are normal, g ± 1.96·SE, as there.
"""

from dataclasses import dataclass

import numpy as np

#: eefAnalytics uses 1.96, not the exact normal quantile; kept so the CIs match it.
Z_95 = 1.96


@dataclass(frozen=True)
class EffectSize:
    """A standardised effect: g, its standard error and its 95% CI (None when not estimated)."""

    g: float | None
    se: float | None
    ci: tuple[float, float] | None

    @classmethod
    def missing(cls) -> "EffectSize":
        return cls(g=None, se=None, ci=None)

    @classmethod
    def normal(cls, g: float, se: float) -> "EffectSize":
        return cls(g=float(g), se=float(se), ci=(float(g - Z_95 * se), float(g + Z_95 * se)))


@dataclass(frozen=True)
class ArmSchools:
    """The school sizes n_ia in each arm a of a cluster-randomised trial."""

    treated: np.ndarray
    control: np.ndarray

    @property
    def pupils(self) -> tuple[float, float]:
        return float(self.treated.sum()), float(self.control.sum())

    def n_tilde(self) -> float:
        """ñ = N_c·Σn_it² / (N_t·N) + N_t·Σn_ic² / (N_c·N)."""
        n_t, n_c = self.pupils
        n = n_t + n_c
        return float(
            n_c * (self.treated**2).sum() / (n_t * n) + n_t * (self.control**2).sum() / (n_c * n)
        )


def _n_u(sizes: np.ndarray) -> float:
    """ñ_U = (N² − Σn_i²) / (N·(m − 1)) for one arm: Hedges' (2007) average cluster size."""
    if sizes.size < 2:
        return float("nan")  # undefined with one school; fit_crt refuses such data first
    total = sizes.sum()
    return float((total**2 - (sizes**2).sum()) / (total * (sizes.size - 1)))


def _a_term(sizes: np.ndarray) -> float:
    """A_a = [N_a²·Σn_ia² + (Σn_ia²)² − 2·N_a·Σn_ia³] / N_a²."""
    total, squares = sizes.sum(), (sizes**2).sum()
    return float((total**2 * squares + squares**2 - 2.0 * total * (sizes**3).sum()) / total**2)


def g_within(*, beta: float, var_pupil: float, icc: float, arms: ArmSchools) -> EffectSize:
    """g_W = β/σ_w with SE² = (N/(N_t·N_c))·(1 + (ñ−1)ρ)/(1−ρ) + g_W²/(2(N−M)).

    Not small-sample corrected, although eefAnalytics calls it Hedges' g (as there).
    """
    n_t, n_c = arms.pupils
    n, m = n_t + n_c, arms.treated.size + arms.control.size
    g = beta / np.sqrt(var_pupil)
    variance = n / (n_t * n_c) * (1.0 + (arms.n_tilde() - 1.0) * icc) / (1.0 - icc) + g**2 / (
        2.0 * (n - m)
    )
    return EffectSize.normal(g, np.sqrt(variance))


def total_scale(*, var_school: float, var_pupil: float, arms: ArmSchools) -> float:
    """The factor turning β into Hedges' (2007) d_T2: sqrt(1 − ρ·(N − Σ_a ñ_Ua·m_a + ...)) / σ_T.

    g_T = β/σ_T · sqrt(1 − ρ·(N − ñ_Ut·m_t − ñ_Uc·m_c + ñ_Ut + ñ_Uc − 2)/(N − 2)), which with
    equal cluster sizes n reduces to sqrt(1 − 2(n−1)ρ/(N−2)).
    """
    n_t, n_c = arms.pupils
    n = n_t + n_c
    var_total = var_school + var_pupil
    icc = var_school / var_total
    nu_t, nu_c = _n_u(arms.treated), _n_u(arms.control)
    m_t, m_c = arms.treated.size, arms.control.size
    inner = n - nu_t * m_t - nu_c * m_c + nu_t + nu_c - 2.0
    return float(np.sqrt(1.0 - icc * inner / (n - 2.0)) / np.sqrt(var_total))


def g_total(*, beta: float, var_school: float, var_pupil: float, arms: ArmSchools) -> EffectSize:
    """Hedges' (2007) d_T2 on the total variance σ²_b + σ²_w, with its variance.

    SE² = (N/(N_t·N_c))·(1 + (ñ−1)ρ)
          + [(N−2)(1−ρ)² + A·ρ² + 2·B·ρ(1−ρ)]·g_T² / [2(N−2)·((N−2) − ρ(N−2−B))],
    B = ñ_Ut(m_t−1) + ñ_Uc(m_c−1), A = A_t + A_c.
    """
    n_t, n_c = arms.pupils
    n = n_t + n_c
    icc = var_school / (var_school + var_pupil)
    g = beta * total_scale(var_school=var_school, var_pupil=var_pupil, arms=arms)
    b_term = _n_u(arms.treated) * (arms.treated.size - 1) + _n_u(arms.control) * (
        arms.control.size - 1
    )
    a_term = _a_term(arms.treated) + _a_term(arms.control)
    numerator = (n - 2.0) * (1.0 - icc) ** 2 + a_term * icc**2 + 2.0 * b_term * icc * (1.0 - icc)
    denominator = 2.0 * (n - 2.0) * ((n - 2.0) - icc * (n - 2.0 - b_term))
    variance = n / (n_t * n_c) * (1.0 + (arms.n_tilde() - 1.0) * icc) + numerator * g**2 / (
        denominator
    )
    return EffectSize.normal(g, np.sqrt(variance))


def hedges_j(pupils: int) -> float:
    """Hedges' small-sample correction J = 1 − 3/(4(N − 2) − 1)."""
    return 1.0 - 3.0 / (4.0 * (pupils - 2) - 1.0)


def g_pupil_randomised(*, beta: float, sd: float, treated: int, control: int) -> EffectSize:
    """srtFREQ's g = J·β/σ with SE = J·sqrt((n_t+n_c)/(n_t·n_c) + d²/(2(n_t+n_c)))."""
    n = treated + control
    d = beta / sd
    j = hedges_j(n)
    return EffectSize.normal(j * d, j * np.sqrt(n / (treated * control) + d**2 / (2.0 * n)))
