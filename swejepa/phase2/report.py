"""Phase-2 CSVs (one row per trained student) -> tables, figures, macros."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from .evaluate import METRICS

METRIC_LABELS = {"refactor_recall1": "refactor R@1", "refactor_mrr": "refactor MRR", "spec_recall1": "spec R@1",
                 "spec_mrr": "spec MRR", "probe_r2": "probe R2", "probe_acc": "probe acc.",
                 "probe_score": "probe R2 (mean)"}
UNTRAINED = "untrained"


def read_json_rows(paths) -> pd.DataFrame:
    return pd.DataFrame([json.loads(Path(p).read_text()) for p in paths])


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
    best_name = t["mean"].idxmax()
    gap_sl = abs(float(t.loc[large, "mean"]) - float(t.loc[small, "mean"]))
    gap_fb = float(t.loc[best_name, "mean"]) - floor
    ratio = gap_sl / gap_fb if gap_fb > 0 else float("nan")
    return {"metric": metric, "small": small, "large": large, "best": best_name, "untrained": floor,
            "q_small": float(t.loc[small, "mean"]), "q_large": float(t.loc[large, "mean"]),
            "q_best": float(t.loc[best_name, "mean"]), "gap_small_large": gap_sl, "gap_floor_best": gap_fb,
            "ratio": ratio, "holds": bool(gap_fb > 0 and ratio < 0.5)}


def table21(df: pd.DataFrame, metrics, path) -> None:
    from swejepa.tex import write_table

    rows = []
    for teacher, g in df.groupby("teacher", sort=False):
        r = {"teacher": teacher, "params": (f"{g['teacher_params'].iloc[0] / 1e6:.1f}M"
                                            if pd.notna(g["teacher_params"].iloc[0]) else "--"),
             "seeds": len(g), "val loss": g["student_val_loss"].mean()}
        for m in metrics:
            v = g[m].astype(float)
            r[METRIC_LABELS.get(m, m)] = (f"{v.mean():.3f}" + (f" ± {v.std(ddof=1):.3f}" if len(v) > 1 else "")
                                          if v.notna().any() else "--")
        rows.append(r)
    write_table(pd.DataFrame(rows), path, caption="Experiment 2.1: identical students trained against each "
                "teacher (mean ± std over seeds), and the untrained student (floor). Downstream metrics on the "
                "student's own encoder representations (Phase-0 retrieval and probes).",
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


def table22(df: pd.DataFrame, metric: str, path) -> None:
    from swejepa.tex import write_table

    rows = []
    for _, r in df.iterrows():
        run = (f"{int(r['pct'])}% teacher" if r["experiment"] == "alloc" else f"Stage-1 step {int(r['teacher_step'])}")
        rows.append({"run": run, "seed": int(r["seed"]), "teacher FLOPs": _num(r["teacher_flops"]),
                     "student FLOPs": _num(r["student_flops"]), "teacher FIM loss": _num(r["teacher_fim_loss"]),
                     "student val loss": _num(r["student_val_loss"]),
                     METRIC_LABELS.get(metric, metric): _num(r[metric]),
                     "probe R2": _num(r["probe_score"])})  # wall times: exp22_compute.csv (not deterministic)
    if not rows:  # 2.2 not configured (no `train` teacher): say so in the table
        rows = [{"run": "not run (phase2.compute.teacher is not a train teacher)"}]
    write_table(pd.DataFrame(rows), path, caption="Experiment 2.2: a fixed training budget (6 x params x tokens) "
                "split between Stage-1 teacher training and student training (top), and students of teacher "
                "checkpoints at increasing Stage-1 steps, trained identically (bottom).",
                label="tab:exp22-compute")


def figures22(df: pd.DataFrame, metric: str, stem_alloc, stem_curve, floor: float | None = None) -> None:
    from swejepa.plotting import figure, savefig

    a = df[df["experiment"] == "alloc"].sort_values("pct")
    fig, ax = figure()
    g = a.groupby("pct")[metric]
    ax.errorbar(g.mean().index, g.mean().values, yerr=g.std(ddof=1).fillna(0).values, marker="o", capsize=2)
    if floor is not None and np.isfinite(floor):
        ax.axhline(floor, color="C3", ls="--", lw=1, label="untrained student")
        ax.legend(frameon=False)
    ax.set_xlabel("share of the budget spent on the teacher (%)")
    ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    savefig(fig, stem_alloc)
    c = df[df["experiment"] == "curve"].sort_values("teacher_step")
    fig, ax = figure()
    g = c.groupby("teacher_step")
    x, y = g["teacher_fim_loss"].mean(), g[metric].mean()
    ax.plot(x.values, y.values, marker="o")
    for s, xv, yv in zip(x.index, x.values, y.values):
        ax.annotate(f"{int(s)}", (xv, yv), textcoords="offset points", xytext=(3, 3), fontsize=6)
    ax.set_xlabel("teacher FIM validation loss (Stage-1 step annotated)")
    ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    if len(x) and np.isfinite(x.values).all():
        ax.invert_xaxis()
    if floor is not None and np.isfinite(floor):
        ax.axhline(floor, color="C3", ls="--", lw=1, label="untrained student")
        ax.legend(frameon=False)
    savefig(fig, stem_curve)


def macros(crit: dict, alloc: pd.DataFrame, metric: str) -> dict:
    def num(v):
        return float(v) if v is not None and not (isinstance(v, float) and math.isnan(v)) else float("nan")

    out = {"phasetwoCriterion": num(crit.get("ratio")),
           "phasetwoGapSmallLarge": num(crit.get("gap_small_large")),
           "phasetwoGapFloorBest": num(crit.get("gap_floor_best")),
           "phasetwoUntrained": num(crit.get("untrained")),
           "phasetwoSmallTeacher": str(crit.get("small", "--")), "phasetwoLargeTeacher": str(crit.get("large", "--")),
           "phasetwoBestTeacher": str(crit.get("best", "--")),
           "phasetwoCriterionHolds": bool(crit.get("holds", False)),
           "phasetwoMetric": METRIC_LABELS.get(metric, metric)}
    if len(alloc):
        g = alloc.groupby("pct")[metric].mean()
        out["phasetwoBestAllocPct"] = int(g.idxmax())
        out["phasetwoBestAllocQuality"] = float(g.max())
        out["phasetwoBudgetFlops"] = float(alloc["total_flops"].iloc[0])
        out["phasetwoBudgetHonoured"] = bool(alloc["within_one_step"].astype(bool).all())
        out["phasetwoAllocPoints"] = int(alloc["pct"].nunique())
    return out


# --------------------------------------------------------------------------- the report job
ID_21 = ["experiment", "student", "teacher", "teacher_source", "teacher_params", "seed", "reused"]
ID_22 = ["experiment", "student", "pct", "teacher_step", "seed", "total_flops", "teacher_flops_budget",
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


def table_22(alloc_paths, curve_points, curve_csv, final_teacher_flops=None) -> pd.DataFrame:
    """One row per Experiment-2.2 student: the sweep points, then the curve points
    (``curve_points``: dicts step/seed/json; endpoints may be Experiment-2.1 evaluations)."""
    a = read_json_rows(alloc_paths) if alloc_paths else pd.DataFrame()
    if len(a):
        a["experiment"] = "alloc"
        a["teacher_step"] = a.get("teacher_steps")
        a["wall_s"] = a[["teacher_wall_s", "extract_wall_s", "student_wall_s"]].sum(axis=1)
    cur = pd.read_csv(curve_csv) if curve_csv else pd.DataFrame(columns=["step", "teacher_flops", "teacher_fim_loss"])
    by_step = cur.drop_duplicates("step", keep="last").set_index("step")
    rows = []
    for pt in curve_points:
        r = json.loads(Path(pt["json"]).read_text())
        s = int(pt["step"])
        r.update({"experiment": "curve", "teacher_step": s, "seed": int(pt["seed"]), "pct": np.nan})
        if s in by_step.index:
            r["teacher_fim_loss"] = float(by_step.loc[s, "teacher_fim_loss"])
            tf = by_step.loc[s, "teacher_flops"]
            r["teacher_flops"] = float(final_teacher_flops) if (pd.isna(tf) and final_teacher_flops is not None) \
                else float(tf)
        r["wall_s"] = float(np.nansum([r.get("extract_wall_s", np.nan), r.get("student_wall_s", np.nan)]))
        rows.append(r)
    c = pd.DataFrame(rows)
    df = pd.concat([x for x in (a, c) if len(x)], ignore_index=True) if (len(a) or len(c)) else pd.DataFrame()
    df = _order(df, ID_22 + METRICS + TAIL)
    return df


def _first(x):
    """A rule input that may be a path, a (possibly empty) list of one path, or None."""
    if x is None or isinstance(x, (str, Path)):
        return x
    x = list(x)
    return x[0] if x else None


def write_all(inp, out, params) -> None:
    """Everything of the ``phase2_report`` rule (see rules/phase2.smk)."""
    from swejepa.analysis.run import write_csv
    from swejepa.tex import write_macros

    metric = params.metric
    t21 = table_21(list(inp.teachers))
    write_csv(t21, out.csv21)
    table21(t21, list(params.table_metrics), out.table21)
    figure21(t21, list(params.table_metrics), Path(out.fig21).with_suffix(""))
    try:
        crit = criterion(t21, metric, params.small, params.large)
    except ValueError as e:
        crit = {"error": str(e)}
    final_flops = None
    info_path = _first(getattr(inp, "teacher_info", None))
    if info_path:
        final_flops = json.loads(Path(info_path).read_text()).get("flops_spent")
    t22 = table_22(list(inp.alloc), list(params.curve_points), _first(getattr(inp, "curve_csv", None)), final_flops)
    write_csv(t22, out.csv22)
    table22(t22, metric, out.table22)
    fl = t21.loc[t21["teacher"] == UNTRAINED, metric].astype(float)
    figures22(t22, metric, Path(out.fig22_alloc).with_suffix(""), Path(out.fig22_curve).with_suffix(""),
              floor=float(fl.mean()) if len(fl) else None)
    Path(out.criterion).write_text(json.dumps(crit, indent=1, default=float) + "\n")
    write_macros(macros(crit, t22[t22["experiment"] == "alloc"], metric), out.macros)
