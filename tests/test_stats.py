"""Experiment 0.1 statistics on vectors with known answers, and the HDF5 grid readers."""
import numpy as np
import pytest

from swejepa.phase0 import grid
from swejepa.phase0.stats import cosine_histogram, cosine_stats, pairwise_cosines, sample_rows


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Small problems: one BLAS thread is fastest (and fair on a shared machine)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


def test_identical_vectors():
    X = np.tile(np.array([[1.0, 2.0, -3.0]]), (20, 1))
    s = cosine_stats(X)
    assert s["cos_mean"] == pytest.approx(1.0)
    assert s["cos_std"] == pytest.approx(0.0, abs=1e-12)
    assert s["frac_above_0.9"] == 1.0
    assert s["total_variance"] == pytest.approx(0.0, abs=1e-12)
    assert s["participation_ratio"] == 0.0
    assert s["n_pairs"] == 20 * 19 // 2


def test_orthogonal_vectors():
    X = np.eye(16) * 3.0
    s = cosine_stats(X)
    assert s["cos_mean"] == pytest.approx(0.0, abs=1e-12)
    assert s["cos_q99"] == pytest.approx(0.0, abs=1e-12)
    assert s["frac_above_0.9"] == 0.0
    # centred one-hot vectors: 15 equal non-zero covariance eigenvalues
    assert s["participation_ratio"] == pytest.approx(15.0)
    assert s["effective_rank"] == pytest.approx(15.0)


def test_collapsed_vs_spread():
    rng = np.random.default_rng(0)
    v = rng.standard_normal(64)
    collapsed = v + 0.01 * rng.standard_normal((200, 64))
    spread = rng.standard_normal((200, 64))
    c, s = cosine_stats(collapsed), cosine_stats(spread)
    assert c["cos_mean"] > 0.99 and c["cos_q01"] > 0.9 and c["frac_above_0.9"] == 1.0
    assert abs(s["cos_mean"]) < 0.02 and s["frac_above_0.9"] == 0.0
    assert s["participation_ratio"] > 40  # isotropic: close to the dimension
    assert s["cos_q05"] < s["cos_q50"] < s["cos_q95"]
    # opposite vectors give -1
    assert pairwise_cosines(np.array([[1.0, 0.0], [-2.0, 0.0]]))[0] == pytest.approx(-1.0)


def test_histogram_counts_all_pairs():
    X = np.random.default_rng(1).standard_normal((30, 5))
    assert cosine_histogram(X).sum() == 30 * 29 // 2


def test_errors_and_sampling():
    with pytest.raises(ValueError):
        cosine_stats(np.ones((1, 3)))
    with pytest.raises(ValueError):
        cosine_stats(np.array([[np.nan, 1.0], [1.0, 1.0]]))
    a, b = sample_rows(1000, 10, seed=3), sample_rows(1000, 10, seed=3)
    assert len(a) == 10 and (a == b).all() and (np.diff(a) > 0).all()
    assert (sample_rows(5, 10) == np.arange(5)).all()


def test_grid_reads_shards_in_region_order(tmp_path):
    paths = [grid.write_synthetic(tmp_path / f"shard{i}of2.h5", {"ast": 11}, n_bench=4, layers=["half"],
                                  shard=i, n_shards=2, seed=i) for i in range(2)]
    idx, V = grid.region_vectors(paths, "ast", "half", "mean")
    assert (idx == np.arange(11)).all() and V.shape == (11, 16) and V.dtype == np.float32
    meta = grid.region_meta(paths, "ast")
    assert (meta["region_index"] == np.arange(11)).all()
    T = grid.token_vectors(paths, "ast", "half", max_tokens=5, seed=0)
    assert T.shape == (5, 16)
    assert grid.bench_vectors(paths, "half", "last").shape == (4, 16)
    with pytest.raises(KeyError):
        grid.bench_vectors(paths, "first", "mean")
    from swejepa.layout import Layout

    assert Layout().latent_files("t", 2) == ["results/latents/t/shard0of2.h5", "results/latents/t/shard1of2.h5"]


