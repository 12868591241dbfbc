"""Percentile bootstrap confidence intervals (Experiments 0.1 and 0.2).

Resampling is seeded and depends only on ``(seed, n)``: every method scored on the same
``n`` queries sees the *same* resamples, so differences between two methods are paired
(:func:`paired_diff_ci`) and a rerun gives identical intervals."""

from __future__ import annotations

import numpy as np


def resample_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    """``[n_boot, n]`` row indices drawn with replacement (the same for the same ``(n, seed)``)."""
    rng = np.random.default_rng([int(seed), 0xB007, int(n)])
    return rng.integers(0, n, size=(int(n_boot), int(n))) if n else np.zeros((int(n_boot), 0), np.int64)


def percentile_interval(samples: np.ndarray, level: float) -> tuple[float, float]:
    samples = np.asarray(samples, dtype=np.float64)
    if samples.size == 0 or not np.isfinite(samples).any():
        return float("nan"), float("nan")
    a = (1.0 - float(level)) / 2.0
    lo, hi = np.nanquantile(samples, [a, 1.0 - a])
    return float(lo), float(hi)


def mean_ci(values, n_boot: int, seed: int, level: float, idx: np.ndarray | None = None) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (NaN when empty or ``n_boot`` is 0)."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0 or n_boot <= 0:
        return float("nan"), float("nan")
    idx = resample_indices(len(v), n_boot, seed) if idx is None else idx
    return percentile_interval(v[idx].mean(axis=1), level)


def paired_diff_ci(a, b, n_boot: int, seed: int, level: float) -> tuple[float, float, float, float]:
    """``(mean(a) - mean(b), lo, hi, share of resamples with a difference <= 0)`` for paired
    per-query values ``a``, ``b`` (same queries, same order)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if len(a) != len(b):
        raise ValueError(f"paired values need equal lengths ({len(a)} != {len(b)})")
    if len(a) == 0:
        return (float("nan"),) * 4
    d = a - b
    if n_boot <= 0:
        return float(d.mean()), float("nan"), float("nan"), float("nan")
    means = d[resample_indices(len(d), n_boot, seed)].mean(axis=1)
    lo, hi = percentile_interval(means, level)
    return float(d.mean()), lo, hi, float((means <= 0).mean())


def mean_pairwise_cosine_ci(X: np.ndarray, n_boot: int, seed: int, level: float) -> tuple[float, float]:
    """Bootstrap interval of the mean pairwise cosine similarity over the rows of ``X``
    (regions, or tokens for per-token cells): rows are resampled with replacement and each
    resample's mean is taken over the pairs of *distinct* rows, weighted by their
    multiplicities — from ``|Z^T w|^2`` of the unit rows ``Z``, so no ``n^2`` matrix per
    resample. Zero rows have cosine 0 with every row, as in
    :func:`swejepa.phase0.stats.pairwise_cosines`."""
    X = np.asarray(X, dtype=np.float64)
    n = len(X)
    if n < 2 or n_boot <= 0:
        return float("nan"), float("nan")
    nrm = np.linalg.norm(X, axis=1, keepdims=True)
    Z = np.divide(X, nrm, out=np.zeros_like(X), where=nrm > 0)
    d = (nrm[:, 0] > 0).astype(np.float64)           # Z_i . Z_i
    rng = np.random.default_rng([int(seed), 0xC05, n])
    out = np.empty(int(n_boot))
    step = max(1, int(2e7 // max(n * X.shape[1], 1)))  # resamples per block (memory)
    for b0 in range(0, int(n_boot), step):
        k = min(step, int(n_boot) - b0)
        W = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(k)]).astype(np.float64)
        s = ((W @ Z) ** 2).sum(axis=1)                   # sum over all ordered pairs incl. i = j
        w2 = (W ** 2).sum(axis=1)
        out[b0:b0 + k] = (s - (W ** 2) @ d) / np.maximum(n * n - w2, 1.0)
    return percentile_interval(out, level)
