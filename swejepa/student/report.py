"""Experiment 1.1/1.2 report: tables, figures and macros from the per-student CSV/JSON
outputs (no torch needed). Loss vs downstream fits (:func:`linear_fit`,
:func:`correlation_table`) live here so the report runs in the analysis env."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..tex import write_macros, write_table


def linear_fit(x, y) -> dict:
    """Least squares ``y = a + b x``: slope, intercept, R², Pearson r, Spearman ρ, n."""
    from scipy import stats

    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    nan = float("nan")
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"n": int(len(x)), "slope": nan, "intercept": nan, "r2": nan, "pearson": nan, "spearman": nan}
    b, a = np.polyfit(x, y, 1)
    pred = a + b * x
    r2 = 1.0 - ((y - pred) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    return {"n": int(len(x)), "slope": float(b), "intercept": float(a), "r2": float(r2),
            "pearson": float(np.corrcoef(x, y)[0, 1]), "spearman": float(stats.spearmanr(x, y).statistic)}


NON_METRICS = ("step", "flops", "val_loss", "pred_std", "target_std")


def correlation_table(df: pd.DataFrame, loss_col: str = "val_loss", group_col: str | None = "student",
                      exclude=NON_METRICS) -> pd.DataFrame:
    """R² of each downstream metric against the loss, per student (``group_col``) and pooled."""
    metrics = [c for c in df.columns if c not in exclude and c != group_col and c != loss_col
               and pd.api.types.is_numeric_dtype(df[c])]
    groups = [("all", df)]
    if group_col and group_col in df.columns and df[group_col].nunique() > 1:
        groups = [(g, d) for g, d in df.groupby(group_col, sort=True)] + groups
    rows = []
    for g, d in groups:
        for m in metrics:
            rows.append({"student": g, "metric": m, **linear_fit(d[loss_col], d[m])})
    return pd.DataFrame(rows)


def _letters(s: str) -> str:
    words = re.findall(r"[A-Za-z]+", str(s))
    return "".join(w[:1].upper() + w[1:] for w in words) or "X"


METRIC_LABELS = {"refactor_mrr": "refactor MRR", "refactor_recall1": "refactor R@1", "refactor_recall5": "refactor R@5",
                 "spec_mrr": "spec MRR", "spec_recall1": "spec R@1", "spec_recall5": "spec R@5"}


def metric_label(m: str) -> str:
    if m in METRIC_LABELS:
        return METRIC_LABELS[m]
    if m.startswith("probe_"):
        body = m[len("probe_"):]
        name, kind = body.rsplit("_", 1)
        return f"probe {name} ({'R2' if kind == 'r2' else 'acc'})"
    return m


def _criterion(corr: pd.DataFrame) -> pd.DataFrame:
    """Per metric, the minimum R² over the individual students (pooled row if only one),
    0 when the fitted slopes disagree in sign between students; best first: ``metric, r2``."""
    if not len(corr):
        return pd.DataFrame(columns=["metric", "r2"])
    per = corr[corr["student"] != "all"]
    if not len(per):
        per = corr

    def crit(d):
        s = np.sign(d["slope"].to_numpy(dtype=float))
        if np.isnan(d["r2"].to_numpy(dtype=float)).any():
            return np.nan
        return float(d["r2"].min()) if len(set(s)) == 1 else 0.0
    out = pd.DataFrame([{"metric": m, "r2": crit(d)} for m, d in per.groupby("metric")]).dropna()
    return out.sort_values("r2", ascending=False, kind="stable").reset_index(drop=True)


def _read_students(students, metrics_paths, summary_paths, success_paths, checkpoint_paths):
    """(summary rows, training curves per student, checkpoint points of the `main` students)."""
    rows, curves, points = [], {}, []
    for (teacher, variant), mp, sp, up, cp in zip(students, metrics_paths, summary_paths, success_paths,
                                                  checkpoint_paths):
        summ = json.loads(Path(sp).read_text())
        succ = json.loads(Path(up).read_text())
        curves[(teacher, variant)] = pd.read_csv(mp)
        ck = pd.read_csv(cp)
        last = ck.sort_values("step").iloc[-1].to_dict() if len(ck) else {}
        rows.append({
            "teacher": teacher, "student": variant,
            "params_M": summ["n_params"] / 1e6, "steps": int(summ["steps"]),
            "val_loss_init": summ["initial_val_loss"], "val_loss": succ["loss"],
            "token_ratio": succ["token_ratio"], "token_top1": succ["token_top1"],
            "region_ratio": succ["region_ratio"], "region_top1": succ["region_top1"],
            "chance_top1": succ["token_chance_top1"], "std_ratio": succ["std_ratio"],
            "refactor_mrr": last.get("refactor_mrr", np.nan), "spec_mrr": last.get("spec_mrr", np.nan),
            "wall_s": summ["wall_s"],
        })
        if variant == "main":
            ck = ck.copy()
            ck.insert(0, "student", teacher)
            points.append(ck)
    return pd.DataFrame(rows), curves, points


def _table11(summary: pd.DataFrame, design: dict, ablation_teacher, path) -> None:
    tab = summary.rename(columns={
        "params_M": "params (M)", "val_loss_init": "loss@0", "val_loss": "val loss",
        "token_ratio": "d own/other", "token_top1": "top-1", "region_top1": "region top-1",
        "chance_top1": "chance", "std_ratio": "std pred/tgt", "refactor_mrr": "refactor MRR",
        "spec_mrr": "spec MRR"})
    tab = tab[["teacher", "student", "params (M)", "steps", "loss@0", "val loss", "d own/other", "top-1",
               "region top-1", "chance", "std pred/tgt", "refactor MRR", "spec MRR"]]
    design_txt = ", ".join(f"{k}={v}" for k, v in design.items())
    write_table(tab, path, caption=(
        "Experiment 1.1: students trained on each teacher's per-token latents (val split). "
        f"`main' uses the configured design ({design_txt}); the other rows flip one design option "
        f"for the {ablation_teacher} teacher. d own/other: mean distance of a prediction to its own "
        "target over the mean distance to targets of other masked positions (<1 is better); top-1: "
        "own target picked among random others (chance given); std pred/tgt: collapse monitor."),
        label="tab:exp11-student")


def _figure11(curves: dict, stem) -> None:
    from ..plotting import FULL_WIDTH, figure, savefig

    fig, axes = figure(FULL_WIDTH, 2.4, ncols=2)
    for (teacher, variant), m in curves.items():
        lbl = f"{teacher}/{variant}"
        tr = m[m["step"] > 0]
        ls = "-" if variant == "main" else "--"
        if len(tr):
            sm = tr["train_loss"].rolling(max(1, len(tr) // 20), min_periods=1).mean()
            axes[0].plot(tr["step"], sm, ls, label=lbl, lw=1)
        va = m.dropna(subset=["val_loss"])
        axes[1].plot(va["step"], va["val_loss"], ls + "o", ms=2, label=lbl, lw=1)
    axes[0].set(xlabel="step", ylabel="train loss (smoothed)")
    axes[1].set(xlabel="step", ylabel="val loss")
    axes[1].legend(fontsize=5, frameon=False)
    savefig(fig, stem)


def _table12(corr: pd.DataFrame, path) -> None:
    if len(corr):
        piv = corr.pivot(index="metric", columns="student", values="r2")
        cols = [c for c in piv.columns if c != "all"] + (["all"] if "all" in piv.columns else [])
        piv = piv[cols]
        slope = corr[corr["student"] == ("all" if "all" in set(corr["student"]) else corr["student"].iloc[0])]
        piv["sign"] = slope.set_index("metric")["slope"].reindex(piv.index).map(
            lambda s: "--" if not np.isfinite(s) else ("lower loss, higher" if s < 0 else "lower loss, lower"))
        piv = piv.reset_index()
        piv["metric"] = piv["metric"].map(metric_label)
        piv.columns = ["metric"] + [f"R2 {c}" for c in piv.columns[1:-1]] + ["direction"]
    else:
        piv = pd.DataFrame({"metric": [], "R2": []})
    write_table(piv, path, caption=(
        "Experiment 1.2: $R^2$ of a linear fit of each downstream metric (Phase 0 retrieval and linear "
        "probes on the student's own representations) on the student's validation loss, across the "
        "checkpoints of each student and pooled (`all'; teachers' losses differ in scale). The seed's "
        "criterion, $R^2>0.8$ for at least one metric, is checked per metric on its worst student, "
        "with the fitted slopes of all students of one sign."), label="tab:exp12-correlation")


def _figure12(pts: pd.DataFrame, best: pd.DataFrame, stem) -> None:
    from ..plotting import FULL_WIDTH, figure, savefig

    show = list(best["metric"][:3]) if len(best) else []
    fig, axes = figure(FULL_WIDTH, 2.3, ncols=max(1, len(show)))
    axes = np.atleast_1d(axes)
    for ax, metric in zip(axes, show):
        for st, d in pts.groupby("student"):
            ax.scatter(d["val_loss"], d[metric], s=8, label=st)
            f = linear_fit(d["val_loss"], d[metric])
            if np.isfinite(f["slope"]):
                xs = np.linspace(d["val_loss"].min(), d["val_loss"].max(), 10)
                ax.plot(xs, f["intercept"] + f["slope"] * xs, lw=0.8)
        r2 = best.set_index("metric").loc[metric, "r2"]
        ax.set(xlabel="student val loss", ylabel=metric_label(metric), title=f"min over students $R^2$={r2:.2f}")
    if show:
        axes[0].legend(fontsize=5, frameon=False)
    else:
        axes[0].text(0.5, 0.5, "no downstream metrics", ha="center", va="center", transform=axes[0].transAxes)
    savefig(fig, stem)


def _macros(summary: pd.DataFrame, corr: pd.DataFrame, best: pd.DataFrame) -> dict:
    mac = {}
    main = summary[summary["student"] == "main"]
    for _, r in main.iterrows():
        t = _letters(r["teacher"])
        mac[f"Student{t}ValLoss"] = float(r["val_loss"])
        mac[f"Student{t}TokenRatio"] = float(r["token_ratio"])
        mac[f"Student{t}TopOne"] = float(r["token_top1"])
        mac[f"Student{t}StdRatio"] = float(r["std_ratio"])
    if len(main):
        mac["StudentChanceTopOne"] = float(main["chance_top1"].iloc[0])
        mac["StudentParamsM"] = float(main["params_M"].iloc[0])
        mac["StudentSteps"] = int(main["steps"].iloc[0])
        mac["StudentCount"] = int(len(main))
    if len(best):
        pooled = corr[corr["student"] == "all"].set_index("metric")["r2"]
        mac["StudentCorrBestPooledRsq"] = float(pooled.get(best["metric"].iloc[0], np.nan))
        mac["StudentCorrBestRsq"] = float(best["r2"].iloc[0])
        mac["StudentCorrBestMetric"] = metric_label(best["metric"].iloc[0]).replace("$R^2$", "R2")
        mac["StudentCorrCriterionMet"] = bool(best["r2"].iloc[0] > 0.8)
        mac["StudentCorrMetricsAboveCrit"] = int((best["r2"] > 0.8).sum())
    per = corr[(corr["student"] != "all")].dropna(subset=["r2"]) if len(corr) else pd.DataFrame()
    for st, d in (per.groupby("student") if len(per) else []):
        mac[f"StudentCorr{_letters(st)}BestRsq"] = float(d["r2"].max())
    return mac


def build_report(students, metrics_paths, summary_paths, success_paths, checkpoint_paths, design: dict,
                 ablation_teacher, out: dict) -> dict:
    """Write every Experiment 1.1/1.2 product; ``out`` maps names to paths (see rules/student.smk)."""
    summary, curves, points = _read_students(students, metrics_paths, summary_paths, success_paths,
                                             checkpoint_paths)
    summary.to_csv(out["summary"], index=False)
    # Experiment 1.1: students, success check, ablation of the design options
    _table11(summary, design, ablation_teacher, out["table11"])
    _figure11(curves, Path(out["figure11"]).with_suffix(""))
    # Experiment 1.2: loss vs downstream metrics across checkpoints
    pts = pd.concat(points, ignore_index=True) if points else pd.DataFrame()
    pts.to_csv(out["points"], index=False)
    corr = correlation_table(pts) if len(pts) else pd.DataFrame(columns=["student", "metric", "r2"])
    corr.to_csv(out["correlation"], index=False)
    _table12(corr, out["table12"])
    # The criterion, per metric: its R² in the *worst* student (every student's loss must
    # predict it; the pooled fit mixes teachers whose losses live on different scales).
    best = _criterion(corr)
    _figure12(pts, best, Path(out["figure12"]).with_suffix(""))
    mac = _macros(summary, corr, best)
    write_macros(mac, out["macros"])
    return mac
