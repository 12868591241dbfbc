"""Phase-2 CSVs (one row per trained student) -> tables, figures, macros."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from .evaluate import METRICS, UNIT_METRICS

METRIC_LABELS = {"refactor_recall1": "refactor R@1", "refactor_mrr": "refactor MRR", "spec_recall1": "spec R@1",
                 "spec_mrr": "spec MRR", "probe_r2": "probe R2", "probe_acc": "probe acc.",
                 "probe_score": "probe R2 (mean)", "hard_recall1": "hard R@1", "hard_mrr": "hard MRR",
                 "probe_selectivity": "probe selectivity"}
UNTRAINED = "untrained"
UNIT_IDS = {"hard_mrr": "hard_ids", "hard_recall1": "hard_ids", "probe_selectivity": "probe_ids"}


def read_json_rows(paths) -> pd.DataFrame:
    """One row per evaluation JSON, without its per-unit values (:func:`read_units`)."""
    rows = []
    for p in paths:
        r = json.loads(Path(p).read_text())
        r.pop("units", None)
        rows.append(r)
    return pd.DataFrame(rows)


def read_units(paths) -> list[dict]:
    """The per-unit values of each evaluation JSON (``{}`` when it has none)."""
    return [json.loads(Path(p).read_text()).get("units") or {} for p in paths]


def metric_units(units: list[dict], metric: str) -> list:
    """Per evaluation, the array of per-unit values of ``metric``, or None when it has none
    or its units (query / function ids) differ from the first evaluation's."""
    key = UNIT_IDS.get(metric)
    ref = next((u.get(key) for u in units if metric in u), None)
    out = []
    for u in units:
        ok = metric in u and (key is None or u.get(key) == ref)
        out.append(np.asarray(u[metric], dtype=float) if ok else None)
    return out


def unit_ci(arrays, vs, seed: int) -> tuple[float, float]:
    """CI of the seed mean of per-unit means (bootstrap over the shared units)."""
    from swejepa.uncertainty import percentile_ci, resample_indices

    arrs = [a for a in arrays if a is not None and len(a)]
    if not arrs or len({len(a) for a in arrs}) != 1:
        return float("nan"), float("nan")
    A = np.stack(arrs)
    idx = resample_indices(A.shape[1], vs.resamples, seed)
    return percentile_ci(A[:, idx].mean(axis=2).mean(axis=0), vs.level)


def count_params_safetensors(model_dir) -> int | None:
    """Parameter count from the safetensors headers of a model directory (no loading)."""
    n, found = 0, False
    for p in sorted(Path(model_dir).glob("*.safetensors")):
        with open(p, "rb") as fh:
            hl = int.from_bytes(fh.read(8), "little")
            head = json.loads(fh.read(hl))
        for k, v in head.items():
            if k != "__metadata__":
                n += int(np.prod(v["shape"])) if v["shape"] else 1
                found = True
    return n if found else None


# --------------------------------------------------------------------------- 2.1
def teacher_means(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Mean/std/min/max of ``metric`` over seeds, one row per teacher (untrained included)."""
    g = df.groupby("teacher", sort=False)[metric]
    out = pd.DataFrame({"mean": g.mean(), "std": g.std(ddof=1), "min": g.min(), "max": g.max(),
                        "n_seeds": g.count()})
    meta = df.drop_duplicates("teacher").set_index("teacher")
    for c in ("teacher_source", "teacher_params"):
        if c in meta:
            out[c] = meta[c]
    return out


def criterion(df: pd.DataFrame, metric: str, small: str | None = None, large: str | None = None) -> dict:
    """The seed's success number for Experiment 2.1:

    ``|q(largest-teacher student) - q(smallest-teacher student)| / (q(best student) - q(untrained))``

    with q the seed-mean of ``metric``. Smallest/largest: the named teachers, else the
    trained (non-``random``) teachers with the fewest/most parameters."""
    m = teacher_means(df, metric)
    if UNTRAINED not in m.index:
        raise ValueError("no untrained student in the table")
    floor = float(m.loc[UNTRAINED, "mean"])
    t = m.drop(index=UNTRAINED)
    cand = t
    if "teacher_source" in t:
        cand = t[t["teacher_source"] != "random"]
    if small is None or large is None:
        sized = cand[pd.to_numeric(cand.get("teacher_params"), errors="coerce").notna()] \
            if "teacher_params" in cand else cand.iloc[:0]
        if len(sized) < 2:
            raise ValueError("cannot order teachers by size: set phase2.small_teacher/large_teacher")
        order = sized.assign(_p=pd.to_numeric(sized["teacher_params"])).sort_values("_p", kind="stable")
        small = small or order.index[0]
        large = large or order.index[-1]
    for name in (small, large):
        if name not in t.index:
            raise ValueError(f"teacher {name!r} has no student in the table ({list(t.index)})")
    if t["mean"].notna().sum() == 0:
        raise ValueError(f"metric {metric!r} is not measured for any trained student")
    best_name = t["mean"].idxmax()
    gap_sl = abs(float(t.loc[large, "mean"]) - float(t.loc[small, "mean"]))
    gap_fb = float(t.loc[best_name, "mean"]) - floor
    ratio = gap_sl / gap_fb if gap_fb > 0 else float("nan")
    return {"metric": metric, "small": small, "large": large, "best": best_name, "untrained": floor,
            "q_small": float(t.loc[small, "mean"]), "q_large": float(t.loc[large, "mean"]),
            "q_best": float(t.loc[best_name, "mean"]), "gap_small_large": gap_sl, "gap_floor_best": gap_fb,
            "ratio": ratio}


def table21(df: pd.DataFrame, metrics, path, cis: dict | None = None, level: float | None = None) -> None:
    """One row per teacher (the untrained student included: the floor); metric cells are
    the seed mean (± std over seeds) and, where ``cis[(teacher, metric)]`` holds one, its CI
    (bootstrap over the shared queries/functions)."""
    from swejepa.tex import write_table

    cis = cis or {}
    rows = []
    for teacher, g in df.groupby("teacher", sort=False):
        r = {"teacher": teacher, "params": (f"{g['teacher_params'].iloc[0] / 1e6:.1f}M"
                                            if pd.notna(g["teacher_params"].iloc[0]) else "--"),
             "seeds": len(g), "val loss": g["student_val_loss"].mean()}
        for m in metrics:
            v = g[m].astype(float) if m in g else pd.Series([np.nan])
            cell = (f"{v.mean():.3f}" + (f" ± {v.std(ddof=1):.3f}" if len(v) > 1 else "")
                    if v.notna().any() else "--")
            lo, hi = cis.get((teacher, m), (np.nan, np.nan))
            if v.notna().any() and np.isfinite(lo) and np.isfinite(hi):
                cell += f" [{lo:.3f}, {hi:.3f}]"
            r[METRIC_LABELS.get(m, m)] = cell
        rows.append(r)
    ci = f"; [{int(round(100 * level))}\\% CI, paired bootstrap over the hard queries or probed functions]" \
        if level else ""
    write_table(pd.DataFrame(rows), path, caption="Experiment 2.1: identical students trained against each "
                "teacher (mean ± std over seeds" + ci + "), and the untrained student (the floor every teacher must "
                "beat). Downstream metrics on the student's own encoder representations: hard MRR (retrieval on the "
                "lexically hard part of the benchmark; -- before items are flagged hard), probe selectivity (probe "
                "R$^2$ minus the body-length baseline's, same functions and folds, log1p counts), refactor MRR "
                "(rewards preserved token identity: the lexical reference the untrained student wins).",
                label="tab:exp21-teachers")


def figure21(df: pd.DataFrame, metrics, stem) -> None:
    from swejepa.plotting import FULL_WIDTH, figure, savefig

    fig, axes = figure(FULL_WIDTH, 2.2, ncols=len(metrics), squeeze=False)
    teachers = list(dict.fromkeys(df["teacher"]))
    for ax, m in zip(axes[0], metrics):
        trained = [t for t in teachers if t != UNTRAINED]
        for i, t in enumerate(trained):
            v = df.loc[df["teacher"] == t, m].astype(float).dropna()
            if len(v):
                ax.bar(i, v.mean(), color="C0", alpha=0.6)
                ax.scatter(np.full(len(v), i), v, color="k", s=8, zorder=3)
        fl = df.loc[df["teacher"] == UNTRAINED, m].astype(float).dropna()
        if len(fl):
            ax.axhline(fl.mean(), color="C3", ls="--", lw=1, label="untrained")
        ax.set_xticks(range(len(trained)))
        ax.set_xticklabels(trained, rotation=30, ha="right")
        ax.set_ylabel(METRIC_LABELS.get(m, m))
    axes[0][0].legend(frameon=False)
    savefig(fig, stem)


# --------------------------------------------------------------------------- 2.2
def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _run_label(r) -> str:
    who = str(r.get("compute_teacher") or "")
    ft = r.get("teacher_mode") == "finetune"
    if r["experiment"] == "compute":
        what = f"{int(r['pct'])}% " + ("fine-tuning" if ft else "teacher")
    else:
        what = ("fine-tune step " if ft else "Stage-1 step ") + f"{int(r['teacher_step'])}"
    return f"{who}: {what}" if who else what


def _with_ci(v, lo, hi) -> str:
    v = float(v) if v is not None else np.nan
    if not np.isfinite(v):
        return "--"
    return f"{v:.3f} [{lo:.3f}, {hi:.3f}]" if np.isfinite(lo) and np.isfinite(hi) else f"{v:.3f}"


def table22(df: pd.DataFrame, metric: str, path, cis: list | None = None, floor: dict | None = None,
            level: float | None = None) -> None:
    """One row per 2.2 student, ``cis[i]`` the CI of row i's metric (or nan), and the
    untrained student's row (``floor``: value and CI) as the reference every point must beat."""
    from swejepa.tex import write_table

    label = METRIC_LABELS.get(metric, metric)
    multi_seed = "seed" in df and df["seed"].nunique() > 1
    rows = []
    for i, (_, r) in enumerate(df.iterrows()):
        lo, hi = (cis[i] if cis else (np.nan, np.nan))
        rows.append({"run": _run_label(r) + (f" (seed {int(r['seed'])})" if multi_seed else ""),
                     "teacher FLOPs": _num(r["teacher_flops"]), "teacher FIM loss": _num(r["teacher_fim_loss"]),
                     "student val loss": _num(r["student_val_loss"]), f"{label} [CI]": _with_ci(r[metric], lo, hi),
                     "refactor MRR": _num(r["refactor_mrr"])})  # FLOPs, wall times: exp22_compute.csv
    if not rows:  # 2.2 not configured: say so in the table
        rows = [{"run": "not run (no phase2.compute.teachers in this config's teacher list)"}]
    elif floor is not None:
        lo, hi = floor.get("ci", (np.nan, np.nan))
        rows.append({"run": "untrained student (reference)", "teacher FLOPs": 0.0, "teacher FIM loss": np.nan,
                     "student val loss": floor.get("val_loss", np.nan),
                     f"{label} [CI]": _with_ci(floor.get("value", np.nan), lo, hi),
                     "refactor MRR": floor.get("refactor_mrr", np.nan)})
    ci = f" CI: {int(round(100 * level))}\\% paired bootstrap over the hard queries or probed functions." if level else ""
    write_table(pd.DataFrame(rows), path, caption="Experiment 2.2: a fixed training budget (6 x params x tokens) "
                "split between teacher training (Stage 1 from scratch, or FIM fine-tuning of a pretrained "
                "teacher) and student training (compute rows), and students of teacher checkpoints at increasing "
                f"training steps, trained identically (step rows); last row: the untrained student.{ci} Refactor MRR "
                "rewards preserved token identity (the lexical reference).",
                label="tab:exp22-compute")


def _series(df: pd.DataFrame):
    """(label, rows) per compute teacher, in order of appearance."""
    if "compute_teacher" not in df or df["compute_teacher"].isna().all():
        return [("", df)]
    out = []
    for ct in dict.fromkeys(df["compute_teacher"].dropna()):
        g = df[df["compute_teacher"] == ct]
        ft = (g.get("teacher_mode") == "finetune").any()
        out.append((f"{ct} ({'fine-tuned' if ft else 'from scratch'})", g))
    return out


def figures22(df: pd.DataFrame, metric: str, stem_compute, stem_curve, floor: float | None = None) -> None:
    from swejepa.plotting import figure, savefig

    fig, ax = figure()
    for label, a in _series(df[df["experiment"] == "compute"]):
        g = a.sort_values("pct").groupby("pct")[metric]
        ax.errorbar(g.mean().index, g.mean().values, yerr=g.std(ddof=1).fillna(0).values, marker="o", capsize=2,
                    label=label or None)
    if floor is not None and np.isfinite(floor):
        ax.axhline(floor, color="C3", ls="--", lw=1, label="untrained student")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(frameon=False)
    ax.set_xlabel("share of the budget spent on the teacher (%)")
    ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    savefig(fig, stem_compute)
    fig, ax = figure()
    finite = True
    for label, c in _series(df[df["experiment"] == "curve"]):
        g = c.sort_values("teacher_step").groupby("teacher_step")
        x, y = g["teacher_fim_loss"].mean(), g[metric].mean()
        ax.plot(x.values, y.values, marker="o", label=label or None)
        finite = finite and bool(np.isfinite(x.values).all())
        for s, xv, yv in zip(x.index, x.values, y.values):
            ax.annotate(f"{int(s)}", (xv, yv), textcoords="offset points", xytext=(3, 3), fontsize=6)
    ax.set_xlabel("teacher FIM validation loss (training step annotated)")
    ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    if ax.lines and finite:
        ax.invert_xaxis()
    if floor is not None and np.isfinite(floor):
        ax.axhline(floor, color="C3", ls="--", lw=1, label="untrained student")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(frameon=False)
    savefig(fig, stem_curve)


def macros(crit: dict, sweep: pd.DataFrame, metric: str, row21: dict | None = None,
           row22: dict | None = None) -> dict:
    def num(v):
        return float(v) if v is not None and not (isinstance(v, float) and math.isnan(v)) else float("nan")

    row21, row22 = row21 or {}, row22 or {}
    out = {"phasetwoCriterion": num(crit.get("ratio")),
           "phasetwoCriterionLow": num(row21.get("ci_low")), "phasetwoCriterionHigh": num(row21.get("ci_high")),
           "phasetwoCriterionThreshold": num(row21.get("threshold")),
           "phasetwoGapSmallLarge": num(crit.get("gap_small_large")),
           "phasetwoGapFloorBest": num(crit.get("gap_floor_best")),
           "phasetwoUntrained": num(crit.get("untrained")),
           "phasetwoSmallTeacher": str(crit.get("small", "--")), "phasetwoLargeTeacher": str(crit.get("large", "--")),
           "phasetwoBestTeacher": str(crit.get("best", "--")),
           # the seed's criterion holds only where the verdict (CI vs threshold, sanity check) is met
           "phasetwoCriterionHolds": bool(row21.get("verdict") == "met"),
           "phasetwoCriterionVerdict": str(row21.get("verdict", "underpowered")).replace("_", " "),
           "phasetwoMetric": METRIC_LABELS.get(metric, metric),
           "phasetwoAllocVerdict": str(row22.get("verdict", "underpowered")).replace("_", " ")}
    if len(sweep):
        if "compute_teacher" in sweep and sweep["compute_teacher"].notna().any():
            # the macros describe the first compute teacher's sweep (the default's tiny teacher)
            sweep = sweep[sweep["compute_teacher"] == sweep["compute_teacher"].dropna().iloc[0]]
        g = sweep.groupby("pct")[metric].mean()
        if g.notna().any():
            out["phasetwoBestAllocPct"] = int(g.idxmax())
            out["phasetwoBestAllocQuality"] = float(g.max())
        out["phasetwoBudgetFlops"] = float(sweep["total_flops"].iloc[0])
        out["phasetwoBudgetHonoured"] = bool(sweep["within_one_step"].astype(bool).all())
        out["phasetwoAllocPoints"] = int(sweep["pct"].nunique())
    return out


# --------------------------------------------------------------------------- the report job
ID_21 = ["experiment", "student", "teacher", "teacher_source", "teacher_params", "seed", "reused"]
ID_22 = ["experiment", "compute_teacher", "teacher_mode", "student", "pct", "teacher_step", "seed", "total_flops", "teacher_flops_budget",
         "teacher_flops", "teacher_steps", "student_flops_budget", "student_flops", "student_steps", "spent_flops",
         "over_flops", "step_slack_flops", "within_one_step", "teacher_fim_loss", "teacher_wall_s",
         "extract_flops", "extract_wall_s", "student_wall_s", "wall_s"]
TAIL = ["student_params", "student_val_loss", "eval_wall_s"]


def _order(df: pd.DataFrame, first) -> pd.DataFrame:
    for c in first:
        if c not in df:
            df[c] = np.nan
    return df[list(first) + [c for c in df.columns if c not in first]]


def table_21(paths) -> pd.DataFrame:
    df = read_json_rows(paths)
    df = _order(df, ID_21 + METRICS + TAIL)
    return df


def table_22(compute_paths, curve_points, compute_teachers) -> pd.DataFrame:
    """One row per Experiment-2.2 student: the sweep points, then the curve points
    (``curve_points``: dicts teacher/step/seed/json; endpoints may be Experiment-2.1
    evaluations). ``compute_teachers``: dicts name/mode/curve_csv/train_info (the
    Stage-1 summary whose FLOPs price the last step of a `train` teacher)."""
    a = read_json_rows(compute_paths) if compute_paths else pd.DataFrame()
    modes = {c["name"]: c.get("mode", "scratch") for c in compute_teachers}
    if len(a):
        a["experiment"] = "compute"
        if "compute_teacher" not in a:
            a["compute_teacher"] = a["teacher"]
        a["teacher_mode"] = a["compute_teacher"].map(modes).fillna("scratch")
        a["teacher_step"] = a.get("teacher_steps")
        a["wall_s"] = a[["teacher_wall_s", "extract_wall_s", "student_wall_s"]].sum(axis=1)
    curves = {}
    for c in compute_teachers:
        cur = pd.read_csv(c["curve_csv"])
        final = None
        if c.get("train_info") and Path(c["train_info"]).exists():
            final = json.loads(Path(c["train_info"]).read_text()).get("flops_spent")
        curves[c["name"]] = (cur.drop_duplicates("step", keep="last").set_index("step"), final)
    rows = []
    for pt in curve_points:
        r = json.loads(Path(pt["json"]).read_text())
        s, ct = int(pt["step"]), pt.get("teacher")
        r.update({"experiment": "curve", "compute_teacher": ct, "teacher_mode": modes.get(ct, "scratch"),
                  "teacher_step": s, "seed": int(pt["seed"]), "pct": np.nan})
        by_step, final_flops = curves.get(ct, (pd.DataFrame(), None))
        if s in by_step.index:
            r["teacher_fim_loss"] = float(by_step.loc[s, "teacher_fim_loss"])
            tf = by_step.loc[s, "teacher_flops"]
            r["teacher_flops"] = float(final_flops) if (pd.isna(tf) and final_flops is not None) else float(tf)
        r["wall_s"] = float(np.nansum([r.get("extract_wall_s", np.nan), r.get("student_wall_s", np.nan)]))
        rows.append(r)
    c = pd.DataFrame(rows)
    df = pd.concat([x for x in (a, c) if len(x)], ignore_index=True) if (len(a) or len(c)) else pd.DataFrame()
    df = _order(df, ID_22 + METRICS + TAIL)
    return df


def _sweeps(t22: pd.DataFrame, units22: list[dict], metric: str) -> dict:
    """``{compute teacher: {pct: [per-seed unit arrays]}}`` of the compute rows."""
    arrays = metric_units(units22, metric)
    out: dict = {}
    comp = t22[t22["experiment"] == "compute"].reset_index(drop=True)
    for (_, r), a in zip(comp.iterrows(), arrays):
        out.setdefault(str(r["compute_teacher"]), {}).setdefault(int(r["pct"]), []).append(a)
    return out


def write_all(inp, out, params) -> None:
    """Everything of the ``phase2_report`` rule (see rules/phase2.smk). The 2.1 and 2.2
    verdicts (:func:`swejepa.verdicts.exp21`, :func:`~swejepa.verdicts.exp22`) go to
    ``out.verdicts`` (when the rule declares it) and into criterion.json and the macros."""
    from swejepa import verdicts as V
    from swejepa.phase0.jobs import write_csv
    from swejepa.settings import VerdictSettings
    from swejepa.tex import write_macros

    vs = VerdictSettings.from_dict(getattr(params, "verdicts", None) or {})
    seed = int(getattr(params, "seed", 0) or 0)
    metric = params.metric
    paths21 = list(inp.teachers)
    t21 = table_21(paths21)
    units21 = read_units(paths21)
    write_csv(t21, out.csv21)
    cis = {}
    for m in params.table_metrics:
        arrs = metric_units(units21, m)
        for t in dict.fromkeys(t21["teacher"]):
            cis[(t, m)] = unit_ci([a for a, tt in zip(arrs, t21["teacher"]) if tt == t], vs, seed)
    table21(t21, list(params.table_metrics), out.table21, cis, vs.level)
    figure21(t21, list(params.table_metrics), Path(out.fig21).with_suffix(""))
    vals21: dict = {}
    for t, a in zip(t21["teacher"], metric_units(units21, metric)):
        vals21.setdefault(str(t), []).append(a)
    try:
        crit = criterion(t21, metric, params.small, params.large)
        row21 = V.exp21(vals21, small=crit["small"], large=crit["large"], best=crit["best"], metric=metric, vs=vs,
                        seed=seed)
    except ValueError as e:
        crit = {"error": str(e)}
        row21 = V.missing("2.1", f"metric {metric}: {e}")
    crit.update({"ratio_ci_low": row21["ci_low"], "ratio_ci_high": row21["ci_high"], "threshold": row21["threshold"],
                 "verdict": row21["verdict"], "reason": row21["reason"], "holds": row21["verdict"] == V.MET})
    paths22 = list(inp.compute)
    t22 = table_22(paths22, list(params.curve_points), list(params.compute_teachers))
    units22 = read_units(paths22)
    write_csv(t22, out.csv22)
    untrained = [a for a, t in zip(metric_units(units21, metric), t21["teacher"]) if t == UNTRAINED] or None
    sweeps = _sweeps(t22, units22, metric) if len(t22) and "experiment" in t22 else {}
    row22 = V.exp22(sweeps, untrained, metric=metric, vs=vs, seed=seed + 7) if sweeps else \
        V.missing("2.2", "no compute sweep in this configuration")
    # per-row CIs of table 22 (compute rows: their own units; curve rows have none here)
    arr22 = metric_units(units22, metric)
    cis22 = []
    for i, (_, r) in enumerate(t22.iterrows()):
        a = arr22[i] if r.get("experiment") == "compute" and i < len(arr22) else None
        cis22.append(unit_ci([a], vs, seed) if a is not None else (np.nan, np.nan))
    fl = t21.loc[t21["teacher"] == UNTRAINED]
    floor = None
    if len(fl):
        floor = {"value": float(fl[metric].astype(float).mean()) if metric in fl else np.nan,
                 "ci": cis.get((UNTRAINED, metric)) or unit_ci(untrained or [], vs, seed),
                 "val_loss": float(fl["student_val_loss"].astype(float).mean()),
                 "refactor_mrr": float(fl["refactor_mrr"].astype(float).mean()), "seed": int(fl["seed"].iloc[0])}
    table22(t22, metric, out.table22, cis22, floor, vs.level)
    figures22(t22, metric, Path(out.fig22_compute).with_suffix(""), Path(out.fig22_curve).with_suffix(""),
              floor=floor["value"] if floor else None)
    Path(out.criterion).write_text(json.dumps(crit, indent=1, default=float) + "\n")
    if getattr(out, "verdicts", None):
        V.frame([row21, row22]).to_csv(out.verdicts, index=False)
    write_macros(macros(crit, t22[t22["experiment"] == "compute"] if len(t22) else t22, metric, row21, row22),
                 out.macros)
