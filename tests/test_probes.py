"""Linear probes: a planted linear signal is recovered, noise is not; grouped CV never
puts one package in train and test; controls share the folds; the per-cell runner."""
import numpy as np
import pandas as pd
import pytest

from swejepa.phase0 import grid
from swejepa.phase0.probes import COLUMNS, group_folds, probe_all
from swejepa.layout import Layout
from swejepa.settings import ProbeSettings


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Small problems: one BLAS thread is fastest (and fair on a shared machine)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield

# log_targets=(): the planted signals below are linear in the raw target (log1p: its own test)
CFG = ProbeSettings(folds=4, inner_folds=2, alphas=(0.1, 10.0, 1000.0), Cs=(0.01, 1.0), max_iter=200, log_targets=())
FAST = ProbeSettings(folds=3, inner_folds=2, alphas=(1.0, 100.0), Cs=(1.0,), max_iter=100, log_targets=())


def _data(n=300, d=24, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w = rng.standard_normal(d)
    props = pd.DataFrame({
        "loc": X @ w + 0.1 * rng.standard_normal(n),              # planted, linear
        "cyclomatic": rng.standard_normal(n),                      # pure noise
        "return_category": np.where(X[:, 0] > 0.5, "collection", np.where(X[:, 1] > 0, "none", "primitive")),
        "side_effects": rng.random(n) > 0.5,                       # noise
    })
    groups = np.array([f"pkg{i}" for i in rng.integers(0, 12, n)])
    return X, props, groups


@pytest.mark.parametrize("classifier", ["ridge", "logistic"])
def test_planted_signal_recovered_noise_not(classifier):
    X, props, groups = _data()
    r = probe_all(X, props, groups, CFG.replace(classifier=classifier)).set_index("property")
    assert list(r.reset_index().columns) == COLUMNS
    assert r.loc["loc", "r2_mean"] > 0.95 and r.loc["loc", "spearman_mean"] > 0.95 and r.loc["loc", "r2_oof"] > 0.95
    assert r.loc["cyclomatic", "r2_mean"] < 0.05 and r.loc["cyclomatic", "r2_oof"] < 0.05
    assert r.loc["return_category", "acc_mean"] > r.loc["return_category", "majority_acc_mean"] + 0.2
    assert r.loc["return_category", "f1_mean"] > 0.8
    assert r.loc["side_effects", "acc_mean"] < 0.62
    assert r.loc["loc", "n_folds"] == 4 and r.loc["loc", "n_groups"] == 12
    assert np.isnan(r.loc["loc", "acc_mean"]) and np.isnan(r.loc["side_effects", "r2_mean"])


def test_log1p_targets():
    """A heavy-tailed count that is linear on the log scale: fitted as log1p it is recovered;
    on the raw scale a few huge values dominate. Per-fold lists pair up between calls."""
    from swejepa.phase0.probes import fold_values

    rng = np.random.default_rng(3)
    n = 400
    X = rng.standard_normal((n, 8))
    count = np.round(np.expm1(np.clip(1.5 + X @ rng.uniform(0.3, 0.6, 8), 0, None)))  # long right tail
    props = pd.DataFrame({"loc": count})
    groups = np.array([f"pkg{i}" for i in rng.integers(0, 10, n)])
    log = probe_all(X, props, groups, CFG.replace(log_targets=("loc",))).iloc[0]
    raw = probe_all(X, props, groups, CFG).iloc[0]
    assert log["target_scale"] == "log1p" and raw["target_scale"] == "raw"
    assert log["r2_mean"] > 0.9 > raw["r2_mean"]
    folds = fold_values(log["r2_folds"])
    assert len(folds) == 4 and np.mean(folds) == pytest.approx(log["r2_mean"])
    # the out-of-fold predictions are on the fitted (log) scale
    res = probe_all(X, props, groups, CFG.replace(log_targets=("loc",)))
    y, pred = res.attrs["oof"]["loc"]
    assert np.allclose(y, np.log1p(count)) and 1 - ((y - pred) ** 2).sum() / ((y - y.mean()) ** 2).sum() == \
        pytest.approx(log["r2_oof"])
    assert ProbeSettings().log_targets == ("cyclomatic", "n_branches", "n_loops", "n_external_calls", "loc")


def test_selectivity_hand_made():
    """Selectivity = score minus the better control, fold by fold, with a t interval over folds."""
    import json

    from scipy import stats

    from swejepa.phase0.report import add_selectivity

    def row(teacher, features, layer, folds, n=100):
        return {"teacher": teacher, "mask": "ast", "layer": layer, "pool": "mean" if layer != "-" else "-",
                "features": features, "property": "loc", "task": "regression", "target_scale": "log1p", "n": n,
                "n_folds": len(folds), "r2_mean": float(np.mean(folds)), "f1_mean": np.nan,
                "r2_folds": json.dumps(folds), "f1_folds": None}
    df = pd.DataFrame([row("t", "latent", "half", [0.6, 0.5, 0.7]), row("t", "surface", "-", [0.3, 0.2, 0.4]),
                       row("r", "latent", "half", [0.45, 0.35, 0.55]), row("r", "surface", "-", [0.3, 0.2, 0.4])])
    out = add_selectivity(df, "r", 0.95).set_index(["teacher", "features"])
    t = out.loc[("t", "latent")]
    # random-init (mean 0.45) beats the surface baseline (0.3): it is the control
    assert t["control"] == "random" and t["selectivity"] == pytest.approx(0.15)
    assert t["sel_surface"] == pytest.approx(0.3) and t["sel_random"] == pytest.approx(0.15)
    # constant fold differences: zero-width interval
    assert t["selectivity_ci_low"] == pytest.approx(0.15) and t["selectivity_ci_high"] == pytest.approx(0.15)
    r = out.loc[("r", "latent")]
    assert bool(r["random_control"]) and np.isnan(r["sel_random"]) and r["control"] == "surface"
    # a noisy difference: mean +- t_{k-1} sd / sqrt(k)
    df.loc[0, "r2_folds"] = json.dumps([0.6, 0.4, 0.9])
    t = add_selectivity(df, "r", 0.9).set_index(["teacher", "features"]).loc[("t", "latent")]
    d = np.array([0.6, 0.4, 0.9]) - np.array([0.45, 0.35, 0.55])
    half = stats.t.ppf(0.95, 2) * d.std(ddof=1) / np.sqrt(3)
    assert t["selectivity_ci_low"] == pytest.approx(d.mean() - half)
    assert t["selectivity_ci_high"] == pytest.approx(d.mean() + half)
    # a different sample (n) does not pair up: no selectivity against it
    df.loc[1, "n"] = 99
    t = add_selectivity(df, "r", 0.9).set_index(["teacher", "features"]).loc[("t", "latent")]
    assert np.isnan(t["sel_surface"])


def test_group_folds_never_split_a_package():
    rng = np.random.default_rng(1)
    groups = rng.choice([f"p{i}" for i in range(23)], size=700, p=np.r_[[0.3], np.full(22, 0.7 / 22)])
    folds = group_folds(groups, 5, seed=0)
    per_group = pd.DataFrame({"g": groups, "f": folds}).groupby("g")["f"].nunique()
    assert (per_group == 1).all()
    assert set(folds) == set(range(5))
    for f in range(5):
        assert not set(groups[folds == f]) & set(groups[folds != f])
    assert (group_folds(groups, 5, seed=0) == folds).all()  # deterministic: controls share folds
    assert group_folds(["a", "a", "b"], 5).max() == 1  # at most one fold per group
    with pytest.raises(ValueError):
        group_folds(["a", "a"], 3)


def test_probe_sees_only_training_packages(monkeypatch):
    """Standardisation and fitting get training rows only: spy on the fold splitter."""
    import swejepa.phase0.probes as P

    X, props, groups = _data(n=200)
    seen = []
    orig = P._standardise

    def spy(xtr, xte):
        seen.append((len(xtr), len(xte)))
        return orig(xtr, xte)

    monkeypatch.setattr(P, "_standardise", spy)
    probe_all(X, props[["loc"]], groups, CFG)
    folds = group_folds(groups, 4, 0)
    outer = {(int((folds != f).sum()), int((folds == f).sum())) for f in range(4)}
    assert outer <= set(seen)
    assert all(a + b <= 200 for a, b in seen)


def test_surface_baseline_one_feature():
    X, props, groups = _data()
    r = probe_all(props["loc"].to_numpy(), props[["loc"]], groups, CFG)
    assert r.iloc[0]["r2_mean"] > 0.999


def test_probe_cells_end_to_end(tmp_path):
    from swejepa.phase0.jobs import probe_cells

    n = 240
    rng = np.random.default_rng(0)
    regions = pd.DataFrame({"region_id": [f"r{i}" for i in range(n)],
                            "func_key": [f"{i // 10}:{i}" if i % 8 else "" for i in range(n)],  # some handlers
                            "package": [f"pkg{i % 9}" for i in range(n)], "file_id": [i // 10 for i in range(n)]})
    fk = regions["func_key"][regions["func_key"] != ""]
    props = pd.DataFrame({"func_key": fk, "loc": rng.integers(1, 40, len(fk)),
                          "n_loops": rng.integers(0, 3, len(fk)), "side_effects": rng.random(len(fk)) > 0.5,
                          "return_category": rng.choice(["none", "primitive"], len(fk)), "parse_ok": True})
    regions.to_csv(tmp_path / "ast.csv", index=False)
    props.to_csv(tmp_path / "props.csv", index=False)
    sig = regions[["func_key"]].merge(props, on="func_key", how="left")[["loc"]].fillna(0).to_numpy(float)
    paths = [grid.write_synthetic(tmp_path / f"s{i}.h5", {"ast": n}, 0, ["half"], signal={"ast": sig},
                                  shard=i, n_shards=2) for i in range(2)]
    lay = Layout(str(tmp_path / "results"))
    out = lambda l, p: lay.probes_cell("t", "ast", l, p)  # noqa: E731
    probes = FAST.replace(max_samples=150)
    probe_cells(paths, "t", "ast", tmp_path / "ast.csv", tmp_path / "props.csv", ["half"], ["mean", "last"],
                probes, 0, lay)
    r = pd.read_csv(out("half", "mean")).set_index("property")
    assert r.loc["loc", "n"] == 150 and r.loc["loc", "r2_mean"] > 0.8
    assert r.loc["n_loops", "r2_mean"] < 0.1
    s = pd.read_csv(lay.probes_surface("t", "ast"))
    assert (s["features"] == "surface").all() and (s["n"] == 150).all() and (s["grouping"] == "package").all()
    # a single package: the CV falls back to grouping by file (never splits a file)
    regions.assign(package="one").to_csv(tmp_path / "ast.csv", index=False)
    probe_cells(paths, "t", "ast", tmp_path / "ast.csv", tmp_path / "props.csv", ["half"], ["mean"],
                probes, 0, lay)
    r = pd.read_csv(out("half", "mean"))
    assert (r["grouping"] == "file").all() and (r["n_folds"] > 0).all() and r["r2_mean"].notna().sum() == 2


def test_macro_f1_matches_sklearn():
    from sklearn.metrics import f1_score

    from swejepa.phase0.probes import macro_f1

    rng = np.random.default_rng(3)
    for _ in range(20):
        y = rng.choice(["a", "b", "c", "d"], size=40, p=[0.5, 0.3, 0.15, 0.05])
        p = rng.choice(["a", "b", "c", "e"], size=40)
        assert macro_f1(y, p) == pytest.approx(f1_score(y, p, average="macro", zero_division=0))
    assert macro_f1(np.array(["a", "a"]), np.array(["a", "a"])) == 1.0
