"""Summary statistics across seeds and evaluation episodes (NumPy, host side).

* :func:`mean_ci` — mean and a Student-t 95% confidence interval (the usual "mean ± 95% CI
  over seeds" of learning curves and result tables);
* :func:`iqm` — interquartile mean, robust to a few outlier runs (Agarwal et al. 2021);
* :func:`bootstrap_ci` — percentile bootstrap interval of any statistic, with an
  explicit seed so reports are reproducible.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

# two-sided 95% Student-t quantiles t_{0.975, df} for df = 1..30; larger df use 1.96
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
         2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
         2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


class Interval(NamedTuple):
    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


def t_quantile_975(df: int) -> float:
    if df < 1:
        return float("nan")
    return _T975[df - 1] if df <= len(_T975) else 1.96


def mean_ci(x: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and half-width of the 95% t-interval along ``axis`` (NaN half-width for n=1)."""
    x = np.asarray(x, np.float64)
    n = x.shape[axis]
    mean = x.mean(axis=axis)
    if n < 2:
        return mean, np.full_like(mean, np.nan)
    sem = x.std(axis=axis, ddof=1) / np.sqrt(n)
    return mean, t_quantile_975(n - 1) * sem


def iqm(x: np.ndarray) -> float:
    """Mean of the middle 50% of values (25% trimmed from each end)."""
    x = np.sort(np.asarray(x, np.float64).ravel())
    n = len(x)
    if n == 0:
        raise ValueError("iqm of an empty array")
    lo, hi = int(np.floor(0.25 * n)), int(np.ceil(0.75 * n))
    return float(x[lo:hi].mean()) if hi > lo else float(x.mean())


def bootstrap_ci(
    x: np.ndarray,
    statistic: Callable[[np.ndarray], float] = np.mean,
    level: float = 0.95,
    num_resamples: int = 2000,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap interval of ``statistic`` over the values of ``x``."""
    x = np.asarray(x, np.float64).ravel()
    if x.size == 0:
        raise ValueError("bootstrap_ci of an empty array")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(num_resamples, x.size))
    stats = np.array([statistic(x[i]) for i in idx])
    alpha = (1 - level) / 2
    low, high = np.quantile(stats, [alpha, 1 - alpha])
    return Interval(float(statistic(x)), float(low), float(high))
