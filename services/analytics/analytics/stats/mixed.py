"""A dedicated REML/ML solver for the two-level random-intercept model.

Model: y_ij = x_ij'β + b_i + e_ij with b_i ~ N(0, σ²_b) and e_ij ~ N(0, σ²_w), pupils j in
schools i. Writing λ = σ²_b / σ²_w, school i's covariance is σ²_w·H_i with H_i = I + λ·11', whose
inverse is I − w_i·11' with w_i = λ / (1 + n_i·λ) and whose log-determinant is log(1 + n_i·λ).
So, with z = (x, y) and s_i = Σ_j z_ij the school's column sums,

    Z'H⁻¹Z = Z'Z − Σ_i w_i·s_i s_i'.

Pooled Z'Z and the school sums are computed once (one pass over pupils); since w_i depends on the
school only through its size n_i, the sum is regrouped by size, Σ_n w(n)·Σ_{i: n_i = n} s_i s_i',
so one evaluation of the deviance costs O(distinct sizes · p²) plus a (p+1)×(p+1) Cholesky, never
O(pupils). From the Cholesky factor L of Z'H⁻¹Z come log|X'H⁻¹X| (its first p diagonal entries)
and the residual sum of squares r(λ) = y'H⁻¹y − y'H⁻¹X(X'H⁻¹X)⁻¹X'H⁻¹y (its last entry, squared).
β and σ²_w are profiled out, which leaves a one-dimensional problem in λ, the same profiled
deviance lme4 minimises (Bates, Mächler, Bolker & Walker 2015, "Fitting Linear Mixed-Effects
Models Using lme4", J. Stat. Softw. 67(1), section 3), constants included:

    ML:   −2ℓ = N·(1 + log(2π·r/N)) + Σ_i log(1 + n_i·λ)
    REML: −2ℓ_R = (N−p)·(1 + log(2π·r/(N−p))) + Σ_i log(1 + n_i·λ) + log|X'H⁻¹X|

The search is over the intra-class correlation ρ = λ/(1+λ) ∈ [0, 1): a grid of 50 values of λ
(vectorised, and making a second local minimum hard to miss), then bounded Brent between the
best grid point's neighbours.
ρ = 0 (σ²_b = 0) is a legitimate boundary estimate, as in lme4; an optimum at the top of the grid,
a flat deviance, or a non-finite one is a failure and reported as such.
"""

from dataclasses import dataclass, replace

import numpy as np
from scipy import optimize

#: The grid of λ = σ²_b/σ²_w (plus λ = 0) on which the search starts.
_GRID_LAMBDA = np.logspace(-6.0, 6.0, 49)
_GRID_RHO = np.concatenate([[0.0], _GRID_LAMBDA / (1.0 + _GRID_LAMBDA)])
_LOG_2PI = float(np.log(2.0 * np.pi))


@dataclass(frozen=True)
class SchoolSums:
    """Sufficient statistics of z = (x_1..x_p, y) for the random-intercept model.

    ``cross`` is Z'Z over all pupils; ``size_cross[k]`` is Σ s_i s_i' over the schools whose
    size is ``sizes[k]``, with s_i the school's column sums; ``size_counts[k]`` is how many
    schools have that size. The outcome is the last coordinate.
    """

    names: tuple[str, ...]
    pupils: int
    cross: np.ndarray
    sizes: np.ndarray
    size_counts: np.ndarray
    size_cross: np.ndarray

    @property
    def k_fixed(self) -> int:
        return len(self.names)

    @property
    def schools(self) -> int:
        return int(self.size_counts.sum())

    def select(self, keep: list[int]) -> "SchoolSums":
        """The statistics of the model with only the fixed effects ``keep`` (same outcome)."""
        index = np.array([*keep, self.k_fixed])
        return replace(
            self,
            names=tuple(self.names[k] for k in keep),
            cross=self.cross[np.ix_(index, index)],
            size_cross=self.size_cross[:, index][:, :, index],
        )

    def with_fixed(self, column: int, value: float) -> "SchoolSums":
        """The statistics after fixing β[column] = value: outcome y − value·x, column dropped.

        This is the offset refit lme4's profile uses; it needs no pass over pupils because
        (x, y − v·x) is a linear map of (x, y), applied to every cross-product.
        """
        p = self.k_fixed
        transform = np.eye(p + 1)
        transform[p, column] = -value
        transform = np.delete(transform, column, axis=0)
        return replace(
            self,
            names=tuple(name for k, name in enumerate(self.names) if k != column),
            cross=transform @ self.cross @ transform.T,
            size_cross=transform @ self.size_cross @ transform.T,
        )


def school_sums(
    matrix: np.ndarray, school_starts: np.ndarray, names: tuple[str, ...]
) -> SchoolSums:
    """The sufficient statistics from pupils in school order (the last column is y)."""
    sums = np.add.reduceat(matrix, school_starts, axis=0)
    school_sizes = np.diff(np.append(school_starts, matrix.shape[0]))
    sizes, which, counts = np.unique(school_sizes, return_inverse=True, return_counts=True)
    size_cross = np.empty((sizes.size, matrix.shape[1], matrix.shape[1]))
    for k in range(sizes.size):
        group = sums[which == k]
        size_cross[k] = group.T @ group
    return SchoolSums(
        names=names,
        pupils=int(matrix.shape[0]),
        cross=matrix.T @ matrix,
        sizes=sizes.astype(float),
        size_counts=counts.astype(float),
        size_cross=size_cross,
    )


@dataclass(frozen=True)
class InterceptFit:
    """A fitted random-intercept model; when not ``converged`` the numbers are meaningless."""

    names: tuple[str, ...]
    beta: np.ndarray
    cov_beta: np.ndarray
    var_school: float
    var_pupil: float
    deviance: float  # −2 log-likelihood (ML) or −2 restricted log-likelihood (REML)
    reml: bool
    converged: bool
    message: str
    solver: str

    @classmethod
    def failed(
        cls, names: tuple[str, ...], *, reml: bool, message: str, solver: str
    ) -> "InterceptFit":
        """A fit that did not converge: every number NaN, so none can pass for an estimate."""
        p = len(names)
        return cls(
            names=names,
            beta=np.full(p, np.nan),
            cov_beta=np.full((p, p), np.nan),
            var_school=np.nan,
            var_pupil=np.nan,
            deviance=np.nan,
            reml=reml,
            converged=False,
            message=message,
            solver=solver,
        )

    @property
    def log_likelihood(self) -> float:
        return -0.5 * self.deviance

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov_beta))


@dataclass(frozen=True)
class _Evaluation:
    deviance: float
    factor: np.ndarray | None  # Cholesky factor of Z'H⁻¹Z, None if not positive definite
    rss: float


def _deviances(sums: SchoolSums, rhos: np.ndarray, *, reml: bool) -> tuple[np.ndarray, np.ndarray]:
    """The profiled deviance at each ρ (inf where Z'H⁻¹Z is singular) and the Cholesky factors.

    Vectorised over ρ, because the grid search would otherwise spend its time in Python
    overhead rather than arithmetic on small designs.
    """
    lams = rhos / (1.0 - rhos)
    weights = lams[:, None] / (1.0 + sums.sizes[None, :] * lams[:, None])
    grams = sums.cross - np.tensordot(weights, sums.size_cross, axes=1)
    try:
        factors = np.linalg.cholesky(grams)
    except np.linalg.LinAlgError:  # one bad ρ spoils the batch: go one by one
        factors = np.full_like(grams, np.nan)
        for k, gram in enumerate(grams):
            try:
                factors[k] = np.linalg.cholesky(gram)
            except np.linalg.LinAlgError:
                continue
    p = sums.k_fixed
    diagonals = np.diagonal(factors, axis1=-2, axis2=-1)
    rss = diagonals[:, p] ** 2
    log_det_h = np.log1p(lams[:, None] * sums.sizes[None, :]) @ sums.size_counts
    with np.errstate(divide="ignore", invalid="ignore"):
        if reml:
            dof = sums.pupils - p
            log_det_x = 2.0 * np.log(diagonals[:, :p]).sum(axis=1)
            values = dof * (1.0 + _LOG_2PI + np.log(rss / dof)) + log_det_h + log_det_x
        else:
            n = sums.pupils
            values = n * (1.0 + _LOG_2PI + np.log(rss / n)) + log_det_h
    good = np.isfinite(values) & (rss > 0.0)
    return np.where(good, values, np.inf), factors


def _evaluate(sums: SchoolSums, rho: float, *, reml: bool) -> _Evaluation:
    values, factors = _deviances(sums, np.array([rho]), reml=reml)
    p = sums.k_fixed
    if not np.isfinite(values[0]):
        return _Evaluation(np.inf, None, np.nan)
    return _Evaluation(float(values[0]), factors[0], float(factors[0, p, p] ** 2))


def deviance(sums: SchoolSums, *, var_ratio: float, reml: bool) -> float:
    """The profiled deviance at λ = σ²_b/σ²_w (β and σ²_w at their optimum for that λ)."""
    return _evaluate(sums, var_ratio / (1.0 + var_ratio), reml=reml).deviance


def fit_random_intercept(sums: SchoolSums, *, reml: bool) -> InterceptFit:
    """Fit by REML or ML; the result says whether (and why not) it converged."""
    p = sums.k_fixed

    def fail(message: str) -> InterceptFit:
        return InterceptFit.failed(sums.names, reml=reml, solver="profiled", message=message)

    if sums.pupils - p <= 0:
        return fail("fewer pupils than fixed effects")
    grid, _ = _deviances(sums, _GRID_RHO, reml=reml)
    finite = np.isfinite(grid)
    if not finite.any():
        return fail("the deviance is not finite anywhere")
    best = int(np.argmin(np.where(finite, grid, np.inf)))
    if best == _GRID_RHO.size - 1:
        return fail("the school variance runs off to infinity (pupil variance not identified)")
    spread = float(np.ptp(grid[finite]))
    if spread < 1e-9 * max(1.0, abs(float(grid[best]))):
        return fail("the deviance is flat in the school variance (not identified by these data)")
    low, high = _GRID_RHO[max(best - 1, 0)], _GRID_RHO[best + 1]
    search = optimize.minimize_scalar(
        lambda rho: _evaluate(sums, rho, reml=reml).deviance,
        bounds=(low, high),
        method="bounded",
        options={"xatol": 1e-12, "maxiter": 500},
    )
    rho = float(search.x)
    # Brent never evaluates the end points; ρ = 0 is a legitimate estimate, so compare it.
    if best == 0 and grid[0] <= float(search.fun):
        rho = 0.0
    evaluation = _evaluate(sums, rho, reml=reml)
    if not (search.success or rho == 0.0) or evaluation.factor is None:
        return fail(f"the variance search did not converge: {search.message}")
    slack = 1e-9 * max(1.0, abs(float(grid[best])))
    if not np.isfinite(evaluation.deviance) or evaluation.deviance > float(grid[best]) + slack:
        return fail("the variance search ended above its start")
    factor = evaluation.factor
    var_pupil = evaluation.rss / (sums.pupils - p if reml else sums.pupils)
    lower = factor[:p, :p]
    beta = np.linalg.solve(lower.T, factor[p, :p])
    inverse_lower = np.linalg.solve(lower, np.eye(p))
    cov_beta = var_pupil * inverse_lower.T @ inverse_lower
    return InterceptFit(
        names=sums.names,
        beta=beta,
        cov_beta=cov_beta,
        var_school=rho / (1.0 - rho) * var_pupil,
        var_pupil=var_pupil,
        deviance=evaluation.deviance,
        reml=reml,
        converged=True,
        message="converged" if rho > 0.0 else "converged (school variance at its boundary, 0)",
        solver="profiled",
    )
