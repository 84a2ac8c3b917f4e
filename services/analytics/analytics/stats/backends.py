"""The two ways ``fit_crt`` can fit the random-intercept model: the fast solver, then statsmodels.

Both answer the same three questions (a REML or ML fit of the model or of a sub-model, and an ML
fit with one coefficient held fixed, for the profile), so ``fit_crt`` can run its whole pipeline
on the second when the first fails. statsmodels is asked with ``method=["powell", "bfgs"]``:
``lbfgs`` alone fails silently on the ML fit of crtData (an infinite log-likelihood), see
/work/shared/reference/eef/README.md.
"""

import warnings
from typing import Protocol

import numpy as np
from statsmodels.regression.mixed_linear_model import MixedLM
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from analytics.stats.design import Design
from analytics.stats.mixed import InterceptFit, SchoolSums, fit_random_intercept


class EstimationError(RuntimeError):
    """A model could not be fitted; the message says why."""


class Backend(Protocol):
    name: str

    def fit(self, *, reml: bool, keep: list[int] | None = None) -> InterceptFit:
        """The model with the fixed effects ``keep`` (all when None)."""
        ...

    def fit_fixed(self, *, column: int, value: float) -> InterceptFit:
        """The ML fit of the full model with β[column] held at ``value``."""
        ...


class ProfiledBackend:
    """The dedicated solver of ``analytics.stats.mixed`` on one pass of sufficient statistics."""

    name = "profiled"

    def __init__(self, sums: SchoolSums) -> None:
        self._sums = sums

    def _sums_for(self, keep: list[int] | None) -> SchoolSums:
        return self._sums if keep is None else self._sums.select(keep)

    def fit(self, *, reml: bool, keep: list[int] | None = None) -> InterceptFit:
        return fit_random_intercept(self._sums_for(keep), reml=reml)

    def fit_fixed(self, *, column: int, value: float) -> InterceptFit:
        return fit_random_intercept(self._sums.with_fixed(column, value), reml=False)


class StatsmodelsBackend:
    """statsmodels' MixedLM on the pupil rows: slower, independent, used as the fallback."""

    name = "statsmodels"

    def __init__(self, design: Design) -> None:
        self._design = design
        self._groups = design.school_codes

    def _fit(
        self, outcome: np.ndarray, columns: np.ndarray, names: tuple[str, ...], *, reml: bool
    ) -> InterceptFit:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            try:
                # Powell's default tolerances stop ~1e-4 (relative) short in σ²_b.
                result = MixedLM(outcome, columns, groups=self._groups).fit(
                    reml=reml, method=["powell", "bfgs"], xtol=1e-10, ftol=1e-12
                )
            except (np.linalg.LinAlgError, ValueError) as error:
                return InterceptFit.failed(
                    names, reml=reml, solver=self.name, message=f"statsmodels failed: {error}"
                )
        deviance = -2.0 * float(result.llf)
        var_school = float(np.asarray(result.cov_re)[0, 0])
        var_pupil = float(result.scale)
        problems = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
        numbers = np.r_[deviance, var_school, var_pupil, np.asarray(result.fe_params)]
        if not result.converged or not np.isfinite(numbers).all() or var_school < 0.0:
            detail = "; ".join(problems) or "not converged or non-finite estimates"
            return InterceptFit.failed(
                names,
                reml=reml,
                solver=self.name,
                message=f"statsmodels did not converge: {detail}",
            )
        return InterceptFit(
            names=names,
            beta=np.asarray(result.fe_params, dtype=float),
            cov_beta=self._gls_covariance(columns, var_school=var_school, var_pupil=var_pupil),
            var_school=var_school,
            var_pupil=var_pupil,
            deviance=deviance,
            reml=reml,
            converged=True,
            message="converged" + (f" ({'; '.join(problems)})" if problems else ""),
            solver=self.name,
        )

    def _gls_covariance(
        self, columns: np.ndarray, *, var_school: float, var_pupil: float
    ) -> np.ndarray:
        """σ²_w·(X'H⁻¹X)⁻¹, lme4's vcov, as the profiled solver reports it.

        statsmodels' own ``cov_params`` inverts the joint observed information of β and the
        variances, which differs from this by up to ~1% for pupil-level covariates; using one
        definition keeps the reported SEs independent of which solver produced them.
        """
        starts = self._design.school_starts
        sizes = self._design.school_sizes
        lam = var_school / var_pupil
        sums = np.add.reduceat(columns, starts, axis=0)
        weights = lam / (1.0 + sizes * lam)
        information = columns.T @ columns - sums.T @ (weights[:, None] * sums)
        return var_pupil * np.linalg.inv(information)

    def fit(self, *, reml: bool, keep: list[int] | None = None) -> InterceptFit:
        design = self._design
        index = list(range(len(design.names))) if keep is None else keep
        names = tuple(design.names[k] for k in index)
        return self._fit(design.outcome, design.columns[:, index], names, reml=reml)

    def fit_fixed(self, *, column: int, value: float) -> InterceptFit:
        design = self._design
        index = [k for k in range(len(design.names)) if k != column]
        outcome = design.outcome - value * design.columns[:, column]
        names = tuple(design.names[k] for k in index)
        return self._fit(outcome, design.columns[:, index], names, reml=False)
