"""Differentiation statistics of a set of representation vectors (Experiment 0.1).

For vectors ``X [n, d]`` (a random sample when n is large): the distribution of pairwise
cosine similarities over distinct pairs (mean, std, quantiles, share above 0.9) and the
spread of the representations (total variance, per-dimension standard deviation,
effective rank = participation ratio of the covariance spectrum, and the
entropy-based effective rank)."""

from __future__ import annotations

import numpy as np

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
HIST_BINS = np.linspace(-1.0, 1.0, 81)


def center_rows(X: np.ndarray, center: str) -> np.ndarray:
    """``X`` (``raw``) or ``X`` minus its mean row (``centered``: the anisotropy view)."""
    X = np.asarray(X)
    if center == "raw" or len(X) == 0:
        return X
    if center != "centered":
        raise ValueError(f"center must be raw or centered, got {center!r}")
    return X - X.mean(axis=0, keepdims=True)


def sample_rows(n: int, max_n: int | None, seed: int = 0) -> np.ndarray:
    """Sorted seeded subset of ``range(n)`` of size ``min(n, max_n)``."""
    if max_n is None or n <= max_n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_n, replace=False))


def pairwise_cosines(X: np.ndarray) -> np.ndarray:
    """Cosine similarities of all distinct pairs (upper triangle), float64.
    Zero vectors have cosine 0 with everything."""
    X = np.asarray(X, dtype=np.float64)
    nrm = np.linalg.norm(X, axis=1, keepdims=True)
    Z = np.divide(X, nrm, out=np.zeros_like(X), where=nrm > 0)
    S = Z @ Z.T
    iu = np.triu_indices(len(X), k=1)
    return np.clip(S[iu], -1.0, 1.0)


def spectrum_stats(X: np.ndarray) -> dict:
    X = np.asarray(X, dtype=np.float64)
    Xc = X - X.mean(axis=0)
    var = Xc.var(axis=0)
    # covariance eigenvalues from the singular values of the centred data
    s = np.linalg.svd(Xc, compute_uv=False) if len(X) > 1 else np.zeros(1)
    lam = s ** 2 / max(len(X) - 1, 1)
    tot = lam.sum()
    if tot > 0:
        pr = float(tot ** 2 / (lam ** 2).sum())
        p = lam[lam > 0] / tot
        erank = float(np.exp(-(p * np.log(p)).sum()))
        top1 = float(lam.max() / tot)
    else:
        pr = erank = top1 = 0.0
    return {
        "total_variance": float(var.sum()),
        "dim_std_mean": float(np.sqrt(var).mean()),
        "dim_std_min": float(np.sqrt(var).min()),
        "dim_std_max": float(np.sqrt(var).max()),
        "participation_ratio": pr,
        "effective_rank": erank,
        "top1_variance_share": top1,
        "mean_norm": float(np.linalg.norm(X, axis=1).mean()),
    }


def cosine_stats(X: np.ndarray, threshold: float = 0.9) -> dict:
    """All statistics of one cell: cosine distribution + spectrum. ``n`` = rows used."""
    X = np.asarray(X, dtype=np.float64)
    if len(X) < 2:
        raise ValueError("need at least 2 vectors")
    if not np.isfinite(X).all():
        raise ValueError("non-finite values in the vectors")
    c = pairwise_cosines(X)
    out = {"n": int(len(X)), "dim": int(X.shape[1]), "n_pairs": int(len(c)),
           "cos_mean": float(c.mean()), "cos_std": float(c.std())}
    for q, v in zip(QUANTILES, np.quantile(c, QUANTILES)):
        out[f"cos_q{int(round(q * 100)):02d}"] = float(v)
    out["frac_above_0.9" if threshold == 0.9 else f"frac_above_{threshold}"] = float((c > threshold).mean())
    out.update(spectrum_stats(X))
    return out


def cosine_histogram(X: np.ndarray, bins=HIST_BINS) -> np.ndarray:
    counts, _ = np.histogram(pairwise_cosines(X), bins=bins)
    return counts
