"""Experiment 1.1/1.2 report: tables, figures and macros from the per-student CSV/JSON
outputs (no torch needed). Loss vs downstream fits (:func:`linear_fit`,
:func:`correlation_table`) live here so the report runs in the analysis env."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..settings import VerdictSettings
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
                      exclude=NON_METRICS, min_step: int = 1) -> pd.DataFrame:
    """Linear fit of each downstream metric on the loss (R², slope, Pearson, Spearman), per
    student (``group_col``) and pooled, over the checkpoints with ``step >= min_step``: step 0
    (the untrained network) is left out, since on metrics that reward token identity it
    is an outlier that alone makes a line (issue 16)."""
    if "step" in df and min_step:
        df = df[pd.to_numeric(df["step"], errors="coerce") >= min_step]
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
                 "spec_mrr": "spec MRR", "spec_recall1": "spec R@1", "spec_recall5": "spec R@5",
                 "hard_mrr": "hard MRR", "hard_recall1": "hard R@1", "hard_recall5": "hard R@5",
                 "probe_selectivity": "probe selectivity"}


def metric_label(m: str) -> str:
    if m in METRIC_LABELS:
        return METRIC_LABELS[m]
    if m.startswith("probe_"):
        body = m[len("probe_"):]
        name, kind = body.rsplit("_", 1)
        return f"probe {name} ({ {'r2': 'R2', 'acc': 'acc', 'sel': 'selectivity'}.get(kind, kind)})"
    return m


def _criterion(corr: pd.DataFrame) -> pd.DataFrame:
    """Per metric, a sign-aware summary of the linear fits: the minimum R² over the
    individual students (pooled row if only one) when every student's slope is negative
    (a lower loss goes with a higher metric, the seed's direction), else 0 (a wrong or
    inconsistent direction); best first: ``metric, r2``. Used to pick the metrics shown in
    the figure; the verdict is :func:`swejepa.verdicts.exp12` (rank correlation + CI)."""
    if not len(corr):
        return pd.DataFrame(columns=["metric", "r2"])
    per = corr[corr["student"] != "all"]
    if not len(per):
        per = corr

    def crit(d):
        s = d["slope"].to_numpy(dtype=float)
        if np.isnan(d["r2"].to_numpy(dtype=float)).any():
            return np.nan
        return float(d["r2"].min()) if (s < 0).all() else 0.0
    out = pd.DataFrame([{"metric": m, "r2": crit(d)} for m, d in per.groupby("metric")]).dropna()
    return out.sort_values("r2", ascending=False, kind="stable").reset_index(drop=True)


def _read_students(students, metrics_paths, summary_paths, success_paths, checkpoint_paths):
    """(summary rows, training curves per student, checkpoint points of the `main` students,
    success checks of the `main` students)."""
    rows, curves, points, successes = [], {}, [], {}
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
            "token_ratio": succ["token_ratio"], "token_ratio_ci_low": succ.get("token_ratio_ci_low", np.nan),
            "token_ratio_ci_high": succ.get("token_ratio_ci_high", np.nan), "token_top1": succ["token_top1"],
            "region_ratio": succ["region_ratio"], "region_top1": succ["region_top1"],
            "chance_top1": succ["token_chance_top1"], "std_ratio": succ["std_ratio"],
            "hard_mrr": last.get("hard_mrr", np.nan), "probe_selectivity": last.get("probe_selectivity", np.nan),
            "refactor_mrr": last.get("refactor_mrr", np.nan),
            "target_regions": summ.get("target_regions", np.nan), "target_tokens": summ.get("target_tokens", np.nan),
            "epochs": summ.get("epochs", np.nan), "targets": summ.get("targets", ""),
            "wall_s": summ["wall_s"],
        })
        if variant == "main":
            ck = ck.copy()
            ck.insert(0, "student", teacher)
            points.append(ck)
            successes[teacher] = succ
    return pd.DataFrame(rows), curves, points, successes


def _ci_cell(v, lo, hi, digits: int = 2) -> str:
    v, lo, hi = (float(x) if x is not None else np.nan for x in (v, lo, hi))
    if not np.isfinite(v):
        return "--"
    return f"{v:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]" if np.isfinite(lo) and np.isfinite(hi) \
        else f"{v:.{digits}f}"


def _untrained(points: list, teacher) -> dict:
    """The step-0 (untrained) checkpoint metrics of ``teacher``'s main student, or {}."""
    for ck in points:
        if len(ck) and ck["student"].iloc[0] == teacher and (ck["step"] == 0).any():
            return ck[ck["step"] == 0].iloc[0].to_dict()
    return {}


def _table11_main(summary: pd.DataFrame, points: list, path, level: float | None) -> None:
    """The headline of Experiment 1.1: the main students, with the untrained student's
    downstream metric beside the trained one's."""
    m = summary[summary["student"] == "main"]
    rows = []
    for r in m.itertuples():
        u = _untrained(points, r.teacher)
        rows.append({"teacher": r.teacher, "loss@0": r.val_loss_init, "val loss": r.val_loss,
                     "d own/other [CI]": _ci_cell(r.token_ratio, r.token_ratio_ci_low, r.token_ratio_ci_high, 3),
                     "top-1": r.token_top1, "chance": r.chance_top1, "std pred/tgt": r.std_ratio,
                     "hard MRR": r.hard_mrr, "hard MRR@0": u.get("hard_mrr", np.nan)})
    ci_txt = f" ({int(round(100 * level))}\% CI over val regions)" if level else ""
    write_table(pd.DataFrame(rows), path, caption=(
        f"Experiment 1.1, main students (val split). d own/other{ci_txt}: distance of a prediction to its "
        "own target over that to other positions' targets (<1 is better); top-1 against chance; std "
        "pred/tgt: collapse monitor (1 = as varied as the targets); hard MRR of the trained and of the "
        "untrained (@0) student on the lexically hard retrieval. The full grid, ablations included, is "
        "Table~\\ref{tab:exp11-student-grid}."), label="tab:exp11-student")


def _table11_ablation(summary: pd.DataFrame, ablation_teacher, kinds: dict, points: list, path) -> None:
    """The ablation as a comparison: each flipped option against the reference (the main
    recipe trained as long as the ablation students) and the untrained student."""
    a = summary[(summary["teacher"] == ablation_teacher) & (summary["student"] != "main")]
    cols = {"val_loss": "val loss", "std_ratio": "std pred/tgt", "hard_mrr": "hard MRR",
            "probe_selectivity": "probe sel.", "refactor_mrr": "refactor MRR"}
    if not len(a):
        write_table(pd.DataFrame([{"note": "no ablation in this configuration"}]), path,
                    caption="Experiment 1.1: student ablation (not run).", label="tab:exp11-ablation")
        return
    ref = a[a["student"] == "reference"]
    rows = []
    u = _untrained(points, ablation_teacher)
    if u:
        rows.append({"variant": "untrained (step 0)", "kind": "reference", "steps": 0,
                     **{v: u.get(k, np.nan) for k, v in cols.items() if k not in ("std_ratio",)},
                     "std pred/tgt": np.nan, "val loss": u.get("val_loss", np.nan)})
    order = {"reference": 0, "design": 1, "collapse": 2}
    for r in sorted(a.itertuples(), key=lambda r: (order.get(kinds.get(r.student, "design"), 3), r.student)):
        row = {"variant": r.student.replace("-", ": ", 1) if r.student != "reference" else "reference (main recipe)",
               "kind": kinds.get(r.student, "design"), "steps": int(r.steps)}
        row.update({v: getattr(r, k) for k, v in cols.items()})
        if len(ref) and r.student != "reference":
            row["hard MRR vs ref."] = r.hard_mrr - float(ref["hard_mrr"].iloc[0])
        rows.append(row)
    order_cols = ["variant", "kind", "steps", "val loss", "std pred/tgt", "hard MRR", "hard MRR vs ref.",
                  "probe sel.", "refactor MRR"]
    tab = pd.DataFrame(rows)
    tab = tab[[c for c in order_cols if c in tab.columns]]
    write_table(tab, path, caption=(
        f"Experiment 1.1, ablation ({ablation_teacher} teacher, final checkpoints): one option flipped per row "
        "against the reference, the main recipe trained as long; `collapse' rows vary the loss, the target "
        "normalisation, the context length and the learning rate (why representations lose quality as the "
        "loss falls); the untrained student is the floor a trained one must beat. val loss is in each row's own loss "
        "(not comparable across losses); hard MRR vs ref.: difference to the reference."), label="tab:exp11-ablation")


def _table11(summary: pd.DataFrame, design: dict, ablation_teacher, path, level: float | None) -> None:
    summary = summary.copy()
    summary["d own/other"] = [_ci_cell(r.token_ratio, r.token_ratio_ci_low, r.token_ratio_ci_high, 3)
                              for r in summary.itertuples()]
    tab = summary.rename(columns={
        "params_M": "params (M)", "val_loss_init": "loss@0", "val_loss": "val loss",
        "token_top1": "top-1", "region_top1": "region top-1",
        "chance_top1": "chance", "std_ratio": "std pred/tgt", "hard_mrr": "hard MRR",
        "probe_selectivity": "probe sel.", "refactor_mrr": "refactor MRR"})
    tab = tab[["teacher", "student", "params (M)", "steps", "loss@0", "val loss", "d own/other", "top-1",
               "region top-1", "chance", "std pred/tgt", "hard MRR", "probe sel.", "refactor MRR"]]
    design_txt = ", ".join(f"{k}={v}" for k, v in design.items())
    ci_txt = f" [{int(round(100 * level))}\\% CI, bootstrap over val regions]" if level else ""
    write_table(tab, path, caption=(
        "Experiment 1.1: students trained on each teacher's per-token latents (val split). "
        f"`main' uses the configured design ({design_txt}); the other rows flip one design option "
        f"for the {ablation_teacher} teacher. d own/other{ci_txt}: mean distance of a prediction to its own "
        "target over the mean distance to targets of other masked positions (<1 is better); top-1: "
        "own target picked among random others (chance given); std pred/tgt: collapse monitor. Downstream "
        "metrics of the final checkpoint: hard MRR (lexically hard retrieval; -- before items are flagged "
        "hard), probe sel. (probe R$^2$ minus the body-length baseline's, log1p counts), refactor MRR (rewards "
        "preserved token identity: the lexical reference)."),
        label="tab:exp11-student-grid")


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


def _table12(rho: pd.DataFrame, summ: pd.DataFrame, path, thr: float, level: float) -> None:
    """Rows: downstream metrics; per student Spearman rho(val loss, metric) over the
    checkpoints after step 0; for the criterion metrics the worst student's rho, its CI and
    the verdict."""
    if len(rho):
        piv = rho.pivot(index="metric", columns="student", values="rho")
        piv.columns = [f"rho {c}" for c in piv.columns]
        npts = rho.groupby("metric")["n"].max()
        piv.insert(0, "n", npts.reindex(piv.index).astype(int))
        crit = summ.set_index("metric") if len(summ) else pd.DataFrame()
        piv["criterion: worst rho [CI]"] = [
            _ci_cell(crit.loc[m, "rho"], crit.loc[m, "rho_ci_low"], crit.loc[m, "rho_ci_high"])
            if m in crit.index else "" for m in piv.index]
        piv["verdict"] = [str(crit.loc[m, "verdict"]).replace("_", " ") if m in crit.index else ""
                          for m in piv.index]
        order = list(crit.index) + [m for m in piv.index if m not in crit.index]
        piv = piv.loc[order].reset_index()
        piv["metric"] = piv["metric"].map(metric_label)
    else:
        piv = pd.DataFrame({"metric": [], "rho": []})
    write_table(piv, path, caption=(
        "Experiment 1.2: Spearman rank correlation $\\rho$ between a student's validation loss and each downstream "
        "metric (Phase 0 retrieval and probes on the student's own representations) across its checkpoints "
        "\\emph{after step 0} (n per student; step 0, the untrained network, is shown in the figure but left out "
        "of every fit: on metrics that reward preserved token identity it is an outlier that alone makes a "
        f"line). The seed's direction is $\\rho<0$: a lower loss goes with a better metric. The criterion "
        f"(seed: $R^2>{thr * thr:g}$) is $\\rho < {thr:.3f} = -\\sqrt{{{thr * thr:g}}}$ on at least one criterion "
        "metric for the "
        f"worst main student of a non-random teacher, with a {int(round(100 * level))}\\% percentile bootstrap "
        "CI over checkpoints; met when the whole CI is below, not met when it is above, else underpowered "
        "(also with too few checkpoints)."), label="tab:exp12-correlation")


def _figure12(pts: pd.DataFrame, show, summ: pd.DataFrame, stem) -> None:
    from ..plotting import FULL_WIDTH, figure, savefig

    show = list(show)[:3]
    fig, axes = figure(FULL_WIDTH, 2.3, ncols=max(1, len(show)))
    axes = np.atleast_1d(axes)
    crit = summ.set_index("metric") if len(summ) else pd.DataFrame()
    for ax, metric in zip(axes, show):
        for i, (st, d) in enumerate(pts.groupby("student")):
            col = f"C{i % 10}"
            d0, d1 = d[d["step"] <= 0], d[d["step"] > 0]
            ax.scatter(d1["val_loss"], d1[metric], s=8, color=col, label=st)
            ax.scatter(d0["val_loss"], d0[metric], s=14, facecolors="none", edgecolors=col,
                       label="step 0 (untrained)" if i == 0 else None)
            f = linear_fit(d1["val_loss"], d1[metric])
            if np.isfinite(f["slope"]):
                xs = np.linspace(d1["val_loss"].min(), d1["val_loss"].max(), 10)
                ax.plot(xs, f["intercept"] + f["slope"] * xs, lw=0.8, color=col)
        title = metric_label(metric)
        if metric in crit.index:
            title += f": worst $\\rho$={float(crit.loc[metric, 'rho']):.2f}"
        ax.set(xlabel="student val loss", ylabel=metric_label(metric), title=title)
        # the seed's direction: lower loss with a higher metric (up and to the left)
        ax.annotate("better", xy=(0.04, 0.96), xytext=(0.26, 0.74), xycoords="axes fraction",
                    textcoords="axes fraction", fontsize=6, color="grey", ha="center", va="center",
                    arrowprops={"arrowstyle": "->", "color": "grey", "lw": 0.7})
    if show:
        axes[0].legend(fontsize=5, frameon=False)
    else:
        axes[0].text(0.5, 0.5, "no downstream metrics", ha="center", va="center", transform=axes[0].transAxes)
    savefig(fig, stem)


def _macros(summary: pd.DataFrame, summ: pd.DataFrame, row11: dict, row12: dict, thr: float) -> dict:
    mac = {}
    main = summary[summary["student"] == "main"]
    for _, r in main.iterrows():
        t = _letters(r["teacher"])
        mac[f"Student{t}ValLoss"] = float(r["val_loss"])
        mac[f"Student{t}TokenRatio"] = float(r["token_ratio"])
        if np.isfinite(float(r["token_ratio_ci_low"])):
            mac[f"Student{t}TokenRatioLow"] = float(r["token_ratio_ci_low"])
            mac[f"Student{t}TokenRatioHigh"] = float(r["token_ratio_ci_high"])
        mac[f"Student{t}TopOne"] = float(r["token_top1"])
        mac[f"Student{t}StdRatio"] = float(r["std_ratio"])
    if len(main):
        mac["StudentChanceTopOne"] = float(main["chance_top1"].iloc[0])
        mac["StudentParamsM"] = float(main["params_M"].iloc[0])
        mac["StudentSteps"] = int(main["steps"].iloc[0])
        mac["StudentCount"] = int(len(main))
        # issue 20: distinct target regions/tokens the main students train on, and epochs over them
        if "target_regions" in main and main["target_regions"].notna().any():
            mac["StudentTargetRegions"] = int(main["target_regions"].min())
            mac["StudentTargetTokens"] = int(main["target_tokens"].min())
            mac["StudentEpochs"] = float(main["epochs"].max())
            mac["StudentTargets"] = "online" if (main["targets"] == "online").any() else "precomputed"
    mac["StudentSuccessVerdict"] = row11["verdict"].replace("_", " ")
    # Experiment 1.2: the verdict's numbers (sign-aware, step 0 left out; swejepa.verdicts.exp12)
    mac["StudentCorrVerdict"] = row12["verdict"].replace("_", " ")
    mac["StudentCorrCriterionMet"] = bool(row12["verdict"] == "met")
    mac["StudentCorrThreshold"] = float(thr)
    if len(summ):
        b = summ.iloc[0]
        mac["StudentCorrBestMetric"] = metric_label(b["metric"])
        mac["StudentCorrBestStudent"] = str(b["student"])
        mac["StudentCorrBestRho"] = float(b["rho"])
        mac["StudentCorrBestRhoLow"] = float(b["rho_ci_low"])
        mac["StudentCorrBestRhoHigh"] = float(b["rho_ci_high"])
        mac["StudentCorrBestPoints"] = int(b["n"])
        mac["StudentCorrMetricsMet"] = int((summ["verdict"] == "met").sum())
        mac["StudentCorrMetrics"] = int(len(summ))
    return mac


def build_report(students, metrics_paths, summary_paths, success_paths, checkpoint_paths, design: dict,
                 ablation_teacher, out: dict, *, verdicts: VerdictSettings | None = None, seed: int = 0,
                 random_teachers=(), variant_kinds: dict | None = None) -> dict:
    """Write every Experiment 1.1/1.2 product; ``out`` maps names to paths (see rules/student.smk;
    ``verdicts`` and ``criterion`` are optional). The 1.1 and 1.2 verdicts are
    :func:`swejepa.verdicts.exp11` and :func:`swejepa.verdicts.exp12` (students of
    ``random_teachers`` left out of 1.2), with the thresholds and CI settings of ``verdicts``."""
    from .. import verdicts as V

    vs = verdicts or VerdictSettings()
    summary, curves, points, successes = _read_students(students, metrics_paths, summary_paths, success_paths,
                                                        checkpoint_paths)
    summary.to_csv(out["summary"], index=False)
    # Experiment 1.1: students, success check, ablation of the design options
    _table11(summary, design, ablation_teacher, out.get("table11_grid", out["table11"]), vs.level)
    if out.get("table11_grid"):
        _table11_main(summary, points, out["table11"], vs.level)
    if out.get("table11_ablation"):
        _table11_ablation(summary, ablation_teacher, variant_kinds or {}, points, out["table11_ablation"])
    _figure11(curves, Path(out["figure11"]).with_suffix(""))
    row11 = V.exp11(successes, vs)
    # Experiment 1.2: loss vs downstream metrics across checkpoints (step 0 left out of every fit)
    pts = pd.concat(points, ignore_index=True) if points else pd.DataFrame()
    pts.to_csv(out["points"], index=False)
    corr = correlation_table(pts) if len(pts) else pd.DataFrame(columns=["student", "metric", "r2", "slope"])
    corr.to_csv(out["correlation"], index=False)
    metrics = [m for m in pts.columns if m not in NON_METRICS and m != "student"
               and pd.api.types.is_numeric_dtype(pts[m])] if len(pts) else []
    crit_metrics = [m for m in vs.corr_metrics if m in metrics and pts[m].notna().any()]
    rho_all = V.exp12_table(pts, metrics, vs, seed) if len(pts) else pd.DataFrame(columns=V.CRITERION_COLUMNS)
    eligible = pts[~pts["student"].isin(list(random_teachers))] if len(pts) else pts
    table = V.exp12_table(eligible, crit_metrics, vs, seed) if len(eligible) else \
        pd.DataFrame(columns=V.CRITERION_COLUMNS)
    row12, summ = V.exp12(table, vs, absent=[m for m in vs.corr_metrics if m not in crit_metrics])
    thr = -float(np.sqrt(vs.corr_r2))
    _table12(rho_all, summ, out["table12"], thr, vs.level)
    show = list(summ["metric"]) if len(summ) else list(_criterion(corr)["metric"])
    _figure12(pts, show, summ, Path(out["figure12"]).with_suffix(""))
    if out.get("criterion"):
        table.to_csv(out["criterion"], index=False)
    if out.get("verdicts"):
        V.frame([row11, row12]).to_csv(out["verdicts"], index=False)
    mac = _macros(summary, summ, row11, row12, thr)
    write_macros(mac, out["macros"])
    return mac
