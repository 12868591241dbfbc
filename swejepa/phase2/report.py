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


def _run_label(r) -> str:
    who = str(r.get("compute_teacher") or "")
    ft = r.get("teacher_mode") == "finetune"
    if r["experiment"] == "compute":
        what = f"{int(r['pct'])}% " + ("fine-tuning" if ft else "teacher")
    else:
        what = ("fine-tune step " if ft else "Stage-1 step ") + f"{int(r['teacher_step'])}"
    return f"{who}: {what}" if who else what


def table22(df: pd.DataFrame, metric: str, path) -> None:
    from swejepa.tex import write_table

    rows = []
    for _, r in df.iterrows():
        rows.append({"run": _run_label(r), "seed": int(r["seed"]), "teacher FLOPs": _num(r["teacher_flops"]),
                     "student FLOPs": _num(r["student_flops"]), "teacher FIM loss": _num(r["teacher_fim_loss"]),
                     "student val loss": _num(r["student_val_loss"]),
                     METRIC_LABELS.get(metric, metric): _num(r[metric]),
                     "probe R2": _num(r["probe_score"])})  # wall times: exp22_compute.csv (not deterministic)
    if not rows:  # 2.2 not configured: say so in the table
        rows = [{"run": "not run (no phase2.compute.teachers in this config's teacher list)"}]
    write_table(pd.DataFrame(rows), path, caption="Experiment 2.2: a fixed training budget (6 x params x tokens) "
                "split between teacher training (Stage 1 from scratch, or FIM fine-tuning of a pretrained "
                "teacher) and student training (compute rows), and students of teacher checkpoints at increasing "
                "training steps, trained identically (step rows).",
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


def macros(crit: dict, sweep: pd.DataFrame, metric: str) -> dict:
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
    if len(sweep):
        if "compute_teacher" in sweep and sweep["compute_teacher"].notna().any():
            # the macros describe the first compute teacher's sweep (the default's tiny teacher)
            sweep = sweep[sweep["compute_teacher"] == sweep["compute_teacher"].dropna().iloc[0]]
        g = sweep.groupby("pct")[metric].mean()
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


def write_all(inp, out, params) -> None:
    """Everything of the ``phase2_report`` rule (see rules/phase2.smk)."""
    from swejepa.phase0.jobs import write_csv
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
    t22 = table_22(list(inp.compute), list(params.curve_points), list(params.compute_teachers))
    write_csv(t22, out.csv22)
    table22(t22, metric, out.table22)
    fl = t21.loc[t21["teacher"] == UNTRAINED, metric].astype(float)
    figures22(t22, metric, Path(out.fig22_compute).with_suffix(""), Path(out.fig22_curve).with_suffix(""),
              floor=float(fl.mean()) if len(fl) else None)
    Path(out.criterion).write_text(json.dumps(crit, indent=1, default=float) + "\n")
    write_macros(macros(crit, t22[t22["experiment"] == "compute"], metric), out.macros)
