"""Confidence intervals: seeded percentile bootstrap and Student-t intervals (numpy only).

Every interval is two-sided at ``level`` (``verdicts.level``); bootstrap intervals use
``resamples`` resamples (``verdicts.resamples``) drawn from ``numpy.random.default_rng(seed)``,
so the same inputs give the same interval, bit for bit.

- :func:`percentile_ci` — the ``(1-level)/2`` and ``(1+level)/2`` quantiles of bootstrap
  replicates (non-finite replicates: ``nan`` dropped, ``±inf`` kept and ranked);
- :func:`resample_indices` — ``[resamples, n]`` unit indices drawn with replacement; one
  draw is shared by every quantity of a paired comparison (same queries, functions,
  regions or checkpoints on both sides);
- :func:`mean_ci` — mean of per-unit values, bootstrap over units;
- :func:`ratio_ci` — ``sum(num) / sum(den)`` over units, bootstrap over units;
- :func:`t_interval` — ``mean ± t_{k-1} · sd / sqrt(k)`` over k values (e.g. CV folds);
- :func:`spearman` / :func:`spearman_ci` — rank correlation, bootstrap over pairs.
"""

from __future__ import annotations

import numpy as np

NAN = float("nan")


def percentile_ci(replicates, level: float) -> tuple[float, float]:
    """Percentile interval of bootstrap replicates; ``(nan, nan)`` when none is defined."""
    r = np.asarray(replicates, dtype=float).ravel()
    r = r[~np.isnan(r)]
    if len(r) == 0:
        return NAN, NAN
    a = (1.0 - float(level)) / 2.0
    method = "linear" if np.isfinite(r).all() else "nearest"
    lo, hi = np.quantile(r, [a, 1.0 - a], method=method)
    return float(lo), float(hi)


def resample_indices(n: int, resamples: int, seed: int) -> np.ndarray:
    """``[resamples, n]`` indices into ``range(n)``, with replacement (seeded)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, int(n), size=(int(resamples), int(n)))


def mean_ci(values, resamples: int, level: float, seed: int) -> tuple[float, float, float]:
    """``(mean, lo, hi)`` of per-unit values (non-finite units dropped), bootstrap over units."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return NAN, NAN, NAN
    if len(v) == 1:
        return float(v[0]), NAN, NAN
    idx = resample_indices(len(v), resamples, seed)
    lo, hi = percentile_ci(v[idx].mean(axis=1), level)
    return float(v.mean()), lo, hi


def ratio_ci(num, den, resamples: int, level: float, seed: int) -> tuple[float, float, float]:
    """``(sum(num)/sum(den), lo, hi)`` over paired units, bootstrap over units."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    ok = np.isfinite(num) & np.isfinite(den)
    num, den = num[ok], den[ok]
    if len(num) == 0 or den.sum() == 0:
        return NAN, NAN, NAN
    point = float(num.sum() / den.sum())
    if len(num) == 1:
        return point, NAN, NAN
    idx = resample_indices(len(num), resamples, seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        reps = num[idx].sum(axis=1) / den[idx].sum(axis=1)
    lo, hi = percentile_ci(reps, level)
    return point, lo, hi


def t_interval(values, level: float) -> tuple[float, float, float]:
    """``(mean, lo, hi)`` = mean ± t_{k-1,(1+level)/2} · sd / sqrt(k) over the finite values
    (sd with ddof 1); ``lo = hi = nan`` for fewer than two values."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    k = len(v)
    if k == 0:
        return NAN, NAN, NAN
    m = float(v.mean())
    if k < 2:
        return m, NAN, NAN
    half = float(stats.t.ppf((1.0 + float(level)) / 2.0, k - 1) * v.std(ddof=1) / np.sqrt(k))
    return m, m - half, m + half


def _ranks(a: np.ndarray) -> np.ndarray:
    """Average ranks along the last axis (ties share their mean rank)."""
    from scipy.stats import rankdata

    return rankdata(a, axis=-1, method="average")


def spearman(x, y) -> float:
    """Spearman's rho (average ranks for ties); nan when either side is constant."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return NAN
    return float(np.corrcoef(_ranks(x), _ranks(y))[0, 1])


def _rowwise_corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, (a * b).sum(axis=1) / den, np.nan)


def spearman_ci(x, y, resamples: int, level: float, seed: int) -> tuple[float, float, float]:
    """``(rho, lo, hi)``: Spearman's rho of the pairs and its percentile bootstrap interval
    over pairs (resamples in which a side is constant have no rho and are dropped)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    rho = spearman(x, y)
    if len(x) < 3 or not np.isfinite(rho):
        return rho, NAN, NAN
    idx = resample_indices(len(x), resamples, seed)
    reps = _rowwise_corr(_ranks(x[idx]), _ranks(y[idx]))
    lo, hi = percentile_ci(reps, level)
    return rho, lo, hi
