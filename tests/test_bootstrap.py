"""Percentile bootstrap intervals (swejepa.phase0.bootstrap): determinism, pairing,
coverage against the normal approximation, the closed form of the pairwise-cosine
resamples against a brute-force recomputation; the intervals of the retrieval metrics,
and mean-centring."""
import numpy as np
import pandas as pd
import pytest

from swejepa.phase0.bootstrap import (mean_ci, mean_pairwise_cosine_ci, paired_diff_ci, percentile_interval,
                                      resample_indices)
from swejepa.phase0.headline import headline
from swejepa.phase0.retrieval import bench_ranks, center_vectors, rank_metrics
from swejepa.phase0.stats import center_rows
from swejepa.settings import RetrievalSettings

LEVEL = 0.95
Z = 1.959963984540054  # two-sided 95% normal quantile


def test_resamples_are_seeded_and_shared():
    a, b = resample_indices(50, 20, seed=3), resample_indices(50, 20, seed=3)
    assert np.array_equal(a, b) and a.shape == (20, 50) and a.min() >= 0 and a.max() < 50
    assert not np.array_equal(a, resample_indices(50, 20, seed=4))
    assert resample_indices(0, 5, 0).shape == (5, 0)


def test_mean_ci_matches_the_normal_approximation():
    rng = np.random.default_rng(0)
    v = (rng.random(2000) < 0.3).astype(float)
    lo, hi = mean_ci(v, 2000, seed=0, level=LEVEL)
    m, se = v.mean(), v.std(ddof=0) / np.sqrt(len(v))
    assert lo < m < hi
    assert abs((hi - lo) - 2 * Z * se) < 0.15 * 2 * Z * se
    assert abs((lo + hi) / 2 - m) < 0.25 * se
    # more data, narrower interval; no resamples or no data: no interval
    lo2, hi2 = mean_ci(v[:200], 2000, seed=0, level=LEVEL)
    assert hi2 - lo2 > 2 * (hi - lo)
    assert np.isnan(mean_ci(v, 0, 0, LEVEL)).all() and np.isnan(mean_ci([], 100, 0, LEVEL)).all()
    assert np.isnan(percentile_interval(np.array([np.nan]), LEVEL)).all()


def test_paired_difference():
    rng = np.random.default_rng(1)
    a = rng.random(300)
    d, lo, hi, p = paired_diff_ci(a, a, 500, 0, LEVEL)
    assert d == lo == hi == 0.0 and p == 1.0
    d, lo, hi, p = paired_diff_ci(a + 0.1, a, 500, 0, LEVEL)
    assert d == pytest.approx(0.1) and lo == pytest.approx(0.1) and hi == pytest.approx(0.1) and p == 0.0
    b = rng.random(300)
    d, lo, hi, p = paired_diff_ci(a, b, 2000, 0, LEVEL)
    assert lo < d < hi and 0 < p < 1
    with pytest.raises(ValueError):
        paired_diff_ci(a, b[:10], 10, 0, LEVEL)


def test_pairwise_cosine_interval_equals_brute_force():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((9, 5)) + 0.5
    X[4] = 0.0                                    # a zero row: cosine 0 with every row
    n_boot, seed = 300, 7
    lo, hi = mean_pairwise_cosine_ci(X, n_boot, seed, LEVEL)
    nrm = np.linalg.norm(X, axis=1, keepdims=True)
    U = np.divide(X, nrm, out=np.zeros_like(X), where=nrm > 0)
    C = U @ U.T
    r = np.random.default_rng([seed, 0xC05, len(X)])
    means = []
    for _ in range(n_boot):
        idx = r.integers(0, len(X), len(X))
        pairs = [(i, j) for i in idx for j in idx if i != j]   # distinct rows, with multiplicity
        means.append(np.mean([C[i, j] for i, j in pairs]))
    blo, bhi = percentile_interval(np.array(means), LEVEL)
    assert lo == pytest.approx(blo, abs=1e-9) and hi == pytest.approx(bhi, abs=1e-9)
    full = C[~np.eye(len(X), dtype=bool)].mean()
    assert lo <= full <= hi


def _items(n_groups=12, per_group=3):
    rows = []
    for g in range(n_groups):
        for k in range(per_group):
            rows.append({"item_id": len(rows), "group_id": g, "role": "original" if k == 0 else "rewrite",
                         "origin": "heldout", "transform": "none" if k == 0 else ("rename_all" if k == 1 else "rename"),
                         "text": f"def f{g}_{k}(): pass\n", "hard": k == 1})
    return pd.DataFrame(rows)


def test_rank_metrics_intervals_and_transforms():
    items = _items()
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((12, 16))
    V = centres[items["group_id"]] + 0.8 * rng.standard_normal((len(items), 16))
    ranks = bench_ranks(items, V)
    assert set(ranks["task"]) == {"refactor", "hard"}
    m = rank_metrics(ranks, (1, 5), by_transform=True, n_boot=400, seed=0, level=LEVEL)
    assert {"recall@1_lo", "recall@1_hi", "mrr_lo", "mrr_hi"} <= set(m.columns)
    assert ((m["recall@1_lo"] <= m["recall@1"]) & (m["recall@1"] <= m["recall@1_hi"])).all()
    assert ((m["mrr_lo"] <= m["mrr"]) & (m["mrr"] <= m["mrr_hi"])).all()
    ref = m[(m.task == "refactor") & (m.origin == "all")].set_index("transform")
    assert set(ref.index) == {"all", "rename", "rename_all"}
    assert ref.loc["rename", "n_queries"] + ref.loc["rename_all", "n_queries"] == ref.loc["all", "n_queries"]
    with pytest.raises(ValueError):
        rank_metrics(ranks, (1,), n_boot=10)          # an interval needs a level


def test_centering_removes_a_common_offset():
    items = _items()
    rng = np.random.default_rng(4)
    V = rng.standard_normal((len(items), 16))
    offset = V + 50.0 * rng.standard_normal(16)    # a dominant shared direction (anisotropy)
    assert np.allclose(center_vectors(V, np.arange(len(V)), "centered"),
                       center_vectors(offset, np.arange(len(V)), "centered"), atol=1e-3)
    a = bench_ranks(items, V, RetrievalSettings(), "centered")
    b = bench_ranks(items, offset, RetrievalSettings(), "centered")
    assert a["rank"].tolist() == b["rank"].tolist()
    assert np.allclose(center_rows(offset, "centered").mean(axis=0), 0, atol=1e-6)
    assert center_rows(V, "raw") is not None and np.array_equal(center_rows(V, "raw"), V)
    with pytest.raises(ValueError):
        center_rows(V, "whitened")


def test_headline_gain_over_the_better_baseline():
    items = _items()
    rng = np.random.default_rng(5)
    centres = rng.standard_normal((12, 16))
    good = centres[items["group_id"]] + 0.05 * rng.standard_normal((len(items), 16))
    noise = rng.standard_normal((len(items), 16))
    cell = lambda t: {"teacher": t, "layer": "half", "pool": "mean", "center": "raw"}  # noqa: E731
    cells = [(cell("good"), bench_ranks(items, good)), (cell("rand"), bench_ranks(items, noise))]
    lex = bench_ranks(items, rng.standard_normal((len(items), 16)))
    h = headline(cells, lex, ["good", "rand"], {"good": "package", "rand": "random"}, ["rand"], 500, 0, LEVEL)
    g = h.set_index("teacher").loc["good"]
    assert g["recall1"] == 1.0 and g["n_queries"] == 12
    assert g["baseline_mrr"] in ("tfidf", "rand")
    base = g["tfidf_mrr"] if g["baseline_mrr"] == "tfidf" else g["random_mrr"]
    assert g["gain_mrr"] == pytest.approx(g["mrr"] - base)
    assert g["gain_mrr_lo"] <= g["gain_mrr"] <= g["gain_mrr_hi"] and g["gain_mrr_lo"] > 0
    assert h.set_index("teacher").loc["rand", "random_teacher"] == ""   # no other random teacher
