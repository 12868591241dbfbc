"""Phase-0 products from the per-cell CSVs: combined CSVs, booktabs tables, figures,
LaTeX macros and the browsable retrieval report."""

from __future__ import annotations

import json
import logging
import re

import numpy as np
import pandas as pd

from swejepa.runtime import write_text_atomic
from swejepa.tex import booktabs, escape, write_macros

from .jobs import write_csv

log = logging.getLogger("swejepa")

LAYER_ORDER = ["first", "quarter", "half", "three_quarter", "last"]
POOL_ORDER = ["mean", "last", "none"]


def _cat(paths) -> pd.DataFrame:
    return pd.concat([pd.read_csv(p) for p in paths], ignore_index=True) if len(paths) else pd.DataFrame()


def _order(df, layers):
    df = df.copy()
    df["layer"] = pd.Categorical(df["layer"], [l for l in LAYER_ORDER if l in set(layers)] or layers, ordered=True)
    return df


def _texname(s: str) -> str:
    """Letters-only CamelCase for macro names (digits spelled out)."""
    words = {"0": "Zero", "1": "One", "2": "Two", "3": "Three", "4": "Four", "5": "Five", "6": "Six",
             "7": "Seven", "8": "Eight", "9": "Nine"}
    s = "".join(words.get(c, c) for c in str(s))
    return "".join(p[:1].upper() + p[1:] for p in re.split(r"[^A-Za-z]+", s) if p)


# ----------------------------------------------------------------------------- 0.1

def best_differentiated(stats: pd.DataFrame, mask: str) -> pd.DataFrame:
    """Per teacher: the region-level cell (pool mean/last) of raw vectors with the lowest
    mean pairwise cosine (ties: higher participation ratio). Centered cells are left out:
    their mean cosine is close to 0 by construction."""
    s = stats[(stats["mask"] == mask) & (stats["pool"] != "none")]
    if "center" in s.columns:
        s = s[s["center"] == "raw"]
    s = s.sort_values(["teacher", "cos_mean", "participation_ratio"], ascending=[True, True, False])
    return s.groupby("teacher", sort=False).head(1).reset_index(drop=True)


def _ci_text(v, lo, hi, digits: int = 2) -> str:
    if not np.isfinite(v):
        return "--"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{v:.{digits}f}"
    return f"{v:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _stats_headline(df: pd.DataFrame, mask: str, teachers) -> pd.DataFrame:
    """Per teacher: the best- and worst-differentiated raw region cell of ``mask``."""
    d = df[(df["mask"] == mask) & (df["pool"] != "none")]
    if "center" in d:
        d = d[d["center"].astype(str) == "raw"]
    d = d[pd.to_numeric(d["cos_mean"], errors="coerce").notna()]
    rows = []
    for t in teachers:
        g = d[d["teacher"] == t].sort_values("cos_mean", kind="stable")
        if not len(g):
            continue
        b, w = g.iloc[0], g.iloc[-1]
        rows.append({"teacher": t, "best cell": f"{b['layer']}/{b['pool']}",
                     "cos [CI]": _ci_text(float(b["cos_mean"]), float(b.get("cos_mean_lo", np.nan)),
                                          float(b.get("cos_mean_hi", np.nan))),
                     "PR": float(b["participation_ratio"]), "worst cell": f"{w['layer']}/{w['pool']}",
                     "cos [CI] ": _ci_text(float(w["cos_mean"]), float(w.get("cos_mean_lo", np.nan)),
                                           float(w.get("cos_mean_hi", np.nan)))})
    return pd.DataFrame(rows, columns=["teacher", "best cell", "cos [CI]", "PR", "worst cell", "cos [CI] "])


def combine_stats(inp, out, params) -> None:
    from swejepa.plotting import FULL_WIDTH, figure, savefig

    df = _cat(list(inp.cells))
    write_csv(df, out.csv)
    mask = params.main_mask
    centers = list(getattr(params, "centers", ["raw"]))
    d = _order(df[df["mask"] == mask], params.layers)
    rows = []
    for (t, l), g in d.groupby(["teacher", "layer"], sort=True, observed=True):
        for c in centers:
            gc = g[g["center"] == c]
            if not len(gc):
                continue
            row = {"teacher": t, "layer": str(l), "center": c}
            for pool in [p for p in POOL_ORDER if p in set(gc["pool"])]:
                r = gc[gc["pool"] == pool].iloc[0]
                row[f"{pool}: cos [CI]"] = _ci_text(float(r["cos_mean"]), float(r.get("cos_mean_lo", np.nan)),
                                                    float(r.get("cos_mean_hi", np.nan)))
                row[f"{pool}: >0.9"] = float(r["frac_above_0.9"])
                row[f"{pool}: PR"] = float(r["participation_ratio"])
            rows.append(row)
    tab = pd.DataFrame(rows)
    tab["teacher"] = pd.Categorical(tab["teacher"], params.teachers, ordered=True)
    tab = tab.sort_values(["teacher"], kind="stable")
    best = best_differentiated(df, mask)
    level = df["cos_mean_lo"].notna().any() if "cos_mean_lo" in df else False
    cap = (f"Differentiation of teacher representations ({escape(mask)} mask): mean pairwise cosine "
           r"similarity (cos, with its " + ("95\\% " if level else "") + "percentile bootstrap interval over the "
           r"sampled regions, or tokens for pool none), share of pairs above 0.9 ($>$0.9) and participation ratio "
           r"of the covariance spectrum (PR, an effective dimensionality) per layer, pool (none: per-token vectors) "
           r"and center (raw vectors; centered: minus the sample's mean vector, which removes the common direction "
           r"of anisotropic representations; PR is the same, it is computed from the covariance). "
           "Best-differentiated raw cell per teacher: " +
           "; ".join(f"{escape(r.teacher)} {escape(r.layer)}/{escape(r.pool)}" for r in best.itertuples()) + ".")
    write_text_atomic(out.grid, booktabs(tab, caption=cap, label="tab:exp01-stats-grid", digits=2))
    write_text_atomic(out.table, booktabs(_stats_headline(df, mask, params.teachers), label="tab:exp01-stats", caption=(
        f"Experiment 0.1 headline ({escape(mask)} mask, raw region vectors): per teacher its best- and "
        "worst-differentiated cell (layer/pool, lowest and highest mean pairwise cosine) with the 95\\% "
        "bootstrap interval, and the participation ratio (PR) at the best cell. Every cell, centred vectors "
        "included: Table~\\ref{tab:exp01-stats-grid}."), digits=2))
    # histograms: one figure per teacher, layers as rows, pools as columns, masks x centers overlaid
    hist_paths = list(inp.hists)
    styles = {"raw": "-", "centered": "--"}
    for t in params.teachers:
        layers, pools = list(params.layers), list(params.pools)
        fig, axes = figure(FULL_WIDTH, 1.1 * len(layers) + 0.4, nrows=len(layers), ncols=len(pools),
                           sharex=True, squeeze=False)
        masks = sorted({x.split("/")[-2] for x in hist_paths if f"/stats/{t}/" in x})
        for i, l in enumerate(layers):
            for j, p in enumerate(pools):
                ax = axes[i][j]
                for mi, m in enumerate(masks):
                    for c in centers:
                        path = [x for x in hist_paths if x.endswith(f"/stats/{t}/{m}/{l}_{p}_{c}_hist.csv")]
                        if not path:
                            continue
                        h = pd.read_csv(path[0])
                        dens = h["count"] / max(h["count"].sum(), 1)
                        ax.stairs(dens, np.r_[h["bin_lo"].to_numpy(), h["bin_hi"].iloc[-1]], label=f"{m}, {c}",
                                  color=f"C{mi}", ls=styles.get(c, ":"))
                ax.axvline(0.9, lw=0.5, ls=":", color="grey")
                if i == 0:
                    ax.set_title(f"pool: {p}")
                if j == 0:
                    ax.set_ylabel(f"{l}\nshare of pairs")
                if i == len(layers) - 1:
                    ax.set_xlabel("cosine similarity")
        axes[0][0].legend(frameon=False)
        fig.suptitle(f"Pairwise cosine similarity, teacher {t} (solid: raw, dashed: mean-centered)")
        savefig(fig, f"{out.figures[0].rsplit('/', 1)[0]}/exp01_cosine_hist_{t}_grid")
    _figure_best_worst(df, hist_paths, mask, params.teachers, out.best_worst[0].rsplit(".", 1)[0])


def _figure_best_worst(df: pd.DataFrame, hist_paths, mask: str, teachers, stem) -> None:
    """One panel per teacher: the cosine distribution at its best- and worst-differentiated
    raw region cell (lowest / highest mean pairwise cosine)."""
    from swejepa.plotting import FULL_WIDTH, figure, savefig

    d = df[(df["mask"] == mask) & (df["pool"] != "none")]
    if "center" in d:
        d = d[d["center"].astype(str) == "raw"]
    d = d[pd.to_numeric(d["cos_mean"], errors="coerce").notna()]
    fig, axes = figure(FULL_WIDTH, 2.0, ncols=max(1, len(teachers)), sharey=True, squeeze=False)
    for ax, t in zip(axes[0], teachers):
        g = d[d["teacher"] == t].sort_values("cos_mean", kind="stable")
        ax.set_title(f"teacher {t}")
        ax.set_xlabel("cosine similarity")
        ax.axvline(0.9, lw=0.5, ls=":", color="grey")
        if not len(g):
            continue
        for r, name, color in ((g.iloc[0], "best", "C0"), (g.iloc[-1], "worst", "C3")):
            suffix = f"/stats/{t}/{mask}/{r['layer']}_{r['pool']}_raw_hist.csv"
            path = [x for x in hist_paths if x.endswith(suffix)]
            if not path:
                continue
            h = pd.read_csv(path[0])
            dens = h["count"] / max(h["count"].sum(), 1)
            ax.stairs(dens, np.r_[h["bin_lo"].to_numpy(), h["bin_hi"].iloc[-1]], color=color,
                      label=f"{name}: {r['layer']}/{r['pool']} (mean {float(r['cos_mean']):.2f})")
        ax.legend(frameon=False, fontsize="small", loc="upper left")
    axes[0][0].set_ylabel("share of pairs")
    savefig(fig, stem)


# ----------------------------------------------------------------------------- 0.2

TASKS = (("refactor", "Ref"), ("spec", "Spec"), ("hard", "Hard"))


def _label(t: str, random_teachers) -> str:
    return f"{t} (random init)" if t in random_teachers else t


def _cells_and_ranks(inp) -> list[tuple[dict, pd.DataFrame]]:
    out = []
    for cpath, rpath in zip(list(inp.cells), list(inp.ranks)):
        c = pd.read_csv(cpath, nrows=1)
        cell = {k: str(c[k].iloc[0]) for k in ("teacher", "layer", "pool", "center")}
        out.append((cell, pd.read_csv(rpath)))
    return out


def _agg(df: pd.DataFrame) -> pd.DataFrame:
    """The task x origin rows of a metrics table (no per-transform rows)."""
    return df[df["transform"] == "all"] if "transform" in df.columns else df


def combine_retrieval(inp, out, params) -> None:
    from swejepa.plotting import FULL_WIDTH, figure, savefig
    from swejepa.settings import RetrievalSettings

    from .headline import headline

    r = RetrievalSettings.from_dict(params.retrieval)
    df = _cat(list(inp.cells))
    lex = pd.read_csv(inp.lexical)
    lex["teacher"], lex["layer"], lex["pool"], lex["center"] = "lexical", "-", "-", "-"
    allr = pd.concat([df, lex], ignore_index=True)
    write_csv(allr, out.csv)
    cells = _cells_and_ranks(inp)
    lex_ranks = pd.read_csv(inp.lexical_ranks)
    rnd = list(params.random_teachers)
    head = headline(cells, lex_ranks, list(params.teachers), dict(params.sources), rnd, r.bootstrap,
                    params.seed, r.ci_level)
    write_csv(head, out.headline)
    a = _agg(df)
    a = a[a["origin"] == "all"]
    la = _agg(lex)
    la = la[la["origin"] == "all"].set_index("task")
    pct = f"{100 * r.ci_level:g}\\%"
    # ---- table 1: every cell, raw and centered side by side
    rows = []
    row = {"teacher": "TF-IDF identifiers", "layer": "-", "pool": "-"}
    for c in params.centers:
        for task, short in TASKS:
            row[f"{c}: {short} R@1"] = float(la.loc[task, "recall@1"]) if task in la.index and c == "raw" else np.nan
        row[f"{c}: Hard MRR"] = float(la.loc["hard", "mrr"]) if "hard" in la.index and c == "raw" else np.nan
    rows.append(row)
    for t in params.teachers:
        for l in params.layers:
            for pool in params.pools:
                row = {"teacher": _label(t, rnd), "layer": l, "pool": pool}
                for c in params.centers:
                    g = a[(a["teacher"] == t) & (a["layer"] == l) & (a["pool"] == pool) & (a["center"] == c)] \
                        .set_index("task")
                    for task, short in TASKS:
                        row[f"{c}: {short} R@1"] = float(g.loc[task, "recall@1"]) if task in g.index else np.nan
                    row[f"{c}: Hard MRR"] = float(g.loc["hard", "mrr"]) if "hard" in g.index else np.nan
                rows.append(row)
    nq = a.groupby("task")["n_queries"].max().to_dict() if len(a) else {}
    cap = ("Retrieval of functionally equivalent code (FAISS, cosine), every cell of the grid, raw and mean-centered "
           "vectors (centered: minus the gallery's mean vector). Ref: query = a semantics-preserving rewrite, "
           "relevant = its original and sibling rewrites; Spec: query = a specification (HumanEval prompt with "
           "neutral function names, or the text of an independently implemented specification), relevant = its "
           "implementations; Hard: the lexically hard part, query = a rewrite of a closed function with every "
           "bound identifier renamed, or an independently written implementation, relevant = the rest of its "
           f"group (queries: {nq.get('refactor', 0)}, {nq.get('spec', 0)} and {nq.get('hard', 0)}). "
           "First row: TF-IDF over identifiers (no centering); rows marked random init: the untrained control.")
    write_text_atomic(out.table, booktabs(pd.DataFrame(rows), caption=cap, label="tab:exp02-retrieval-grid",
                                          digits=2))
    # ---- table 2: the headline, hard part, with intervals
    hrows = []
    for h in head.itertuples():
        hrows.append({"teacher": _label(h.teacher, rnd), "best cell": f"{h.layer}/{h.pool}/{h.center}",
                      "R@1": _ci_text(h.recall1, h.recall1_lo, h.recall1_hi),
                      "MRR": _ci_text(h.mrr, h.mrr_lo, h.mrr_hi),
                      "MRR gain": _ci_text(h.gain_mrr, h.gain_mrr_lo, h.gain_mrr_hi),
                      "over": str(h.baseline_mrr).replace("tfidf", "TF-IDF")})
    if len(head):
        h0 = head.iloc[0]
        hrows.append({"teacher": "TF-IDF identifiers", "best cell": "-",
                      "R@1": _ci_text(h0.tfidf_recall1, h0.tfidf_recall1_lo, h0.tfidf_recall1_hi),
                      "MRR": _ci_text(h0.tfidf_mrr, h0.tfidf_mrr_lo, h0.tfidf_mrr_hi),
                      "MRR gain": "-", "over": "-"})
    n_hard = int(head["n_queries"].iloc[0]) if len(head) else 0
    cap = (f"Experiment 0.2 headline: the lexically hard part ({n_hard} queries: rewrites of closed functions with "
           "every identifier they bind renamed, and independently written implementations of the same "
           "specifications). Per teacher its best cell (layer/pool/center, by MRR on these queries), recall@1 and "
           f"MRR with {pct} percentile bootstrap intervals over the queries ({r.bootstrap} resamples), and the gain "
           "over the better of the two baselines (TF-IDF over identifiers, the random-init teacher's best cell) "
           "with its paired-bootstrap interval (the gain in recall@1: phase0/retrieval/headline.csv). The best cell "
           "is chosen on the same queries, which favours it. Every cell and task: "
           "Table~\\ref{tab:exp02-retrieval-grid}.")
    write_text_atomic(out.headline_table, booktabs(pd.DataFrame(hrows), caption=cap, label="tab:exp02-headline"))
    # ---- table 3: recall@1 per query transform, each teacher at its headline cell
    best = {h.teacher: (h.layer, h.pool, h.center) for h in head.itertuples()}
    ranks_of = {(c["teacher"], c["layer"], c["pool"], c["center"]): rk for c, rk in cells}
    methods = [("TF-IDF", lex_ranks)] + [(_label(t, rnd), ranks_of[(t, *best[t])]) for t in params.teachers
                                          if t in best and (t, *best[t]) in ranks_of]
    keys = lex_ranks[["task", "origin", "transform"]].drop_duplicates()
    keys["task"] = pd.Categorical(keys["task"], [t for t, _ in TASKS], ordered=True)
    keys = keys.sort_values(["task", "origin", "transform"]).astype(str)
    trows = []
    for k in keys.itertuples(index=False):
        row = {"task": k.task, "origin": k.origin, "transform": k.transform}
        for name, rk in methods:
            sel = rk[(rk["task"] == k.task) & (rk["origin"] == k.origin) & (rk["transform"] == k.transform)]
            row["n"] = int(len(sel))
            row[name] = float((sel["rank"] <= 1).mean()) if len(sel) else np.nan
        trows.append(row)
    tt = pd.DataFrame(trows)
    tt = tt[["task", "origin", "transform", "n"] + [m for m, _ in methods]] if len(tt) else tt
    cap = ("Recall@1 per query transform (rows) and origin: TF-IDF over identifiers and each teacher at its "
           "headline cell (its best cell on the hard part). Hard: rename\\_all / combined\\_all rewrites of closed "
           "functions and the implementations; the refactor task holds every rewrite, the held-out functions' "
           "rename\\_all / combined\\_all included (not closed: they read module globals and attributes of their "
           "class, which keep their names).")
    write_text_atomic(out.transforms_table, booktabs(tt, caption=cap, label="tab:exp02-transforms", digits=2))
    # ---- figure 1: recall@1 by layer, one panel per teacher
    nT = max(len(params.teachers), 1)
    fig, axes = figure(FULL_WIDTH, 2.2, ncols=nT, sharey=True, squeeze=False)
    x = np.arange(len(params.layers))
    ls = {"raw": "-", "centered": "--"}
    rbest = {}
    for t in rnd:
        g = a[a["teacher"] == t]
        for task, _ in TASKS:
            v = g[g["task"] == task]["recall@1"]
            if len(v):
                rbest[task] = max(rbest.get(task, -1.0), float(v.max()))
    for j, t in enumerate(params.teachers):
        ax = axes[0][j]
        for ti, (task, _) in enumerate(TASKS):
            col = f"C{ti}"
            for c in params.centers:
                for pool, mk in zip(params.pools, ("o", "s")):
                    y = [a[(a["teacher"] == t) & (a["layer"] == l) & (a["pool"] == pool) & (a["center"] == c)
                           & (a["task"] == task)]["recall@1"].mean() for l in params.layers]
                    ax.plot(x, y, ls=ls.get(c, ":"), marker=mk, ms=2.5, color=col, lw=0.8,
                            label=f"{task}, {pool}, {c}" if j == 0 else None)
            if task in la.index:
                ax.axhline(la.loc[task, "recall@1"], ls=":", color=col, lw=0.7,
                           label=f"{task}: TF-IDF" if j == 0 else None)
            if task in rbest:
                ax.axhline(rbest[task], ls="-.", color=col, lw=0.7, alpha=0.7,
                           label=f"{task}: random init (best)" if j == 0 else None)
        ax.set_xticks(x, params.layers, rotation=30)
        ax.set_title(_label(t, rnd))
        ax.set_ylim(0, 1.02)
        if j == 0:
            ax.set_ylabel("recall@1")
    fig.legend(loc="upper center", bbox_to_anchor=(0.5, -0.05), ncol=4, frameon=False, fontsize=5)
    savefig(fig, out.figure[0].rsplit(".", 1)[0])
    # ---- figure 2: the hard part with intervals
    fig, axes = figure(FULL_WIDTH, 0.35 * (len(head) + 1) + 0.8, ncols=2, sharey=True, squeeze=False)
    names = [_label(h.teacher, rnd) + (f" ({h.layer}/{h.pool}/{h.center})" if h.layer else "")
             for h in head.itertuples()] + ["TF-IDF identifiers"]
    yy = np.arange(len(names))[::-1]
    for k, (m, title) in enumerate((("recall1", "recall@1"), ("mrr", "MRR"))):
        ax = axes[0][k]
        vals = list(head[m]) + ([float(head[f"tfidf_{m}"].iloc[0])] if len(head) else [np.nan])
        lo = list(head[f"{m}_lo"]) + ([float(head[f"tfidf_{m}_lo"].iloc[0])] if len(head) else [np.nan])
        hi = list(head[f"{m}_hi"]) + ([float(head[f"tfidf_{m}_hi"].iloc[0])] if len(head) else [np.nan])
        v, lo, hi = (np.asarray(z, dtype=float) for z in (vals, lo, hi))
        err = np.vstack([np.nan_to_num(v - lo), np.nan_to_num(hi - v)])
        colors = ["grey" if i == len(v) - 1 else ("C3" if head["teacher"].iloc[i] in rnd else "C0")
                  for i in range(len(v))]
        ax.barh(yy, v, xerr=err, color=colors, alpha=0.8, capsize=2, error_kw={"lw": 0.7})
        ax.set_yticks(yy, names)
        ax.set_xlim(0, 1)
        ax.set_xlabel(f"{title}, hard part ({n_hard} queries)")
    savefig(fig, out.hard_figure[0].rsplit(".", 1)[0])


def best_retrieval(df: pd.DataFrame) -> pd.DataFrame:
    """Per teacher: the (layer, pool, center) with the highest mean MRR over the tasks."""
    a = _agg(df[(df["origin"] == "all") & (df["method"] == "latent")])
    keys = ["teacher", "layer", "pool"] + (["center"] if "center" in a.columns else [])
    m = a.groupby(keys, as_index=False)["mrr"].mean()
    m = m.sort_values(["teacher", "mrr"], ascending=[True, False], kind="stable")
    return m.groupby("teacher", sort=False).head(1).reset_index(drop=True)


def retrieval_report(teacher, latents, items_path, cells, out_path, n_queries: int, seed: int) -> None:
    from . import grid
    from .retrieval import bench_tasks, center_vectors, read_items, search

    df = _cat(list(cells))
    best = best_retrieval(df).iloc[0]
    center = str(best.get("center", "raw"))
    items = read_items(items_path)
    tasks = bench_tasks(items)
    gal_rows = next(iter(tasks.values()))["gallery"]
    V = center_vectors(grid.bench_vectors(list(latents), best["layer"], best["pool"]), gal_rows, center)
    rng = np.random.default_rng(seed)
    lines = [f"# Retrieval report: teacher `{teacher}`", "",
             f"Best cell (highest mean MRR over the tasks): layer `{best['layer']}`, pool `{best['pool']}`, "
             f"center `{center}` (mean MRR {best['mrr']:.3f}). Gallery: {len(gal_rows)} code items "
             "(originals, rewrites, implementations, distractors). Neighbours marked **relevant** are functionally "
             "equivalent to the query by construction. A fixed seeded sample of queries per task.", ""]
    for task, t in tasks.items():
        if len(t["queries"]) == 0:
            continue
        sel = np.sort(rng.choice(len(t["queries"]), size=min(n_queries, len(t["queries"])), replace=False))
        gal = V[t["gallery"]]
        scores, ids = search(V[t["queries"][sel]], gal, 5,
                             exclude=None if t["exclude"] is None else [t["exclude"][i] for i in sel])
        lines += [f"## Task `{task}`", ""]
        for qi, (s_row, i_row) in zip(sel, zip(scores, ids)):
            q = items.iloc[int(t["queries"][qi])]
            lines += [f"### Query item {q['item_id']} ({q['origin']}, {q['transform']}, source `{q['source_key']}`)",
                      "", "```python", q["text"].rstrip(), "```", ""]
            for rank, (sc, gi) in enumerate(zip(s_row, i_row), 1):
                if gi < 0:
                    continue
                it = items.iloc[int(t["gallery"][gi])]
                rel = " **relevant**" if gi in t["relevant"][qi] else ""
                lines += [f"{rank}. score {sc:.3f}, item {it['item_id']} ({it['role']}, {it['origin']}, "
                          f"{it['transform']}, source `{it['source_key']}`){rel}", "",
                          "```python", it["text"].rstrip(), "```", ""]
    write_text_atomic(out_path, "\n".join(lines) + "\n")


# ----------------------------------------------------------------------------- 0.3

def probe_score(df: pd.DataFrame) -> pd.Series:
    """One number per probe row: R² (regression) or macro-F1 (classification)."""
    return df["r2_mean"].where(df["task"] == "regression", df["f1_mean"])


def _score_folds(row) -> np.ndarray:
    from .probes import fold_values

    return fold_values(row["r2_folds"] if row["task"] == "regression" else row["f1_folds"])


def _paired(a: np.ndarray, b: np.ndarray, level: float) -> tuple[float, float, float]:
    """Mean fold-by-fold difference ``a - b`` with its t interval over folds (folds where
    either side is not finite are left out); nan when the fold lists do not pair up."""
    from swejepa.uncertainty import t_interval

    if len(a) == 0 or len(a) != len(b):
        return np.nan, np.nan, np.nan
    return t_interval(a - b, level)


SELECTIVITY_COLUMNS = ["score", "surface_score", "random_score", "random_control", "control", "selectivity",
                       "selectivity_ci_low", "selectivity_ci_high", "sel_surface", "sel_surface_ci_low",
                       "sel_surface_ci_high", "sel_random", "sel_random_ci_low", "sel_random_ci_high"]


def add_selectivity(df: pd.DataFrame, random_teacher: str | None, level: float) -> pd.DataFrame:
    """Selectivity of every latent probe row (Experiment 0.3's headline), in place of a raw score:

    * ``sel_surface`` = score − the surface baseline's (same teacher and mask: same functions,
      same folds), ``sel_random`` = score − the random-init teacher's at the same mask, layer
      and pool (same functions and folds: every teacher extracts the same files);
    * ``selectivity`` = score − the better of the two controls (higher mean score; ``control``
      names it), the number the table, the macros and the 0.3 verdict lead with.

    Score: R² (regression, log1p targets where configured) or macro-F1 (classification).
    Each difference is the mean over folds of the fold-by-fold difference, with a t interval
    over the k outer folds (``mean ± t_{k-1} sd/sqrt(k)``, ``level``): a paired comparison, the
    folds being shared. Rows of the random-init teacher itself have ``random_control`` true and
    no ``sel_random``. Returns a copy of ``df`` with :data:`SELECTIVITY_COLUMNS` added."""
    df = df.copy()
    df["score"] = probe_score(df)
    for c in SELECTIVITY_COLUMNS[1:]:
        df[c] = np.nan
    df["random_control"] = False
    df["control"] = ""
    lat = df["features"] == "latent"
    sur = df[df["features"] == "surface"].set_index(["teacher", "mask", "property"])
    rnd = df[lat & (df["teacher"] == random_teacher)].set_index(["mask", "layer", "pool", "property"]) \
        if random_teacher else None
    for i in df.index[lat]:
        r = df.loc[i]
        L = _score_folds(r)
        key = (r["teacher"], r["mask"], r["property"])
        out = {}
        if key in sur.index:
            s = sur.loc[key]
            s = s.iloc[0] if isinstance(s, pd.DataFrame) else s
            out["surface_score"] = float(s["score"])
            out["sel_surface"], out["sel_surface_ci_low"], out["sel_surface_ci_high"] = (
                _paired(L, _score_folds(s), level) if int(s["n"]) == int(r["n"]) else (np.nan,) * 3)
        is_ctrl = random_teacher is not None and r["teacher"] == random_teacher
        rkey = (r["mask"], r["layer"], r["pool"], r["property"])
        if rnd is not None and rkey in rnd.index:
            q = rnd.loc[rkey]
            q = q.iloc[0] if isinstance(q, pd.DataFrame) else q
            out["random_score"] = float(q["score"])
            if not is_ctrl:
                out["sel_random"], out["sel_random_ci_low"], out["sel_random_ci_high"] = (
                    _paired(L, _score_folds(q), level) if int(q["n"]) == int(r["n"]) else (np.nan,) * 3)
        for k, v in out.items():
            df.at[i, k] = v
        df.at[i, "random_control"] = bool(is_ctrl)
        cands = [(c, out.get(f"{c}_score", np.nan)) for c in ("surface", "random") if not (c == "random" and is_ctrl)]
        cands = [(c, v) for c, v in cands if np.isfinite(v)]
        if cands:
            ctrl = max(cands, key=lambda cv: cv[1])[0]
            tag = "sel_surface" if ctrl == "surface" else "sel_random"
            df.at[i, "control"] = ctrl
            df.at[i, "selectivity"] = out.get(tag, np.nan)
            df.at[i, "selectivity_ci_low"] = out.get(f"{tag}_ci_low", np.nan)
            df.at[i, "selectivity_ci_high"] = out.get(f"{tag}_ci_high", np.nan)
    return df


def _probes_headline(tab: pd.DataFrame) -> pd.DataFrame:
    """Per property the row (teacher) of the highest selectivity from the grid ``tab``."""
    cols = ["property", "metric", "teacher", "best layer", "score", "surface", "random init", "selectivity [CI]"]
    if not len(tab):
        return pd.DataFrame(columns=cols)
    sel = tab["selectivity [CI]"].astype(str).str.split(" ").str[0]
    t = tab.assign(_sel=pd.to_numeric(sel, errors="coerce"))
    best = t.sort_values("_sel", ascending=False, kind="stable").groupby("property", sort=False).head(1)
    best = best.set_index("property").loc[list(dict.fromkeys(tab["property"]))].reset_index()
    return best[cols]


def combine_probes(inp, out, params) -> None:
    from swejepa.plotting import FULL_WIDTH, figure, savefig

    df = pd.concat([_cat(list(inp.cells)), _cat(list(inp.surface))], ignore_index=True)
    df = add_selectivity(df, params.random_teacher, params.level)
    write_csv(df, out.csv)
    mask, pool = params.main_mask, params.main_pool
    lat = df[(df["features"] == "latent") & (df["mask"] == mask) & (df["pool"] == pool)]
    props = list(dict.fromkeys(lat["property"]))
    rows = []
    for p in props:
        for t in params.teachers:
            g = lat[(lat["property"] == p) & (lat["teacher"] == t)].set_index("layer")
            if not len(g):
                continue
            row = {"property": p, "metric": "R2" if g["task"].iloc[0] == "regression" else "macro-F1",
                   "teacher": t}
            for l in params.layers:
                row[l] = float(g.loc[l, "selectivity"]) if l in g.index else np.nan
            sel = g["selectivity"].astype(float)
            b = g.loc[sel.idxmax()] if sel.notna().any() else g.loc[g["score"].astype(float).idxmax()] \
                if g["score"].notna().any() else g.iloc[0]
            row["best layer"] = str(sel.idxmax() if sel.notna().any() else b.name).replace("_", " ")
            row["score"] = float(b["score"])
            row["surface"] = float(b["surface_score"])
            row["random init"] = float(b["random_score"])
            row["majority"] = float(g["majority_f1_mean"].iloc[0]) if row["metric"] == "macro-F1" else np.nan
            row["selectivity [CI]"] = _ci_text(float(b["selectivity"]), float(b["selectivity_ci_low"]),
                                               float(b["selectivity_ci_high"]))
            rows.append(row)
    tab = pd.DataFrame(rows)
    k = int(lat["n_folds"].max()) if len(lat) and lat["n_folds"].notna().any() else 0
    cap = (f"Linear probes on frozen {escape(pool)}-pooled teacher representations ({escape(mask)} mask), "
           "led by \\emph{selectivity}: the probe's score minus the better of two controls on the same functions "
           "and folds, the surface baseline (the same probe on log body length in tokens) and the random-init "
           "teacher at the same layer. Layer columns: selectivity per layer; then, at the most selective layer, "
           "the raw score, both controls and the selectivity with its "
           f"{int(round(100 * params.level))}\\% CI over the {k} package-grouped outer folds "
           "(mean $\\pm$ $t_{k-1}\\,$sd$/\\sqrt{k}$ of the fold-by-fold difference). Score: ridge R$^2$ for counts "
           "(log1p targets), macro-F1 of the categorical probe (probes.classifier: ridge on one-hot labels by default, or logistic regression) for categories (majority: majority-class macro-F1); "
           "regularisation by nested CV. The random-init teacher's own rows are compared with the surface "
           "baseline only.")
    write_text_atomic(out.grid, booktabs(tab, caption=cap, label="tab:exp03-probes-grid", digits=2))
    write_text_atomic(out.table, booktabs(_probes_headline(tab), label="tab:exp03-probes", caption=(
        f"Experiment 0.3 headline ({escape(pool)} pool, {escape(mask)} mask): per property the teacher and layer "
        "of the highest selectivity, its probe score beside the surface baseline and the random-init teacher "
        f"on the same functions and folds, and the selectivity with its {int(round(100 * params.level))}\\% "
        "CI over the folds. Every teacher and layer: Table~\\ref{tab:exp03-probes-grid}."), digits=2))
    # heatmap: one panel per teacher, property x layer, selectivity (diverging around 0)
    nT = max(len(params.teachers), 1)
    fig, axes = figure(FULL_WIDTH, 0.3 * len(props) + 1.0, ncols=nT, sharey=True, squeeze=False)
    im = None
    for j, t in enumerate(params.teachers):
        sub = tab[tab["teacher"] == t].set_index("property") if len(tab) else tab
        M = np.array([[float(sub.loc[p, l]) if p in sub.index else np.nan for l in params.layers]
                      for p in props]) if len(tab) else np.zeros((0, 0))
        ax = axes[0][j]
        im = ax.imshow(np.clip(M, -0.5, 0.5), vmin=-0.5, vmax=0.5, cmap="RdBu", aspect="auto")
        for (r, c), v in np.ndenumerate(M):
            ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=5,
                    color="black" if (np.isfinite(v) and abs(v) < 0.3) else "white")
        ax.set_xticks(range(len(params.layers)), params.layers, rotation=30)
        ax.set_yticks(range(len(props)), props)
        ax.set_title(t)
    if im is not None:
        fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="selectivity (score − better control)")
    savefig(fig, out.figure[0].rsplit(".", 1)[0])


# ----------------------------------------------------------------------------- macros

def phase0_macros(inp, out_path, main_mask: str) -> None:
    v = {}
    stats = pd.read_csv(inp.stats)
    for r in best_differentiated(stats, main_mask).itertuples():
        T = _texname(r.teacher)
        v[f"PzeroStatsBest{T}Layer"] = str(r.layer).replace("_", " ")
        v[f"PzeroStatsBest{T}Pool"] = r.pool
        v[f"PzeroStatsBest{T}Cos"] = float(r.cos_mean)
        v[f"PzeroStatsBest{T}PR"] = float(r.participation_ratio)
    ret = pd.read_csv(inp.retrieval)
    lat = ret[ret["method"] == "latent"]
    for r in best_retrieval(lat).itertuples():
        T = _texname(r.teacher)
        v[f"PzeroRetrBest{T}Layer"] = str(r.layer).replace("_", " ")
        v[f"PzeroRetrBest{T}Pool"] = r.pool
        v[f"PzeroRetrBest{T}MRR"] = float(r.mrr)
        v[f"PzeroRetrBest{T}Center"] = str(getattr(r, "center", "raw"))
        g = _agg(lat[(lat["teacher"] == r.teacher) & (lat["layer"] == r.layer) & (lat["pool"] == r.pool)
                     & (lat["origin"] == "all")])
        if "center" in g.columns:
            g = g[g["center"] == getattr(r, "center", "raw")]
        g = g.set_index("task")
        for task in g.index:
            v[f"PzeroRetrBest{T}{_texname(task)}RecallOne"] = float(g.loc[task, "recall@1"])
    lex = _agg(ret[(ret["method"] == "lexical") & (ret["origin"] == "all")]).set_index("task")
    for task in lex.index:
        v[f"PzeroRetrLexical{_texname(task)}MRR"] = float(lex.loc[task, "mrr"])
        v[f"PzeroRetrLexical{_texname(task)}RecallOne"] = float(lex.loc[task, "recall@1"])
    head = pd.read_csv(inp.headline) if getattr(inp, "headline", None) else pd.DataFrame()
    for h in head.itertuples():
        T = _texname(h.teacher)
        for m, M in (("recall1", "RecallOne"), ("mrr", "MRR")):
            v[f"PzeroHard{T}{M}"] = float(getattr(h, m))
            v[f"PzeroHard{T}{M}Lo"] = float(getattr(h, f"{m}_lo"))
            v[f"PzeroHard{T}{M}Hi"] = float(getattr(h, f"{m}_hi"))
            v[f"PzeroHard{T}{M}Gain"] = float(getattr(h, f"gain_{m}"))
            v[f"PzeroHard{T}{M}GainLo"] = float(getattr(h, f"gain_{m}_lo"))
            v[f"PzeroHard{T}{M}GainHi"] = float(getattr(h, f"gain_{m}_hi"))
            v[f"PzeroHard{T}{M}Baseline"] = str(getattr(h, f"baseline_{m}")).replace("tfidf", "TF-IDF")
    if len(head):
        h0 = head.iloc[0]
        v["PzeroHardQueries"] = int(h0["n_queries"])
        v["PzeroHardTfidfRecallOne"] = float(h0["tfidf_recall1"])
        v["PzeroHardTfidfRecallOneLo"] = float(h0["tfidf_recall1_lo"])
        v["PzeroHardTfidfRecallOneHi"] = float(h0["tfidf_recall1_hi"])
        v["PzeroHardTfidfMRR"] = float(h0["tfidf_mrr"])
    pr = pd.read_csv(inp.probes)
    if "score" not in pr:
        pr["score"] = probe_score(pr)
    lat = pr[(pr["features"] == "latent") & (pr["mask"] == main_mask)]
    reg = lat[lat["task"] == "regression"].dropna(subset=["score"])
    if len(reg):
        b = reg.loc[reg["score"].idxmax()]
        v["PzeroProbeBestRsq"] = float(b["score"])
        v["PzeroProbeBestRsqProperty"] = str(b["property"]).replace("_", " ")
        v["PzeroProbeBestRsqTeacher"] = str(b["teacher"])
        v["PzeroProbeBestRsqLayer"] = str(b["layer"]).replace("_", " ")
    # selectivity first: the best probe beyond its better control (random-init teacher excluded)
    if "selectivity" in lat:
        sel = lat[~lat["random_control"].astype(bool)].dropna(subset=["selectivity"])
        if len(sel):
            b = sel.loc[sel["selectivity"].idxmax()]
            v["PzeroProbeBestSel"] = float(b["selectivity"])
            v["PzeroProbeBestSelLow"] = float(b["selectivity_ci_low"])
            v["PzeroProbeBestSelHigh"] = float(b["selectivity_ci_high"])
            v["PzeroProbeBestSelProperty"] = str(b["property"]).replace("_", " ")
            v["PzeroProbeBestSelTeacher"] = str(b["teacher"])
            v["PzeroProbeBestSelLayer"] = str(b["layer"]).replace("_", " ")
            v["PzeroProbeBestSelPool"] = str(b["pool"])
            v["PzeroProbeBestSelControl"] = "surface baseline" if b["control"] == "surface" else "random-init teacher"
            v["PzeroProbeBestSelScore"] = float(b["score"])
            v["PzeroProbeSelPositive"] = int((sel["selectivity_ci_low"] > 0).sum())
            v["PzeroProbeSelCells"] = int(len(sel))
        for p, g in sel.groupby("property"):
            v[f"PzeroProbeBestSel{_texname(p)}"] = float(g["selectivity"].max())
    for p, g in lat.dropna(subset=["score"]).groupby("property"):
        v[f"PzeroProbeBest{_texname(p)}"] = float(g["score"].max())
    sur = pr[(pr["features"] == "surface") & (pr["mask"] == main_mask)].dropna(subset=["score"])
    for p, g in sur.groupby("property"):
        v[f"PzeroProbeSurface{_texname(p)}"] = float(g["score"].max())
    rep = json.load(open(inp.bench))
    v["PzeroBenchItems"] = int(rep.get("n_items", 0))
    v["PzeroBenchHumanevalProblems"] = int(rep.get("humaneval_problems", 0))
    v["PzeroBenchHumanevalRewrites"] = int(sum(rep.get("humaneval", {}).values()))
    v["PzeroBenchHumanevalDropped"] = int(sum(rep.get("dropped", {}).values()))
    v["PzeroBenchHeldoutFunctions"] = int(rep.get("heldout_originals", 0))
    v["PzeroBenchHeldoutRewrites"] = int(sum(rep.get("heldout", {}).values()))
    v["PzeroBenchDistractors"] = int(rep.get("distractors", 0))
    imp = rep.get("implementations", {}) or {}
    v["PzeroBenchImplSpecs"] = int(imp.get("specs", 0))
    v["PzeroBenchImplKept"] = int(imp.get("kept", 0))
    v["PzeroBenchImplDropped"] = int(imp.get("dropped", 0))
    v["PzeroBenchHardItems"] = int(rep.get("hard_items", 0))
    write_macros(v, out_path)
