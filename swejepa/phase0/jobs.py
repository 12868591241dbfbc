"""Phase-0 jobs: one call per (teacher, mask) (stats, probes) or per teacher (retrieval)
writes every grid cell's CSV. Called by the thin scripts in ``scripts/phase0_*.py``."""

from __future__ import annotations

import json
import logging
import time

import numpy as np
import pandas as pd

from ..layout import Layout
from ..settings import ProbeSettings, RetrievalSettings, StatsSettings
from . import grid
from .probes import probe_all
from .bootstrap import mean_pairwise_cosine_ci
from .retrieval import bench_ranks, rank_metrics, read_items
from .stats import HIST_BINS, center_rows, cosine_histogram, cosine_stats, sample_rows

log = logging.getLogger("swejepa")


def write_csv(df: pd.DataFrame, path) -> None:
    from swejepa.runtime import atomic_path

    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def stats_cells(paths, teacher: str, mask: str, layers, pools, centers, stats: StatsSettings, seed: int,
                layout: Layout) -> None:
    """Experiment 0.1 for every (layer, pool, center) of one (teacher, mask), written to
    ``layout.stats_cell`` / ``layout.stats_hist``. One sample per (layer, pool); ``centered``
    is the same sample minus its mean vector. ``cos_mean_lo/_hi``: percentile bootstrap
    interval of the mean pairwise cosine over the sample's rows (``stats.bootstrap``)."""
    max_samples, max_tokens = stats.max_samples, stats.max_tokens
    for layer in layers:
        for pool in pools:
            if pool == "none":
                X = grid.token_vectors(paths, mask, layer, max_tokens, seed)
                n_all = None
            else:
                _, V = grid.region_vectors(paths, mask, layer, pool)
                n_all = len(V)
                X = V[sample_rows(len(V), max_samples, seed)]
            for center in centers:
                t0 = time.time()
                Xc = center_rows(X, center)
                if len(Xc) < 2:  # e.g. no token vectors stored for this mask
                    log.warning("stats %s/%s/%s/%s: %d vectors, statistics undefined", teacher, mask, layer, pool,
                                len(Xc))
                    st = {"n": int(len(Xc)), "cos_mean": np.nan, "participation_ratio": np.nan}
                    lo = hi = np.nan
                else:
                    st = cosine_stats(Xc)
                    lo, hi = mean_pairwise_cosine_ci(Xc, stats.bootstrap, seed, stats.ci_level)
                row = {"teacher": teacher, "mask": mask, "layer": layer, "pool": pool, "center": center,
                       "unit": "token" if pool == "none" else "region",
                       "n_total": n_all if n_all is not None else np.nan, **st, "cos_mean_lo": lo, "cos_mean_hi": hi}
                write_csv(pd.DataFrame([row]), layout.stats_cell(teacher, mask, layer, pool, center))
                h = cosine_histogram(Xc) if len(Xc) >= 2 else np.zeros(len(HIST_BINS) - 1, dtype=np.int64)
                write_csv(pd.DataFrame({"bin_lo": HIST_BINS[:-1], "bin_hi": HIST_BINS[1:], "count": h}),
                          layout.stats_hist(teacher, mask, layer, pool, center))
                log.info("stats %s/%s/%s/%s/%s: n=%d cos_mean=%.3f [%.3f, %.3f] pr=%.1f (%.1fs)", teacher, mask, layer,
                         pool, center, st["n"], st["cos_mean"], lo, hi, st["participation_ratio"], time.time() - t0)


def retrieval_cells(paths, teacher: str, items_path, layers, pools, centers, retrieval: RetrievalSettings,
                    seed: int, layout: Layout) -> None:
    """Experiment 0.2 (latent vectors) for every (layer, pool in mean/last, center) of one
    teacher: the per-query ranks (``layout.retrieval_ranks``) and the metrics per task,
    origin and query transform with bootstrap intervals (``layout.retrieval_cell``)."""
    items = read_items(items_path)
    for layer in layers:
        V = {pool: grid.bench_vectors(paths, layer, pool) for pool in pools}
        for pool in pools:
            for center in centers:
                t0 = time.time()
                ranks = bench_ranks(items, V[pool], retrieval, center)
                write_csv(ranks, layout.retrieval_ranks(teacher, layer, pool, center))
                m = rank_metrics(ranks, retrieval.ks, by_transform=True, n_boot=retrieval.bootstrap, seed=seed,
                                 level=retrieval.ci_level)
                for i, (k, v) in enumerate((("teacher", teacher), ("layer", layer), ("pool", pool),
                                            ("center", center), ("method", "latent"))):
                    m.insert(i, k, v)
                write_csv(m, layout.retrieval_cell(teacher, layer, pool, center))
                a = m[(m["origin"] == "all") & (m["transform"] == "all")].set_index("task")
                log.info("retrieval %s/%s/%s/%s: %s (%.1fs)", teacher, layer, pool, center,
                         " ".join(f"{t} R@1={a.loc[t, 'recall@1']:.3f}" for t in a.index), time.time() - t0)


def probe_sample(regions_csv, properties_csv, region_index: np.ndarray, max_samples: int | None, seed: int):
    """Rows of the mask table that are functions with properties and latents, a seeded
    sample of at most ``max_samples``: ``(positions into region_index, props, groups)``."""
    regions = pd.read_csv(regions_csv, usecols=["region_id", "func_key", "package", "file_id"],
                          dtype={"func_key": str, "package": str}, keep_default_na=False)
    regions["row"] = np.arange(len(regions))
    props = pd.read_csv(properties_csv, dtype={"func_key": str}, keep_default_na=False)
    if "parse_ok" in props.columns:
        props = props[props["parse_ok"].astype(str).str.lower() == "true"]
    props = props.drop(columns=[c for c in ("file_id", "qualname", "split", "package", "parse_ok")
                                if c in props.columns])
    regions = regions[regions["func_key"] != ""].drop_duplicates("func_key")
    pos_of = pd.Series(np.arange(len(region_index)), index=region_index)
    regions = regions[regions["row"].isin(pos_of.index)]
    df = regions.merge(props, on="func_key", how="inner").sort_values("func_key").reset_index(drop=True)
    df = df.iloc[sample_rows(len(df), max_samples, seed)].reset_index(drop=True)
    pos = pos_of.loc[df["row"].to_numpy()].to_numpy()
    groups = df["package"].astype(str).to_numpy()
    if len(np.unique(groups)) < 2:
        # a single package (tiny slices): group by file instead, so no file is split
        log.warning("probes: only %d package(s) among the sampled functions; grouping the CV by file",
                    len(np.unique(groups)))
        groups = np.array([f"file{f}" for f in df["file_id"]])
    return pos, df, groups


def probe_cells(paths, teacher: str, mask: str, regions_csv, properties_csv, layers, pools,
                probes: ProbeSettings, seed: int, layout: Layout) -> None:
    """Experiment 0.3 for every (layer, pool in mean/last) of one (teacher, mask), plus the
    surface baseline (body length in tokens, this teacher's tokenizer) on the same folds;
    written to ``layout.probes_cell`` and ``layout.probes_surface``."""
    meta = grid.region_meta(paths, mask)
    pos, df, groups = probe_sample(regions_csv, properties_csv, meta["region_index"], probes.max_samples, seed)
    log.info("probes %s/%s: %d functions, %d CV groups", teacher, mask, len(df), len(np.unique(groups)))
    head = {"teacher": teacher, "mask": mask,
            "grouping": "file" if str(groups[0]).startswith("file") and len(df) and
            df["package"].nunique() < 2 else "package"}
    surf = probe_all(np.log1p(meta["n_tokens"][pos].astype(float))[:, None], df, groups, probes, seed)
    write_csv(pd.concat([pd.DataFrame({**head, "layer": "-", "pool": "-", "features": "surface"},
                                       index=surf.index), surf], axis=1), layout.probes_surface(teacher, mask))
    for layer in layers:
        for pool in pools:
            t0 = time.time()
            _, V = grid.region_vectors(paths, mask, layer, pool)
            r = probe_all(V[pos], df, groups, probes, seed)
            write_csv(pd.concat([pd.DataFrame({**head, "layer": layer, "pool": pool, "features": "latent"},
                                               index=r.index), r], axis=1),
                      layout.probes_cell(teacher, mask, layer, pool))
            log.info("probes %s/%s/%s/%s done (%.1fs): %s", teacher, mask, layer, pool, time.time() - t0,
                     json.dumps({p: round(v, 3) for p, v in zip(r["property"], r["r2_mean"].fillna(r["acc_mean"]))}))
