"""Verdicts that follow the seed's criteria (swejepa/verdicts.py) and the CIs behind them
(swejepa/uncertainty.py): the decision rule, the sign-aware Experiment 1.2 criterion, the
sanity checks that make a verdict `underpowered`, coverage and determinism of the intervals,
and (slow) one row per experiment in the smoke run's results/paper/verdicts.csv."""

import math

import numpy as np
import pandas as pd
import pytest

from swejepa import uncertainty as U
from swejepa import verdicts as V
from swejepa.settings import VerdictSettings

VS = VerdictSettings(resamples=500)


# --------------------------------------------------------------------------- the rule

@pytest.mark.parametrize("v, lo, hi, t, d, want", [
    (0.5, 0.4, 0.6, 0.8, "<", "met"), (0.9, 0.85, 0.95, 0.8, "<", "not_met"), (0.8, 0.7, 0.9, 0.8, "<", "underpowered"),
    (0.3, 0.1, 0.5, 0.0, ">", "met"), (-0.3, -0.5, -0.1, 0.0, ">", "not_met"), (0.1, -0.1, 0.3, 0.0, ">", "underpowered"),
    (25, 0, 25, 25, "<=", "met"), (50, 50, 75, 25, "<=", "not_met"), (25, 0, 50, 25, "<=", "underpowered"),
    (float("nan"), 0, 1, 0, ">", "underpowered"), (0.5, float("nan"), float("nan"), 0.0, ">", "met"),
])
def test_decide(v, lo, hi, t, d, want):
    assert V.decide(v, lo, hi, t, d) == want


def test_combinations():
    assert V.all_of(["met", "met"]) == "met" and V.all_of(["met", "underpowered"]) == "underpowered"
    assert V.all_of(["met", "not_met", "underpowered"]) == "not_met"
    assert V.any_of(["not_met", "met"]) == "met" and V.any_of(["not_met", "not_met"]) == "not_met"
    assert V.any_of(["not_met", "underpowered"]) == "underpowered" and V.any_of([]) == "underpowered"


def test_collect_orders_and_fills_every_experiment():
    df = V.collect([V.frame([V.row("1.2", "m", 0.1, 0, 0.2, 0.0, ">"), V.missing("0.1", "x")])])
    assert list(df["experiment"]) == list(V.EXPERIMENTS)
    assert list(df.columns) == V.COLUMNS
    assert set(df["verdict"]) <= set(V.VERDICTS)
    assert df.set_index("experiment").loc["2.1", "reason"] == "not run in this configuration"


def test_paper_outputs(tmp_path):
    """verdicts.csv has exactly the issue's columns (the success side is in the criterion
    text); the detail, the table and the macros carry the rest."""
    df = V.collect([V.frame([V.row("1.2", "rho", 0.5, 0.2, 0.7, -0.894, "<"),
                             V.row("3.1", "ce gain", 0.1, 0.05, 0.2, 0.0, ">", reason="x_y 50% <")])])
    V.write_outputs(df, csv=tmp_path / "v.csv", detail=tmp_path / "d.csv", macros_path=tmp_path / "m.tex",
                    level=0.9)
    out = pd.read_csv(tmp_path / "v.csv", dtype={"experiment": str})
    assert list(out.columns) == V.PAPER_COLUMNS and len(out) == len(V.EXPERIMENTS)
    r = out.set_index("experiment")
    assert r.loc["1.2", "verdict"] == "not_met" and r.loc["3.1", "verdict"] == "met"
    assert "below the threshold" in r.loc["1.2", "criterion"] and "after step 0" in r.loc["1.2", "criterion"]
    assert r.loc["0.2", "criterion"].endswith("above the threshold")          # also for a row with no value
    assert set(V.DIRECTIONS) == set(V.EXPERIMENTS)
    assert list(pd.read_csv(tmp_path / "d.csv").columns) == V.COLUMNS
    from swejepa import glance

    tex = glance.glance_tex(glance.read_verdicts(tmp_path / "d.csv"))   # the paper's table, from the detail
    assert "\\label{tab:verdicts}" in tex and "X\\_y 50\\% <" in tex
    m = (tmp_path / "m.tex").read_text()
    assert "\\newcommand{\\VerdictOneTwo}{not met}" in m and "\\newcommand{\\VerdictThreeOne}{met}" in m
    assert "\\newcommand{\\VerdictsMet}{1}" in m and "\\newcommand{\\VerdictsUnderpowered}{6}" in m
    assert "\\newcommand{\\VerdictsLevel}{90}" in m


# --------------------------------------------------------------------------- Experiment 1.2

def _series(metric_of_loss, n_ckpt=8, students=("a", "b"), noise=0.0, seed=0):
    """Checkpoints 0..n_ckpt-1 per student: the loss falls with the step, the metric is
    ``metric_of_loss(loss)`` (+ noise); step 0 is the untrained network, made an outlier."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in students:
        for i in range(n_ckpt):
            loss = 2.0 - 0.1 * i + 0.01 * rng.standard_normal()
            m = metric_of_loss(loss) + noise * rng.standard_normal()
            if i == 0:  # the untrained network: a high loss, and it wins by preserving token identity
                loss, m = 3.0, 0.95
            rows.append({"student": s, "step": 10 * i, "val_loss": loss, "probe_selectivity": m})
    return pd.DataFrame(rows)


def _exp12(points, vs=VS):
    table = V.exp12_table(points, ["probe_selectivity"], vs, seed=0)
    return V.exp12(table, vs)


def test_exp12_inverse_relation_is_not_met():
    # metric FALLS as the loss falls (the default run): the wrong direction
    row, summ = _exp12(_series(lambda l: 0.2 * l))
    assert row["verdict"] == "not_met"
    assert row["value"] > 0.9 and row["ci_low"] > 0          # rho(loss, metric) = +1
    assert row["direction"] == "<" and row["threshold"] == pytest.approx(-math.sqrt(0.8))


def test_exp12_step0_outlier_cannot_make_the_relation():
    # a flat metric after step 0: with step 0 a line would fit (R² near 1); without it, nothing
    pts = _series(lambda l: 0.3, noise=0.01)
    from swejepa.student.report import linear_fit

    a = pts[pts.student == "a"]
    assert linear_fit(a["val_loss"], a["probe_selectivity"])["r2"] > 0.8      # the old, sign-blind fit
    row, _ = _exp12(pts)
    assert row["verdict"] != "met"


def test_exp12_clean_positive_relation_is_met():
    row, summ = _exp12(_series(lambda l: 1.0 - 0.3 * l, n_ckpt=9))
    assert row["verdict"] == "met" and row["ci_high"] < -math.sqrt(0.8)
    assert list(summ["metric"]) == ["probe_selectivity"]


def test_exp12_too_few_checkpoints_is_underpowered():
    row, _ = _exp12(_series(lambda l: 1.0 - 0.3 * l, n_ckpt=4))    # 3 after step 0 < min_checkpoints
    assert row["verdict"] == "underpowered"
    assert "fewer than" in row["reason"]


def test_exp12_every_student_must_hold():
    pts = pd.concat([_series(lambda l: 1.0 - 0.3 * l, students=("good",)),
                     _series(lambda l: 0.2 * l, students=("bad",))])
    row, summ = _exp12(pts)
    assert row["verdict"] == "not_met" and "bad" in row["metric"]


def test_exp12_states_the_fallback_when_hard_retrieval_is_absent():
    table = V.exp12_table(_series(lambda l: 1.0 - 0.3 * l, n_ckpt=9), ["probe_selectivity"], VS, seed=0)
    row, _ = V.exp12(table, VS, absent=["hard_mrr", "hard_recall1"])
    assert row["verdict"] == "met" and "not measured: hard_mrr, hard_recall1" in row["reason"]
    assert "falls back" in row["reason"]
    assert "not measured" not in V.exp12(table, VS)[0]["reason"]


def test_exp12_no_criterion_metric_is_underpowered():
    row, _ = V.exp12(pd.DataFrame(columns=V.CRITERION_COLUMNS), VS)
    assert row["verdict"] == "underpowered"


def test_student_report_criterion_is_sign_aware():
    from swejepa.student.report import _criterion

    corr = pd.DataFrame({"student": ["a", "b", "all"], "metric": ["m"] * 3, "r2": [0.95, 0.9, 0.9],
                         "slope": [1.0, 1.0, 1.0]})
    assert _criterion(corr).set_index("metric").loc["m", "r2"] == 0.0   # lower loss, lower metric: not a pass


def test_student_report_macros_follow_the_verdict(tmp_path):
    """The paper's macros never say "met" for a wrong-direction relation."""
    from swejepa.student.report import _macros

    pts = _series(lambda l: 0.2 * l)
    row12, summ = _exp12(pts)
    summary = pd.DataFrame([{"teacher": "a", "student": "main", "val_loss": 1.0, "token_ratio": 0.9,
                             "token_ratio_ci_low": 0.8, "token_ratio_ci_high": 0.95, "token_top1": 0.2,
                             "std_ratio": 0.5, "chance_top1": 0.1, "params_M": 1.0, "steps": 10}])
    row11 = V.exp11({"a": {"token_ratio": 0.9, "token_ratio_ci_low": 0.8, "token_ratio_ci_high": 0.95,
                           "token_n_owners": 50}}, VS)
    mac = _macros(summary, summ, row11, row12, -math.sqrt(0.8))
    assert mac["StudentCorrCriterionMet"] is False and mac["StudentCorrVerdict"] == "not met"
    assert mac["StudentSuccessVerdict"] == "met"


# --------------------------------------------------------------------------- 1.1, 2.1, 2.2, 3.1

def test_exp11_ratio_with_ci():
    ok = {"token_ratio": 0.9, "token_ratio_ci_low": 0.85, "token_ratio_ci_high": 0.95, "token_n_owners": 60}
    assert V.exp11({"a": ok}, VS)["verdict"] == "met"
    wide = dict(ok, token_ratio_ci_high=1.02)
    r = V.exp11({"a": ok, "b": wide}, VS)
    assert r["verdict"] == "underpowered" and r["value"] == 0.9 and "(worst: " in r["metric"]
    assert V.exp11({"a": dict(ok, token_n_owners=5)}, VS)["verdict"] == "underpowered"


def _units(mean, n=200, seed=0, sd=0.05):
    return [np.random.default_rng(seed).normal(mean, sd, n)]


def test_exp21_ratio_and_sanity():
    vals = {"small": _units(0.50, seed=1), "large": _units(0.51, seed=2), "untrained": _units(0.10, seed=3)}
    r = V.exp21(vals, small="small", large="large", best="large", metric="m", vs=VS, seed=0)
    assert r["verdict"] == "met" and 0 <= r["ci_low"] <= r["value"] <= r["ci_high"] < 0.5
    # the best teacher's student no better than the untrained one: the instrument fails
    flat = {"small": _units(0.10, seed=1), "large": _units(0.11, seed=2), "untrained": _units(0.105, seed=3)}
    r = V.exp21(flat, small="small", large="large", best="large", metric="m", vs=VS, seed=0)
    assert r["verdict"] == "underpowered" and "untrained" in r["reason"]
    r = V.exp21({"small": [None], "large": [None], "untrained": [None]}, small="small", large="large", best="large",
                metric="hard_mrr", vs=VS, seed=0)
    assert r["verdict"] == "underpowered"


def test_exp22_argmax_share():
    sweep = {0: _units(0.5, seed=1), 25: _units(0.4, seed=2), 50: _units(0.3, seed=3), 75: _units(0.2, seed=4)}
    r = V.exp22({"t": sweep}, _units(0.1, seed=9), metric="m", vs=VS, seed=0)
    assert r["verdict"] == "met" and r["value"] == 0 and r["ci_high"] <= 25
    rev = {k: _units(0.2 + 0.004 * k, seed=k + 1) for k in (0, 25, 50, 75)}
    assert V.exp22({"t": rev}, _units(0.1, seed=9), metric="m", vs=VS, seed=0)["verdict"] == "not_met"
    same = {k: _units(0.1, seed=k + 1) for k in (0, 50)}
    r = V.exp22({"t": same}, _units(0.1, seed=9), metric="m", vs=VS, seed=0)
    assert r["verdict"] == "underpowered"


def _examples(gain_latent, gain_oracle, n=100, seed=0):
    rng = np.random.default_rng(seed)
    tok = rng.integers(5, 40, n)
    base = rng.uniform(3, 6, n)
    rows = []
    for sysname, g in (("nolatent", 0.0), ("latent", gain_latent), ("oracle", gain_oracle)):
        ce = (base - g + 0.05 * rng.standard_normal(n)) * tok
        for i in range(n):
            rows.append({"system": sysname, "latent": "none" if sysname == "nolatent" else "own",
                         "region": str(i), "ce_sum": ce[i], "n_tokens": int(tok[i])})
    return pd.DataFrame(rows)


def test_exp31_oracle_must_beat_nolatent():
    r = V.exp31(_examples(0.3, 0.6), None, VS, 0)
    assert r["verdict"] == "met" and r["ci_low"] > 0
    r = V.exp31(_examples(0.3, -0.05), None, VS, 0)   # oracle no better than no latent
    assert r["verdict"] == "underpowered" and "oracle" in r["reason"]
    r = V.exp31(_examples(-0.3, 0.6), None, VS, 0)
    assert r["verdict"] == "not_met"
    no_oracle = _examples(0.3, 0.6)
    assert V.exp31(no_oracle[no_oracle.system != "oracle"], None, VS, 0)["verdict"] == "underpowered"


def test_exp02_needs_the_headline_columns():
    assert V.exp02(None, ["t"], VS)["reason"].startswith("no headline")
    assert V.exp02(pd.DataFrame({"teacher": ["t"], "mrr": [0.4]}), ["t"], VS)["reason"].startswith("no headline")
    h = pd.DataFrame({"teacher": ["t", "u", "tfidf"], "mrr": [0.5, 0.3, 0.2], "gain_mrr": [0.2, -0.1, 0.0],
                      "gain_mrr_ci_low": [0.1, -0.2, 0.0], "gain_mrr_ci_high": [0.3, 0.0, 0.0]})
    r = V.exp02(h, ["t", "u"], VS)
    assert r["verdict"] == "met" and r["value"] == 0.2 and "teacher t" in r["reason"]


def test_exp01_best_cell_and_ci_columns():
    st = pd.DataFrame({"teacher": ["t", "t", "r"], "mask": ["ast"] * 3, "layer": ["first", "last", "last"],
                       "pool": ["mean"] * 3, "cos_mean": [0.95, 0.6, 0.1], "n": [300] * 3,
                       "cos_mean_lo": [0.94, 0.55, 0.05], "cos_mean_hi": [0.96, 0.65, 0.15]})
    r = V.exp01(st, ["r"], "ast", VS)          # the random teacher is the control, not a candidate
    assert r["verdict"] == "met" and r["value"] == 0.6
    r = V.exp01(st.drop(columns=["cos_mean_lo", "cos_mean_hi"]).assign(cos_mean=[0.95, 0.93, 0.1]),
                ["r"], "ast", VS)
    assert r["verdict"] == "not_met" and "no CI" in r["reason"]


# --------------------------------------------------------------------------- the intervals

def test_mean_ci_coverage_and_determinism():
    rng = np.random.default_rng(1)
    hits = 0
    for rep in range(200):
        x = rng.exponential(1.0, 60)
        _, lo, hi = U.mean_ci(x, 400, 0.9, seed=rep)
        hits += lo <= 1.0 <= hi
    assert 0.82 <= hits / 200 <= 0.97       # nominal 0.9 (percentile bootstrap, skewed data, n=60)
    x = rng.normal(size=50)
    assert U.mean_ci(x, 300, 0.95, seed=3) == U.mean_ci(x, 300, 0.95, seed=3)


def test_t_interval_coverage():
    rng = np.random.default_rng(2)
    hits = sum(lo <= 0.3 <= hi for lo, hi in
               (U.t_interval(rng.normal(0.3, 1.0, 5), 0.95)[1:] for _ in range(400)))
    assert 0.92 <= hits / 400 <= 0.98


def test_spearman_ci():
    x = np.arange(10.0)
    assert U.spearman_ci(x, -x, 300, 0.95, 0) == pytest.approx((-1.0, -1.0, -1.0))
    rho, lo, hi = U.spearman_ci(x, np.random.default_rng(0).normal(size=10), 300, 0.95, 0)
    assert lo < rho < hi and lo < 0 < hi


def test_ratio_ci_of_sums():
    num, den = np.array([1.0, 2, 3, 4]), np.array([2.0, 4, 6, 8])
    v, lo, hi = U.ratio_ci(num, den, 200, 0.95, 0)
    assert v == lo == hi == pytest.approx(0.5)


# --------------------------------------------------------------------------- the smoke run

@pytest.mark.slow
def test_smoke_run_has_a_verdict_per_experiment(smoke_run):
    path = smoke_run.results / "paper" / "verdicts.csv"
    df = pd.read_csv(path, dtype={"experiment": str})
    assert list(df.columns) == V.PAPER_COLUMNS == ["experiment", "criterion", "metric", "value", "ci_low",
                                                   "ci_high", "threshold", "verdict"]
    assert list(df["experiment"]) == list(V.EXPERIMENTS)
    assert set(df["verdict"]) <= set(V.VERDICTS)
    detail = pd.read_csv(smoke_run.results / "paper" / "verdicts_detail.csv", dtype={"experiment": str})
    assert list(detail.columns) == V.COLUMNS and list(detail["verdict"]) == list(df["verdict"])
    assert detail["reason"].astype(str).str.len().min() > 0
    # the paper prints them: the table and one macro per criterion
    assert "tab:verdicts" in (smoke_run.results / "paper" / "generated" / "sec_glance.tex").read_text()
    vm = (smoke_run.results / "macros" / "verdicts.tex").read_text()
    for e, v in zip(df["experiment"], df["verdict"]):
        assert f"\\{V.macro_name(e)}}}{{{v.replace('_', ' ')}}}" in vm
    # the stage macros agree with the verdicts (the paper never claims "met" where it is not)
    mac = (smoke_run.results / "macros" / "student.tex").read_text()
    v12 = df.set_index("experiment").loc["1.2", "verdict"]
    assert f"\\StudentCorrVerdict}}{{{v12.replace('_', ' ')}}}" in mac
    assert ("\\StudentCorrCriterionMet}{yes}" in mac) == (v12 == "met")
    p2 = (smoke_run.results / "macros" / "phase2.tex").read_text()
    assert ("\\phasetwoCriterionHolds}{yes}" in p2) == (df.set_index("experiment").loc["2.1", "verdict"] == "met")


def test_student_selectivity_units_average_to_the_r2_gap():
    """probe_selectivity's per-function contributions (the units of 2.1/2.2's bootstrap)
    average exactly to mean_p (R2_oof(student) - R2_oof(surface))."""
    from swejepa.phase0.probes import probe_all
    from swejepa.settings import ProbeSettings
    from swejepa.student.evaluate import _selectivity_units

    rng = np.random.default_rng(0)
    n = 240
    X = rng.standard_normal((n, 6))
    length = rng.integers(2, 60, n).astype(float)
    props = pd.DataFrame({"loc": np.round(length + 3 * np.abs(X[:, 0])), "n_loops": rng.integers(0, 3, n),
                          "side_effects": rng.random(n) > 0.5})
    groups = np.array([f"p{i % 8}" for i in range(n)])
    cfg = ProbeSettings(folds=3, inner_folds=2, alphas=(1.0, 100.0), Cs=(1.0,), max_iter=100)
    lat = probe_all(np.c_[X, np.log1p(length)], props, groups, cfg)
    sur = probe_all(np.log1p(length)[:, None], props, groups, cfg)
    u = _selectivity_units(lat, sur)
    gap = (lat.set_index("property")["r2_oof"] - sur.set_index("property")["r2_oof"])[["loc", "n_loops"]].mean()
    assert len(u) == n and u.mean() == pytest.approx(gap)
