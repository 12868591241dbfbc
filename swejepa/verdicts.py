"""The seed's success criteria as verdicts with uncertainty: ``results/paper/verdicts.csv``.

One row per success criterion of the seed (``../shared/seed/SWE-JEPA.md``, "Success
criteria" of Experiments 0.1, 0.2, 0.3, 1.1, 1.2, 2.1, 2.2 and 3.1), columns
:data:`COLUMNS`: ``experiment, criterion, metric, value, ci_low, ci_high, threshold,
direction, verdict, reason``. ``direction`` says on which side of ``threshold`` success
lies (``<``, ``<=``, ``>``). The verdict (:func:`decide`):

* ``met`` — the whole CI ``[ci_low, ci_high]`` lies on the success side of the threshold;
* ``not_met`` — the whole CI lies on the other side;
* ``underpowered`` — the CI straddles the threshold, or the instrument's own sanity check
  fails (too few queries/functions/regions/checkpoints, ``verdicts.min_units`` and
  ``verdicts.min_checkpoints``; the oracle decoder does not beat the no-latent one; the best
  teacher's student does not beat the untrained one; a metric is not measured in this run).

``reason`` is generated plain text: the numbers behind the verdict, for the paper's table.
Thresholds are settings (:class:`swejepa.settings.VerdictSettings`, each with its reason);
every CI is two-sided at ``verdicts.level`` and every bootstrap draws ``verdicts.resamples``
resamples from ``default_rng(seed)`` (:mod:`swejepa.uncertainty`), so verdicts are
deterministic. The criteria, their metric and how each CI is computed:

* **0.1** (:func:`exp01`) "representations from different functions should be meaningfully
  separated (cosine sim distribution not concentrated near 1.0); at least one layer shows
  clear differentiation": the lowest mean pairwise cosine over the region-level cells (pools
  mean/last, the paper's mask, raw vectors where the stats table has a ``center`` axis) of
  the trained teachers (``random`` teachers are the control) ``< verdicts.max_mean_cosine``.
  CI: the stats table's ``cos_mean_lo``/``cos_mean_hi`` (Phase 0.1's bootstrap over the sampled regions);
  without them the verdict rests on the point value and the reason says so.
* **0.2** (:func:`exp02`) "nearest neighbours semantically related, not just syntactically
  similar": the best trained teacher's gain on the lexically hard part of the benchmark
  over the better of TF-IDF and the random-init teacher ``> verdicts.min_gain``, read from
  ``results/phase0/retrieval/headline.csv`` (:data:`HEADLINE_COLUMNS`: Phase 0.2's
  paired bootstrap over queries). Without that file or those columns: underpowered, reason
  "no headline".
* **0.3** (:func:`exp03`) "some structural properties linearly decodable": the best
  selectivity (probe score minus the better of the surface baseline and the random-init
  teacher, same functions and folds; :func:`swejepa.phase0.report.add_selectivity`) over
  properties and layers of the trained teachers (the paper's mask and pool)
  ``> verdicts.min_selectivity``. CI: t interval over the k outer folds of the fold-by-fold
  difference. The maximum over cells is not corrected for the selection (the reason gives
  the number of cells).
* **1.1** (:func:`exp11`) "student predictions closer to teacher targets than to random
  hidden states from other positions": the token-level distance ratio own/other ``< 1`` for
  every main student (the row shows the worst). CI: percentile bootstrap over val regions
  (``success.json``, :func:`swejepa.student.evaluate.success_check`).
* **1.2** (:func:`exp12`) "strong correlation (R² > 0.8) between student loss and at least
  one downstream metric", with SALT's direction: a *lower* loss predicts a *better* metric.
  Statistic used for the verdict: Spearman's rho(val loss, metric) over the checkpoints
  *after step 0* (step 0 — the untrained network — is an outlier on every metric that
  rewards token identity), ``< -sqrt(verdicts.corr_r2)``; for each metric in
  ``verdicts.corr_metrics`` the worst main student of a non-random teacher counts, and the
  criterion is met when one metric meets it. CI: percentile bootstrap over checkpoints.
  Pearson R² without step 0 is reported beside it (``results/student/criterion.csv``).
* **2.1** (:func:`exp21`) "the gap between 3B- and 8B-teacher students small relative to the
  gap between an untrained baseline and any teacher": ``|q(large) - q(small)| / (q(best) -
  q(untrained)) < verdicts.teacher_gap_ratio``, q = seed mean of ``phase2.metric``. CI:
  paired bootstrap over the benchmark's hard queries or the probed functions (every student
  is evaluated on the same units), and over seeds too where every teacher has several.
  Sanity: ``q(best) - q(untrained)`` must be > 0 with confidence, else underpowered.
* **2.2** (:func:`exp22`) "the optimal allocation overwhelmingly favours the student": the
  teacher share of the best sweep point ``<= verdicts.alloc_max_teacher_percent``, for every
  compute teacher. CI: the percentile interval of the arg-max share over the same paired
  bootstrap. Sanity: the best point must beat the untrained student with confidence.
* **3.1** (:func:`exp31`) "the latent-conditioned decoder produces correct code at a higher
  rate or lower cost than a baseline of equal total parameter count": held-out body
  cross-entropy (nats/token) of the equal-parameter no-latent decoder minus the latent
  decoder's ``> 0`` (pass@k is 0 for every system at toy scale; it and the FLOPs per sample
  are in the reason). CI: paired bootstrap over held-out regions of the token-weighted CE
  difference (``heldout_examples.csv``). Sanity: the oracle decoder (the teacher's own
  latents) must beat the no-latent decoder with confidence, else the instrument cannot see
  a latent's benefit and the verdict is underpowered.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .settings import VerdictSettings
from .uncertainty import percentile_ci, ratio_ci, resample_indices, spearman, spearman_ci

COLUMNS = ["experiment", "criterion", "metric", "value", "ci_low", "ci_high", "threshold", "direction", "verdict",
           "reason"]
# results/paper/verdicts.csv has exactly these columns (the contract); the success
# side of the threshold is stated in ``criterion``, and the full rows (with ``direction`` and
# ``reason``) go to ``verdicts_detail.csv`` and the paper's table.
PAPER_COLUMNS = ["experiment", "criterion", "metric", "value", "ci_low", "ci_high", "threshold", "verdict"]
EXPERIMENTS = ("0.1", "0.2", "0.3", "1.1", "1.2", "2.1", "2.2", "3.1")
MET, NOT_MET, UNDERPOWERED = "met", "not_met", "underpowered"
VERDICTS = (MET, NOT_MET, UNDERPOWERED)
NAN = float("nan")

CRITERIA = {
    "0.1": "representations of different functions are separated, not concentrated near cosine 1 "
           "(best-differentiated cell of a trained teacher)",
    "0.2": "neighbours are semantically related, not just syntactically similar "
           "(lexically hard part, gain over the better of TF-IDF and the random-init teacher)",
    "0.3": "some structural properties are linearly decodable beyond the controls "
           "(selectivity over the better of the surface baseline and the random-init teacher)",
    "1.1": "predictions are closer to their own target than to targets of other positions (every main student)",
    "1.2": "a lower student loss goes with a better downstream metric, for at least one metric "
           "(rank correlation over checkpoints after step 0, worst student)",
    "2.1": "the gap between small- and large-teacher students is small relative to the gap between the "
           "untrained student and the best teacher's",
    "2.2": "the best split of a fixed budget favours the student (share of the budget spent on the teacher)",
    "3.1": "the latent-conditioned decoder beats the no-latent decoder of equal total parameters "
           "(held-out body cross-entropy)",
}

# The columns of results/phase0/retrieval/headline.csv that Experiment 0.2's verdict reads
# (written by the retrieval stage): one row per teacher, its best cell on the lexically hard
# part. `teacher`; the gain over the better baseline, in MRR (preferred) or R@1, with the
# paired-bootstrap CI: gain_mrr, gain_mrr_ci_low, gain_mrr_ci_high (or gain_recall1*); the
# teacher's own value and CI (mrr, mrr_ci_low, mrr_ci_high; recall1*). Optional: layer, pool,
# center, baseline (name of the better baseline), baseline_mrr, n_queries. Rows whose teacher
# is not a configured non-random teacher (baseline rows) are ignored.
HEADLINE_COLUMNS = ("teacher", "gain_mrr", "gain_mrr_ci_low", "gain_mrr_ci_high")
HEADLINE_GAINS = ("mrr", "recall1")
NO_HEADLINE = ("no headline: this build has no results/phase0/retrieval/headline.csv with the gain on the "
               "lexically hard part (no benchmark item flagged hard, or no retrieval stage that writes it); "
               "the easy refactor/spec tasks are solved by lexical overlap and are not used for this criterion")


def _f(v) -> float:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return NAN
    return v


def _fin(*vs) -> bool:
    return all(math.isfinite(_f(v)) for v in vs)


def _n(v, digits: int = 3) -> str:
    v = _f(v)
    if not math.isfinite(v):
        return "inf" if v == math.inf else ("-inf" if v == -math.inf else "n/a")
    return f"{v:.{digits}f}"


def _ci(lo, hi, digits: int = 3) -> str:
    return f"[{_n(lo, digits)}, {_n(hi, digits)}]" if _fin(lo, hi) or math.isinf(_f(hi)) else "(no CI)"


# ----------------------------------------------------------------------------- the rule

def decide(value, lo, hi, threshold: float, direction: str) -> str:
    """``met`` / ``not_met`` / ``underpowered`` (module doc). ``direction``: ``<``, ``<=``,
    ``>`` or ``>=`` (success side of ``threshold``). Without a CI (``lo``/``hi`` nan) the
    point value decides; without a value: underpowered."""
    v, lo, hi, t = _f(value), _f(lo), _f(hi), float(threshold)
    if math.isnan(v):
        return UNDERPOWERED
    if math.isnan(lo) or math.isnan(hi):
        lo = hi = v
    ok = {"<": lambda x: x < t, "<=": lambda x: x <= t, ">": lambda x: x > t, ">=": lambda x: x >= t}[direction]
    if ok(lo) and ok(hi):
        return MET
    if not ok(lo) and not ok(hi):
        return NOT_MET
    return UNDERPOWERED


def row(experiment: str, metric: str, value=NAN, lo=NAN, hi=NAN, threshold=NAN, direction: str = "",
        verdict: str | None = None, reason: str = "") -> dict:
    """One verdict row; the verdict follows :func:`decide` unless given (a failed sanity check)."""
    if verdict is None:
        verdict = decide(value, lo, hi, threshold, direction) if direction else UNDERPOWERED
    if verdict not in VERDICTS:
        raise ValueError(f"verdict {verdict!r} is not one of {VERDICTS}")
    return {"experiment": experiment, "criterion": criterion_text(experiment), "metric": metric, "value": _f(value),
            "ci_low": _f(lo), "ci_high": _f(hi), "threshold": _f(threshold), "direction": direction,
            "verdict": verdict, "reason": reason}


SIDES = {"<": "below", "<=": "at or below", ">": "above", ">=": "at or above"}
# The success side of each criterion's threshold (what ``direction`` holds in every row).
DIRECTIONS = {"0.1": "<", "0.2": ">", "0.3": ">", "1.1": "<", "1.2": "<", "2.1": "<", "2.2": "<=", "3.1": ">"}


def criterion_text(experiment: str) -> str:
    """The ``criterion`` cell: the seed's criterion and the success side of the threshold
    (verdicts.csv has no direction column)."""
    return f"{CRITERIA[experiment]}; met when the CI of the value lies {SIDES[DIRECTIONS[experiment]]} the threshold"


def missing(experiment: str, reason: str) -> dict:
    return row(experiment, "", verdict=UNDERPOWERED, reason=reason)


def all_of(verdicts) -> str:
    """Every part must hold: not_met if one is not met, else underpowered if one is, else met."""
    vs = list(verdicts)
    if not vs:
        return UNDERPOWERED
    return NOT_MET if NOT_MET in vs else (UNDERPOWERED if UNDERPOWERED in vs else MET)


def any_of(verdicts) -> str:
    """At least one part must hold: met if one is met, else not_met if all are, else underpowered."""
    vs = list(verdicts)
    if not vs:
        return UNDERPOWERED
    return MET if MET in vs else (NOT_MET if all(v == NOT_MET for v in vs) else UNDERPOWERED)


def frame(rows) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=COLUMNS)


def collect(frames, experiments=EXPERIMENTS) -> pd.DataFrame:
    """The stage rows in the seed's order; an experiment with no row gets one
    (underpowered: not run in this configuration)."""
    df = pd.concat([f for f in frames if f is not None and len(f)], ignore_index=True) if frames else frame([])
    if not len(df):
        df = frame([])
    out = []
    for e in experiments:
        got = df[df["experiment"].astype(str) == e]
        out += got.to_dict("records") if len(got) else [missing(e, "not run in this configuration")]
    res = frame(out)
    res["criterion"] = [criterion_text(str(e)) for e in res["experiment"]]  # one wording, whoever wrote the row
    return res


# ----------------------------------------------------------------------------- 0.1

def exp01(stats: pd.DataFrame, random_teachers, main_mask: str, vs: VerdictSettings) -> dict:
    """Experiment 0.1 (module doc) from ``results/phase0/stats/all.csv``."""
    s = stats[(stats["mask"] == main_mask) & stats["pool"].isin(["mean", "last"])
              & ~stats["teacher"].isin(list(random_teachers))].copy()
    if "center" in s:
        s = s[s["center"].astype(str) == "raw"]
    s = s[pd.to_numeric(s["cos_mean"], errors="coerce").notna()]
    if not len(s):
        return missing("0.1", "no region-level statistics of a trained teacher")
    b = s.sort_values(["cos_mean", "teacher", "layer", "pool"], kind="stable").iloc[0]
    lo, hi = _f(b.get("cos_mean_lo", NAN)), _f(b.get("cos_mean_hi", NAN))
    where = f"teacher {b['teacher']}, layer {b['layer']}, pool {b['pool']}"
    n = int(_f(b.get("n", 0)) or 0)
    note = "" if _fin(lo, hi) else "; no CI in the stats table: the point value decides"
    reason = (f"mean pairwise cosine {_n(b['cos_mean'])} {_ci(lo, hi)} at {where} ({n} regions; "
              f"share of pairs above 0.9: {_n(b.get('frac_above_0.9', NAN), 2)}){note}")
    if n < vs.min_units:
        return row("0.1", "mean pairwise cosine", b["cos_mean"], lo, hi, vs.max_mean_cosine, "<", UNDERPOWERED,
                   reason + f"; fewer than {vs.min_units} regions")
    return row("0.1", "mean pairwise cosine", b["cos_mean"], lo, hi, vs.max_mean_cosine, "<", reason=reason)


# ----------------------------------------------------------------------------- 0.2

def exp02(headline: pd.DataFrame | None, teachers, vs: VerdictSettings) -> dict:
    """Experiment 0.2 (module doc) from ``headline.csv`` (:data:`HEADLINE_COLUMNS`);
    ``teachers``: the configured non-random teachers."""
    if headline is None or "teacher" not in headline:
        return missing("0.2", NO_HEADLINE)
    gain = next((g for g in HEADLINE_GAINS if {f"gain_{g}", f"gain_{g}_ci_low", f"gain_{g}_ci_high"}
                 <= set(headline.columns)), None)
    if gain is None:
        return missing("0.2", NO_HEADLINE)
    h = headline[headline["teacher"].astype(str).isin(list(teachers))].copy()
    h[f"gain_{gain}"] = pd.to_numeric(h[f"gain_{gain}"], errors="coerce")
    h = h.dropna(subset=[f"gain_{gain}"])
    if not len(h):
        return missing("0.2", NO_HEADLINE)
    b = h.sort_values([f"gain_{gain}", "teacher"], ascending=[False, True], kind="stable").iloc[0]
    label = {"mrr": "MRR", "recall1": "R@1"}[gain]
    where = ", ".join(f"{k} {b[k]}" for k in ("layer", "pool", "center") if k in b and pd.notna(b[k]))
    base = f" over {b['baseline']}" if "baseline" in b and pd.notna(b.get("baseline")) else \
        " over the better of TF-IDF and the random-init teacher"
    own = f"hard {label} {_n(b.get(gain, NAN))} {_ci(b.get(f'{gain}_ci_low', NAN), b.get(f'{gain}_ci_high', NAN))}; " \
        if gain in b else ""
    reason = (f"teacher {b['teacher']}{' (' + where + ')' if where else ''}: {own}gain{base} "
              f"{_n(b[f'gain_{gain}'])} {_ci(b[f'gain_{gain}_ci_low'], b[f'gain_{gain}_ci_high'])} "
              f"(best of {len(h)} teachers)")
    nq = _f(b.get("n_queries", NAN))
    args = ("0.2", f"hard {label} gain over the better baseline", b[f"gain_{gain}"], b[f"gain_{gain}_ci_low"],
            b[f"gain_{gain}_ci_high"], vs.min_gain, ">")
    if math.isfinite(nq) and nq < vs.min_units:
        return row(*args, UNDERPOWERED, reason + f"; {int(nq)} hard queries, fewer than {vs.min_units}")
    return row(*args, reason=reason)


# ----------------------------------------------------------------------------- 0.3

def exp03(probes: pd.DataFrame, main_mask: str, main_pool: str, vs: VerdictSettings) -> dict:
    """Experiment 0.3 (module doc) from ``results/phase0/probes/all.csv`` (with the
    selectivity columns of :func:`swejepa.phase0.report.add_selectivity`)."""
    if "selectivity" not in probes:
        return missing("0.3", "no selectivity in the probes table")
    lat = probes[(probes["features"] == "latent") & (probes["mask"] == main_mask) & (probes["pool"] == main_pool)
                 & ~probes["random_control"].astype(bool)]
    lat = lat[pd.to_numeric(lat["selectivity"], errors="coerce").notna()]
    if not len(lat):
        return missing("0.3", "no probe of a trained teacher with a control on the same folds")
    b = lat.sort_values(["selectivity", "teacher", "property", "layer"], ascending=[False, True, True, True],
                        kind="stable").iloc[0]
    metric = "R2 (log1p)" if b["task"] == "regression" and b.get("target_scale") == "log1p" else \
        ("R2" if b["task"] == "regression" else "macro-F1")
    ctrl = "surface baseline" if b["control"] == "surface" else "random-init teacher"
    n, k = int(_f(b["n"])), int(_f(b["n_folds"]))
    reason = (f"{b['property']} ({metric}), teacher {b['teacher']}, layer {b['layer']}: score {_n(b['score'])} "
              f"vs {ctrl} {_n(b['surface_score'] if b['control'] == 'surface' else b['random_score'])}; "
              f"selectivity {_n(b['selectivity'])} {_ci(b['selectivity_ci_low'], b['selectivity_ci_high'])} over "
              f"{k} folds, {n} functions; best of {len(lat)} cells (not corrected for the selection); "
              f"{int((pd.to_numeric(lat['selectivity_ci_low'], errors='coerce') > vs.min_selectivity).sum())} "
              f"cells with the whole CI above {_n(vs.min_selectivity, 2)}")
    args = ("0.3", f"probe selectivity ({b['property']})", b["selectivity"], b["selectivity_ci_low"],
            b["selectivity_ci_high"], vs.min_selectivity, ">")
    if n < vs.min_units or k < 2:
        return row(*args, UNDERPOWERED, reason + f"; needs {vs.min_units} functions and 2 folds")
    return row(*args, reason=reason)


# ----------------------------------------------------------------------------- 1.1

def exp11(successes: dict, vs: VerdictSettings) -> dict:
    """Experiment 1.1 (module doc); ``successes``: ``{teacher: success.json dict}`` of the
    main students."""
    if not successes:
        return missing("1.1", "no main student")
    parts, verdicts, cand = [], [], []
    for t, s in successes.items():
        v, lo, hi = _f(s.get("token_ratio")), _f(s.get("token_ratio_ci_low")), _f(s.get("token_ratio_ci_high"))
        n = int(_f(s.get("token_n_owners", s.get("n_val_regions", 0))) or 0)
        d = decide(v, lo, hi, 1.0, "<") if n >= vs.min_units else UNDERPOWERED
        verdicts.append(d)
        parts.append(f"{t} {_n(v)} {_ci(lo, hi)} ({n} regions, top-1 {_n(s.get('token_top1'), 2)} vs chance "
                     f"{_n(s.get('token_chance_top1'), 2)})")
        cand.append((v if math.isfinite(v) else math.inf, t, v, lo, hi))
    worst = max(cand, key=lambda c: (c[0], c[1]))[1:]   # the largest ratio (a missing one counts as worst)
    reason = "token distance ratio own/other: " + "; ".join(parts)
    if any(int(_f(s.get("token_n_owners", s.get("n_val_regions", 0))) or 0) < vs.min_units
           for s in successes.values()):
        reason += f"; a student has fewer than {vs.min_units} val regions"
    return row("1.1", f"token distance ratio own/other (worst: {worst[0]})", worst[1], worst[2], worst[3], 1.0, "<",
               all_of(verdicts), reason)


# ----------------------------------------------------------------------------- 1.2

def _fit(x, y) -> tuple[float, float]:
    """(slope, R²) of a least-squares line; nan when undefined."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return NAN, NAN
    b, a = np.polyfit(x, y, 1)
    r2 = 1.0 - ((y - (a + b * x)) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    return float(b), float(r2)


CRITERION_COLUMNS = ["metric", "student", "n", "rho", "rho_ci_low", "rho_ci_high", "slope", "r2", "threshold",
                     "verdict"]


def exp12_table(points: pd.DataFrame, metrics, vs: VerdictSettings, seed: int, loss_col: str = "val_loss",
                student_col: str = "student") -> pd.DataFrame:
    """Per (metric, student): the checkpoints after step 0 with finite values (``n``),
    Spearman's rho(loss, metric) with its bootstrap CI over checkpoints, the least-squares
    slope and R² on the same points, and the per-student verdict (rho < -sqrt(corr_r2);
    underpowered below ``min_checkpoints`` points). :data:`CRITERION_COLUMNS`."""
    thr = -math.sqrt(vs.corr_r2)
    rows = []
    if not len(points):
        return pd.DataFrame(columns=CRITERION_COLUMNS)
    pts = points[pd.to_numeric(points["step"], errors="coerce") > 0]
    for m in metrics:
        if m not in pts:
            continue
        for si, (st, d) in enumerate(pts.groupby(student_col, sort=True)):
            x = pd.to_numeric(d[loss_col], errors="coerce").to_numpy(float)
            y = pd.to_numeric(d[m], errors="coerce").to_numpy(float)
            ok = np.isfinite(x) & np.isfinite(y)
            x, y = x[ok], y[ok]
            if len(x) == 0:
                continue
            rho, lo, hi = spearman_ci(x, y, vs.resamples, vs.level, seed + si)
            slope, r2 = _fit(x, y)
            v = decide(rho, lo, hi, thr, "<") if len(x) >= vs.min_checkpoints else UNDERPOWERED
            rows.append({"metric": m, "student": st, "n": int(len(x)), "rho": rho, "rho_ci_low": lo,
                         "rho_ci_high": hi, "slope": slope, "r2": r2, "threshold": thr, "verdict": v})
    return pd.DataFrame(rows, columns=CRITERION_COLUMNS)


def _absent_note(absent) -> str:
    absent = list(absent)
    if not absent:
        return ""
    hard = [m for m in absent if m.startswith("hard_")]
    why = (" (no benchmark item is flagged hard in this run: the lexically hard retrieval is absent, "
           "the verdict falls back to the other criterion metrics)") if hard else ""
    return f"; not measured: {', '.join(absent)}{why}"


def exp12(table: pd.DataFrame, vs: VerdictSettings, absent=()) -> tuple[dict, pd.DataFrame]:
    """Experiment 1.2's row from :func:`exp12_table` (non-random teachers' main students),
    and the per-metric summary (worst student: the highest rho; all students must hold;
    ``metric, student, n, rho, rho_ci_low, rho_ci_high, r2, slope, verdict``), best first.
    ``absent``: criterion metrics (``verdicts.corr_metrics``) this run does not measure; the
    reason names them (the fallback is stated, never silent)."""
    thr = -math.sqrt(vs.corr_r2)
    if not len(table):
        return missing("1.2", "no checkpoints after step 0 with a measured criterion metric "
                              f"({', '.join(vs.corr_metrics)})" + _absent_note(absent)), \
            pd.DataFrame(columns=CRITERION_COLUMNS)
    per = []
    for m, d in table.groupby("metric", sort=False):
        d = d.assign(_r=pd.to_numeric(d["rho"], errors="coerce").fillna(np.inf))
        w = d.sort_values(["_r", "student"], ascending=[False, True], kind="stable").iloc[0].to_dict()
        w.pop("_r", None)
        w["verdict"] = all_of(d["verdict"])
        w["students"] = "; ".join(f"{r.student} rho {_n(r.rho, 2)} {_ci(r.rho_ci_low, r.rho_ci_high, 2)} "
                                  f"n={r.n}" for r in d.itertuples())
        per.append(w)
    summ = pd.DataFrame(per)
    order = {MET: 0, UNDERPOWERED: 1, NOT_MET: 2}
    summ = summ.assign(_o=summ["verdict"].map(order), _h=pd.to_numeric(summ["rho_ci_high"], errors="coerce")
                       .fillna(np.inf), _v=pd.to_numeric(summ["rho"], errors="coerce").fillna(np.inf))
    summ = summ.sort_values(["_o", "_h", "_v", "metric"], kind="stable").drop(columns=["_o", "_h", "_v"])
    summ = summ.reset_index(drop=True)
    b = summ.iloc[0]
    verdict = any_of(summ["verdict"])
    few = [f"{r.metric}" for r in table.itertuples() if r.n < vs.min_checkpoints]
    reason = (f"Spearman rho(val loss, metric) over checkpoints after step 0, worst student (needs rho < "
              f"{_n(thr)}; lower loss, higher metric): " +
              "; ".join(f"{r.metric}: {r.verdict} ({r.students})" for r in summ.itertuples()))
    if few:
        reason += f"; fewer than {vs.min_checkpoints} checkpoints after step 0 for some students"
    reason += _absent_note(absent)
    return row("1.2", f"Spearman rho(val loss, {b['metric']}) (worst: {b['student']})", b["rho"], b["rho_ci_low"],
               b["rho_ci_high"], thr, "<", verdict, reason), summ


# ----------------------------------------------------------------------------- 2.1, 2.2

def _unit_matrix(values: dict) -> tuple[dict, int] | tuple[None, str]:
    """``{name: [per-seed unit arrays]}`` -> the same with float arrays, and the unit count,
    or (None, why) when they are missing or not aligned."""
    out, n = {}, None
    for k, seeds in values.items():
        arrs = [np.asarray(a, dtype=float) for a in seeds if a is not None]
        if not arrs:
            return None, f"no per-unit values for {k}"
        for a in arrs:
            if n is None:
                n = len(a)
            if len(a) != n:
                return None, "per-unit values of different lengths (students evaluated on different units)"
        out[k] = arrs
    if not n:
        return None, "no units"
    return out, int(n)


def _bootstrap_means(vals: dict, n: int, vs: VerdictSettings, seed: int) -> tuple[dict, dict]:
    """Point and bootstrap replicates ``[resamples]`` of each entry's seed-mean of unit means:
    units resampled with one shared draw (paired); seeds resampled per entry too when every
    entry has at least two."""
    idx = resample_indices(n, vs.resamples, seed)
    multi = all(len(a) >= 2 for a in vals.values())
    rng = np.random.default_rng(seed + 1)
    point, reps = {}, {}
    for k, arrs in vals.items():
        A = np.stack(arrs)                                  # [seeds, n]
        point[k] = float(A.mean())
        M = A[:, idx].mean(axis=2)                          # [seeds, resamples]
        if multi:
            pick = rng.integers(0, len(arrs), size=(vs.resamples, len(arrs)))
            reps[k] = M[pick, np.arange(vs.resamples)[:, None]].mean(axis=1)
        else:
            reps[k] = M.mean(axis=0)
    return point, reps


def exp21(values: dict, *, small: str, large: str, best: str, metric: str, vs: VerdictSettings,
          seed: int) -> dict:
    """Experiment 2.1 (module doc). ``values``: ``{teacher: [per-seed arrays of per-unit
    values of the metric]}`` including ``untrained``; ``small``/``large``/``best`` name the
    teachers (as :func:`swejepa.phase2.report.criterion` chooses them)."""
    need = {small, large, best, "untrained"}
    vals, n = _unit_matrix({k: values.get(k, []) for k in need})
    name = "|q(large) - q(small)| / (q(best) - q(untrained))"
    if vals is None:
        return missing("2.1", f"metric {metric}: {n} (no CI possible)")
    p, r = _bootstrap_means(vals, n, vs, seed)
    gap = p[best] - p["untrained"]
    gap_r = r[best] - r["untrained"]
    glo, ghi = percentile_ci(gap_r, vs.level)
    ratio = abs(p[large] - p[small]) / gap if gap > 0 else NAN
    with np.errstate(divide="ignore", invalid="ignore"):
        rr = np.where(gap_r > 0, np.abs(r[large] - r[small]) / gap_r, np.inf)
    lo, hi = percentile_ci(rr, vs.level)
    reason = (f"metric {metric}, {n} units, {len(vals[best])} seed(s): q(small={small}) {_n(p[small])}, "
              f"q(large={large}) {_n(p[large])}, q(best={best}) {_n(p[best])}, q(untrained) {_n(p['untrained'])}; "
              f"best - untrained {_n(gap)} {_ci(glo, ghi)}")
    args = ("2.1", f"{name} ({metric})", ratio, lo, hi, vs.teacher_gap_ratio, "<")
    if small == large:
        return row(*args, UNDERPOWERED, reason + "; one teacher size only (small = large)")
    if n < vs.min_units:
        return row(*args, UNDERPOWERED, reason + f"; fewer than {vs.min_units} units")
    if not (_fin(glo) and glo > 0):
        return row(*args, UNDERPOWERED, reason + "; the best teacher's student does not beat the untrained student "
                   "with confidence: the metric cannot tell teachers apart")
    return row(*args, reason=reason)


def exp22_one(sweep: dict, untrained, *, metric: str, vs: VerdictSettings, seed: int) -> dict:
    """One compute teacher's sweep: ``sweep = {pct: [per-seed unit arrays]}``; ``untrained``:
    per-seed unit arrays of the untrained student (or None). Returns a dict with the arg-max
    share, its CI, the sanity gap and the verdict."""
    pcts = sorted(sweep)
    allv = {f"p{p}": sweep[p] for p in pcts}
    if untrained:
        allv["untrained"] = untrained
    vals, n = _unit_matrix(allv)
    if vals is None:
        return {"verdict": UNDERPOWERED, "why": f"metric {metric}: {n} (no CI possible)", "value": NAN,
                "lo": NAN, "hi": NAN}
    p, r = _bootstrap_means(vals, n, vs, seed)
    q = np.array([p[f"p{x}"] for x in pcts])
    R = np.stack([r[f"p{x}"] for x in pcts])                # [pcts, resamples]
    arg = float(pcts[int(np.argmax(q))])
    arg_r = np.asarray(pcts, dtype=float)[np.argmax(R, axis=0)]
    a = (1.0 - vs.level) / 2.0
    lo, hi = float(np.quantile(arg_r, a, method="lower")), float(np.quantile(arg_r, 1 - a, method="higher"))
    out = {"value": arg, "lo": lo, "hi": hi, "n": n, "q": dict(zip(pcts, q)), "why": ""}
    out["verdict"] = decide(arg, lo, hi, vs.alloc_max_teacher_percent, "<=")
    if len(pcts) < 2:
        out.update(verdict=UNDERPOWERED, why="one allocation point only")
    elif n < vs.min_units:
        out.update(verdict=UNDERPOWERED, why=f"fewer than {vs.min_units} units")
    elif "untrained" in vals:
        best_r = R.max(axis=0) - r["untrained"]
        glo, ghi = percentile_ci(best_r, vs.level)
        out["gap"] = (float(q.max() - p["untrained"]), glo, ghi)
        if not (_fin(glo) and glo > 0):
            out.update(verdict=UNDERPOWERED, why="no allocation point beats the untrained student with confidence: "
                                                 "the metric cannot rank the allocations")
    return out


def exp22(sweeps: dict, untrained, *, metric: str, vs: VerdictSettings, seed: int) -> dict:
    """Experiment 2.2 (module doc): ``sweeps = {compute teacher: {pct: [per-seed unit
    arrays]}}``; every compute teacher must hold (the row shows the largest arg-max share)."""
    if not sweeps:
        return missing("2.2", "no compute sweep")
    res = {ct: exp22_one(sw, untrained, metric=metric, vs=vs, seed=seed + i) for i, (ct, sw) in
           enumerate(sorted(sweeps.items()))}
    parts = []
    for ct, o in res.items():
        qs = ", ".join(f"{k}%: {_n(v)}" for k, v in o.get("q", {}).items())
        g = o.get("gap")
        parts.append(f"{ct}: best share {_n(o['value'], 0)}% {_ci(o['lo'], o['hi'], 0)} ({qs}"
                     + (f"; best - untrained {_n(g[0])} {_ci(g[1], g[2])}" if g else "") + ")"
                     + (f" -- {o['why']}" if o["why"] else ""))
    worst_ct = max(res, key=lambda c: (_f(res[c]["value"]) if _fin(res[c]["value"]) else np.inf, c))
    w = res[worst_ct]
    reason = f"metric {metric}: " + "; ".join(parts)
    return row("2.2", f"teacher share (%) of the best allocation ({worst_ct})", w["value"], w["lo"], w["hi"],
               vs.alloc_max_teacher_percent, "<=", all_of(o["verdict"] for o in res.values()), reason)


# ----------------------------------------------------------------------------- 3.1

def _ce_by_region(ex: pd.DataFrame, system: str) -> pd.DataFrame | None:
    d = ex[(ex["system"] == system) & (ex["latent"].isin(["own", "none"]))]
    return d.set_index("region")[["ce_sum", "n_tokens"]] if len(d) else None


def ce_gain(examples: pd.DataFrame, better: str, baseline: str, vs: VerdictSettings, seed: int):
    """Token-weighted held-out CE of ``baseline`` minus ``better`` (nats/token; > 0: ``better``
    is better), with the paired bootstrap CI over regions; ``None`` when a system is missing."""
    a, b = _ce_by_region(examples, better), _ce_by_region(examples, baseline)
    if a is None or b is None:
        return None
    j = a.add_suffix("_a").join(b.add_suffix("_b"), how="inner")
    d = j["ce_sum_b"].to_numpy(float) - j["ce_sum_a"].to_numpy(float)
    v, lo, hi = ratio_ci(d, j["n_tokens_a"].to_numpy(float), vs.resamples, vs.level, seed)
    return v, lo, hi, int(len(j))


def exp31(examples: pd.DataFrame, summary: pd.DataFrame | None, vs: VerdictSettings, seed: int,
          ks=()) -> dict:
    """Experiment 3.1 (module doc) from ``heldout_examples.csv`` (``system, latent, region,
    ce_sum, n_tokens``) and ``summary.csv`` (perplexities, pass@k, FLOPs per sample)."""
    lat = ce_gain(examples, "latent", "nolatent", vs, seed)
    if lat is None:
        return missing("3.1", "no latent and no-latent decoders with per-region cross-entropy")
    v, lo, hi, n = lat
    orc = ce_gain(examples, "oracle", "nolatent", vs, seed + 1)
    parts = [f"latent vs no-latent: {_n(v)} {_ci(lo, hi)} nats/token over {n} held-out regions"]
    if orc is not None:
        parts.append(f"oracle vs no-latent: {_n(orc[0])} {_ci(orc[1], orc[2])}")
    if summary is not None and len(summary):
        s = summary.set_index("system")
        ppl = ", ".join(f"{k} {_n(s.loc[k, 'ppl'], 1)}" for k in s.index if "ppl" in s)
        parts.append(f"body ppl: {ppl}")
        for k in ks:
            c = f"pass@{k}"
            if c in s:
                parts.append(f"{c}: " + ", ".join(f"{x} {_n(s.loc[x, c], 3)}" for x in s.index if pd.notna(s.loc[x, c])))
                break
        fc = "humaneval_flops_per_sample" if "humaneval_flops_per_sample" in s else "heldout_flops_per_sample"
        if fc in s and {"latent", "nolatent"} <= set(s.index) and _fin(s.loc["latent", fc], s.loc["nolatent", fc]):
            parts.append(f"FLOPs/sample latent/no-latent {_n(s.loc['latent', fc] / s.loc['nolatent', fc], 2)} "
                         "(equal total parameters)")
    reason = "; ".join(parts)
    args = ("3.1", "held-out body CE, no-latent minus latent (nats/token)", v, lo, hi, 0.0, ">")
    if n < vs.min_units:
        return row(*args, UNDERPOWERED, reason + f"; fewer than {vs.min_units} held-out regions")
    if orc is None:
        return row(*args, UNDERPOWERED, reason + "; no oracle decoder: the instrument's sanity check is missing")
    if not (_fin(orc[1]) and orc[1] > 0):
        return row(*args, UNDERPOWERED, reason + "; the oracle (teacher latents) does not beat the no-latent decoder "
                   "with confidence: the instrument cannot detect a latent's benefit")
    return row(*args, reason=reason)


# ----------------------------------------------------------------------------- the collector

def read_rows(path) -> pd.DataFrame | None:
    """A stage's verdict rows (``results/{student,phase2,decoder/...}/verdicts.csv``)."""
    from pathlib import Path

    if not path or not Path(path).exists():
        return None
    return pd.read_csv(path, dtype={"experiment": str}, keep_default_na=False, na_values=[""])


def read_headline(path) -> pd.DataFrame | None:
    """``headline.csv`` of Experiment 0.2, or None when it is absent or unreadable."""
    from pathlib import Path

    if not path or not Path(path).exists():
        return None
    try:
        h = pd.read_csv(path)
    except Exception:  # noqa: BLE001 - an unreadable headline is "no headline", never a crash
        return None
    # the retrieval stage names interval bounds `<metric>_lo/_hi` (swejepa.phase0.headline)
    return h.rename(columns={c: c[:-3] + ("_ci_low" if c.endswith("_lo") else "_ci_high")
                             for c in h.columns if c.endswith(("_lo", "_hi")) and c[:-3] + "_ci_low" not in h})


def build(*, stats_csv, probes_csv, headline_csv=None, stage_csvs=(), random_teachers=(), trained_teachers=(),
          main_mask: str, main_pool: str, vs: VerdictSettings) -> pd.DataFrame:
    """Every row of ``results/paper/verdicts.csv``: 0.1-0.3 computed here from the Phase-0
    tables, the others collected from the stages' verdict files (which computed them with the
    functions above, so the stage macros and this table agree)."""
    rows = []
    stats = pd.read_csv(stats_csv) if stats_csv else None
    rows.append(exp01(stats, random_teachers, main_mask, vs) if stats is not None and len(stats)
                else missing("0.1", "no statistics"))
    rows.append(exp02(read_headline(headline_csv), trained_teachers, vs))
    probes = pd.read_csv(probes_csv) if probes_csv else None
    rows.append(exp03(probes, main_mask, main_pool, vs) if probes is not None and len(probes)
                else missing("0.3", "no probes"))
    return collect([frame(rows)] + [read_rows(p) for p in stage_csvs])


# ----------------------------------------------------------------------------- the paper

VERDICT_TEXT = {MET: "met", NOT_MET: "not met", UNDERPOWERED: "underpowered"}
# Macro names (letters only) of the experiments: \\VerdictZeroOne ... \\VerdictThreeOne.
_DIGITS = {"0": "Zero", "1": "One", "2": "Two", "3": "Three"}


def macro_name(experiment: str) -> str:
    a, b = experiment.split(".")
    return f"Verdict{_DIGITS[a]}{_DIGITS[b]}"


def paper_frame(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``results/paper/verdicts.csv``: :data:`PAPER_COLUMNS` only."""
    return df[PAPER_COLUMNS].copy()


def macros(df: pd.DataFrame, level: float) -> dict:
    """``\\Verdict<Exp>`` (met / not met / underpowered) per experiment, the counts
    ``\\VerdictsMet``, ``\\VerdictsNotMet``, ``\\VerdictsUnderpowered``, ``\\VerdictsTotal``,
    and ``\\VerdictsLevel`` (the CI level in percent)."""
    out = {macro_name(str(r.experiment)): VERDICT_TEXT[r.verdict] for r in df.itertuples()}
    vc = df["verdict"].value_counts()
    out.update({"VerdictsMet": int(vc.get(MET, 0)), "VerdictsNotMet": int(vc.get(NOT_MET, 0)),
                "VerdictsUnderpowered": int(vc.get(UNDERPOWERED, 0)), "VerdictsTotal": int(len(df)),
                "VerdictsLevel": f"{100 * float(level):g}"})
    return out


def write_outputs(df: pd.DataFrame, *, csv, level: float, detail=None, macros_path=None) -> None:
    """``verdicts.csv`` (:data:`PAPER_COLUMNS`), and optionally the detail CSV (all
    :data:`COLUMNS`; the paper's results-at-a-glance table is written from it by
    :mod:`swejepa.glance`) and the verdict macros."""
    from .runtime import atomic_path
    from .tex import write_macros

    with atomic_path(csv) as tmp:
        paper_frame(df).to_csv(tmp, index=False)
    if detail:
        with atomic_path(detail) as tmp:
            df.to_csv(tmp, index=False)
    if macros_path:
        write_macros(macros(df, level), macros_path)
