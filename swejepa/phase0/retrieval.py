"""Nearest-neighbour retrieval metrics (Experiment 0.2) with FAISS.

Vectors are L2-normalised and searched by inner product (= cosine similarity);
the index (exact flat, IVF or HNSW) and k come from a
:class:`~swejepa.settings.RetrievalSettings` (``retrieval.*`` in the config).

Definitions (per query, averaged over queries):
  * ``recall@k``: 1 if at least one relevant gallery item is among the top k, else 0
    (the "hit rate" of code search; with a single relevant item it is ordinary recall@k);
  * ``mrr``: 1 / rank of the first relevant item (0 when none is within ``depth``).

The benchmark is scored from *per-query ranks* (:func:`bench_ranks`: the rank of the first
relevant gallery item of every query), from which :func:`rank_metrics` gives recall@k and
MRR per task and origin (and per query transform), with percentile bootstrap intervals
over queries (:mod:`swejepa.phase0.bootstrap`). ``center="centered"`` subtracts the
gallery's mean vector from every vector first (the mean direction that anisotropic
representations share carries no information about which item is which).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from ..settings import CENTERS, RetrievalSettings
from .bootstrap import percentile_interval, resample_indices

DEFAULT = RetrievalSettings()


def l2_normalise(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return x / norms


HNSW_EF_SEARCH = 128  # search breadth of an HNSW index (not a config key)


def build_index(gallery: np.ndarray, spec: RetrievalSettings = DEFAULT):
    """A FAISS inner-product index over L2-normalised ``gallery`` vectors
    (``spec.index``: flat | ivf with ``nlist``/``nprobe`` | hnsw with ``hnsw_m``)."""
    import faiss

    g = l2_normalise(gallery)
    d = g.shape[1]
    if spec.index == "flat":
        idx = faiss.IndexFlatIP(d)
    elif spec.index == "ivf":
        nl = max(1, min(spec.nlist, g.shape[0] // 39 or 1))  # FAISS wants >= 39 points per list
        quant = faiss.IndexFlatIP(d)
        idx = faiss.IndexIVFFlat(quant, d, nl, faiss.METRIC_INNER_PRODUCT)
        idx.train(g)
        idx.nprobe = min(spec.nprobe, nl)
    elif spec.index == "hnsw":
        idx = faiss.IndexHNSWFlat(d, spec.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        idx.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        raise ValueError(f"unknown index type {spec.index!r} (flat | ivf | hnsw)")
    idx.add(g)
    return idx


def search(queries: np.ndarray, gallery: np.ndarray, k: int, exclude: Sequence[int | None] | None = None,
           spec: RetrievalSettings = DEFAULT) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` gallery rows per query: ``(scores, ids)`` of shape ``[n_q, k]``, best first.

    ``exclude[i]`` (a gallery row or None) is removed from query i's results (the query
    itself when queries are drawn from the gallery). Missing slots hold id -1, score -inf."""
    q = l2_normalise(queries)
    n_g = len(gallery)
    extra = 1 if exclude is not None else 0
    kk = min(n_g, k + extra)
    idx = build_index(gallery, spec)
    scores, ids = idx.search(q, kk)
    out_s = np.full((len(q), k), -np.inf, dtype=np.float32)
    out_i = np.full((len(q), k), -1, dtype=np.int64)
    for r in range(len(q)):
        ex = None if exclude is None else exclude[r]
        keep = (ids[r] >= 0) & (ids[r] != (-2 if ex is None else ex))
        s, i = scores[r][keep][:k], ids[r][keep][:k]
        out_s[r, : len(s)] = s
        out_i[r, : len(i)] = i
    return out_s, out_i


def metrics_from_ranking(ids: np.ndarray, relevant: Sequence[set[int]], ks: Iterable[int]) -> dict:
    """recall@k and MRR from ranked gallery ids ``[n_q, depth]`` (best first)."""
    ks = tuple(ks)
    n_q = len(relevant)
    if n_q == 0:
        return {**{f"recall@{k}": float("nan") for k in ks}, "mrr": float("nan"), "n_queries": 0}
    first = np.full(n_q, np.inf)
    for r, rel in enumerate(relevant):
        hits = np.nonzero(np.isin(ids[r], list(rel)))[0] if rel else []
        if len(hits):
            first[r] = hits[0] + 1
    out = {f"recall@{k}": float(np.mean(first <= k)) for k in ks}
    out["mrr"] = float(np.mean(np.where(np.isfinite(first), 1.0 / first, 0.0)))
    out["n_queries"] = int(n_q)
    return out


def retrieval_metrics(queries: np.ndarray, gallery: np.ndarray, relevant: list[set[int]],
                      exclude: Sequence[int | None] | None = None, spec: RetrievalSettings = DEFAULT,
                      depth: int | None = None) -> dict:
    """recall@k (hit rate) and MRR of ``queries`` against ``gallery`` (cosine, FAISS).

    ``relevant[i]`` is the set of gallery rows that count as correct for query i;
    ``exclude[i]`` is a gallery row never returned for query i (e.g. the query itself).
    MRR is computed over the whole gallery unless ``depth`` caps the ranking."""
    ks = spec.ks
    queries = np.asarray(queries)
    gallery = np.asarray(gallery)
    if len(queries) != len(relevant):
        raise ValueError("one relevant set per query is needed")
    depth = len(gallery) if depth is None else min(depth, len(gallery))
    depth = max(depth, max(ks)) if len(gallery) >= max(ks) else len(gallery)
    if len(queries) == 0:
        return metrics_from_ranking(np.zeros((0, 0), dtype=np.int64), [], ks)
    _, ids = search(queries, gallery, depth, exclude=exclude, spec=spec)
    return metrics_from_ranking(ids, relevant, ks)


def scores_ranking(scores: np.ndarray, exclude: Sequence[int | None] | None = None,
                   depth: int | None = None) -> np.ndarray:
    """Ranked gallery ids from a dense ``[n_q, n_g]`` score matrix (e.g. the lexical baseline)."""
    s = np.array(scores, dtype=np.float64, copy=True)
    if exclude is not None:
        for r, ex in enumerate(exclude):
            if ex is not None:
                s[r, ex] = -np.inf
    # the excluded item sorts last; it is never relevant, so it cannot count as a hit
    order = np.argsort(-s, axis=1, kind="stable")
    return order if depth is None else order[:, :depth]


# --- The benchmark (results/bench/retrieval_items.jsonl) --------------------------------

CODE_ROLES = ("original", "rewrite", "distractor", "implementation")


def bench_tasks(items: pd.DataFrame) -> dict:
    """Queries, gallery and relevance of the benchmark tasks, as row positions of ``items``.

    Gallery = every code item (roles original/rewrite/implementation/distractor; spec items
    are queries only). Tasks:
      * ``refactor``: query = a rewrite; relevant = the other code items of its group
        (its original and sibling rewrites); the query itself is excluded from its results.
      * ``spec``: query = a spec item (HumanEval prompt); relevant = the code items of its
        group (canonical solution and its verified rewrites).
      * ``hard``: the lexically hard part — query = a code item flagged ``hard`` (a rewrite
        by a transform that removes lexical overlap, or an independently written
        implementation); relevant = the other code items of its group; itself excluded.
        The task is left out when no item is hard (e.g. items without a ``hard`` column).
    Returns ``{task: {"queries": rows, "gallery": rows, "relevant": [set(gallery pos)],
    "exclude": [gallery pos | None], "origin": [...], "transform": [...]}}``."""
    items = items.reset_index(drop=True)
    gal_rows = np.nonzero(items["role"].isin(CODE_ROLES).to_numpy())[0]
    pos_of = {int(r): p for p, r in enumerate(gal_rows)}
    by_group: dict = {}
    for p, r in enumerate(gal_rows):
        if items.at[r, "role"] != "distractor":
            by_group.setdefault(items.at[r, "group_id"], set()).add(p)
    hard = items["hard"].fillna(False).astype(bool).to_numpy() if "hard" in items else np.zeros(len(items), bool)
    selectors = {"refactor": (items["role"] == "rewrite").to_numpy(), "spec": (items["role"] == "spec").to_numpy(),
                 "hard": hard & items["role"].isin(CODE_ROLES).to_numpy() & (items["role"] != "distractor").to_numpy()}
    if not selectors["hard"].any():
        del selectors["hard"]
    tasks = {}
    for task, sel in selectors.items():
        q_rows = np.nonzero(sel)[0]
        rel, exc, origin = [], [], []
        for r in q_rows:
            own = pos_of.get(int(r))
            group = by_group.get(items.at[r, "group_id"], set())
            rel.append({p for p in group if p != own})
            exc.append(own)
            origin.append(items.at[r, "origin"])
        transform = items["transform"].to_numpy()[q_rows] if "transform" in items else np.full(len(q_rows), "-")
        tasks[task] = {"queries": q_rows, "gallery": gal_rows, "relevant": rel,
                       "exclude": None if task == "spec" else exc, "origin": np.array(origin),
                       "transform": np.asarray(transform, dtype=object)}
    return tasks


def first_relevant_ranks(ids: np.ndarray, relevant: Sequence[set[int]]) -> np.ndarray:
    """1-based rank of the first relevant id per row of ``ids`` (inf when none is ranked)."""
    first = np.full(len(relevant), np.inf)
    for r, rel in enumerate(relevant):
        hits = np.nonzero(np.isin(ids[r], list(rel)))[0] if rel else []
        if len(hits):
            first[r] = hits[0] + 1
    return first


def center_vectors(vectors: np.ndarray, gallery_rows, center: str) -> np.ndarray:
    """``vectors`` (``raw``) or ``vectors`` minus the mean of the gallery rows (``centered``)."""
    v = np.asarray(vectors, dtype=np.float32)
    if center == "raw":
        return v
    if center != "centered":
        raise ValueError(f"center must be one of {CENTERS}, got {center!r}")
    return v - v[np.asarray(gallery_rows)].mean(axis=0, keepdims=True)


def _ranks_frame(items: pd.DataFrame, tasks: dict, ranking_fn) -> pd.DataFrame:
    """One row per query with at least one relevant item: task, item_id, origin, transform, rank."""
    frames = []
    for task, t in tasks.items():
        ok = np.array([len(r) > 0 for r in t["relevant"]], dtype=bool)
        if not ok.any():
            continue
        ids = ranking_fn(task, t)
        ranks = first_relevant_ranks(ids, t["relevant"])
        q = t["queries"][ok]
        frames.append(pd.DataFrame({"task": task, "item_id": items["item_id"].to_numpy()[q],
                                    "origin": t["origin"][ok], "transform": t["transform"][ok],
                                    "rank": ranks[ok]}))
    cols = ["task", "item_id", "origin", "transform", "rank"]
    return pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)


def bench_ranks(items: pd.DataFrame, vectors: np.ndarray, spec: RetrievalSettings = DEFAULT,
                center: str = CENTERS[0]) -> pd.DataFrame:
    """Per-query first-relevant ranks of every benchmark task for one set of item vectors
    (row i = item row i), the whole gallery ranked (FAISS, ``spec``'s index), vectors
    ``center``-ed first (:func:`center_vectors`)."""
    items = items.reset_index(drop=True)
    vectors = np.asarray(vectors, dtype=np.float32)
    if len(vectors) != len(items):
        raise ValueError(f"{len(vectors)} vectors for {len(items)} bench items")
    tasks = bench_tasks(items)
    if not tasks:
        return _ranks_frame(items, tasks, None)
    V = center_vectors(vectors, next(iter(tasks.values()))["gallery"], center)

    def rank(task, t):
        gal = V[t["gallery"]]
        _, ids = search(V[t["queries"]], gal, len(gal), exclude=t["exclude"], spec=spec)
        return ids
    return _ranks_frame(items, tasks, rank)


def bench_ranks_from_scores(items: pd.DataFrame, score_fn) -> pd.DataFrame:
    """Like :func:`bench_ranks` for a method that scores (query rows, gallery rows) itself,
    e.g. the lexical baseline: ``score_fn(q_rows, g_rows) -> [n_q, n_g]`` dense scores."""
    items = items.reset_index(drop=True)

    def rank(task, t):
        return scores_ranking(score_fn(t["queries"], t["gallery"]), exclude=t["exclude"])
    return _ranks_frame(items, bench_tasks(items), rank)


def _metric_row(ranks: np.ndarray, ks, n_boot: int, seed: int, level: float) -> dict:
    n = len(ranks)
    out = {}
    hit = {k: (ranks <= k).astype(np.float64) for k in ks}
    rr = np.where(np.isfinite(ranks), 1.0 / ranks, 0.0)
    for k in ks:
        out[f"recall@{k}"] = float(hit[k].mean()) if n else float("nan")
    out["mrr"] = float(rr.mean()) if n else float("nan")
    out["n_queries"] = int(n)
    if n_boot > 0:
        idx = resample_indices(n, n_boot, seed)
        for name, v in (("recall@1", hit.get(1)), ("mrr", rr)):
            if v is None:
                continue
            lo, hi = percentile_interval(v[idx].mean(axis=1), level) if n else (float("nan"),) * 2
            out[f"{name}_lo"], out[f"{name}_hi"] = lo, hi
    return out


def rank_metrics(ranks: pd.DataFrame, ks, *, by_transform: bool = False, n_boot: int = 0, seed: int = 0,
                 level: float | None = None) -> pd.DataFrame:
    """recall@k, MRR and ``n_queries`` from :func:`bench_ranks` rows, per task and origin
    subset (``origin`` ``all`` or one origin). With ``by_transform`` also per query
    transform (column ``transform``; ``all`` on the origin rows). With ``n_boot`` > 0:
    ``recall@1_lo/_hi`` and ``mrr_lo/_hi``, percentile bootstrap intervals at ``level``
    over the queries of each row."""
    ks = tuple(ks)
    if n_boot > 0 and level is None:
        raise ValueError("rank_metrics: an interval level is needed with n_boot > 0 (retrieval.ci_level)")
    rows = []
    for task in dict.fromkeys(ranks["task"]):
        d = ranks[ranks["task"] == task]
        r = d["rank"].to_numpy(np.float64)
        subsets = [("all", "all", np.ones(len(d), bool))]
        subsets += [(o, "all", (d["origin"] == o).to_numpy()) for o in sorted(set(d["origin"]))]
        if by_transform:
            for t in sorted(set(d["transform"])):
                tm = (d["transform"] == t).to_numpy()
                subsets.append(("all", t, tm))
                origins = sorted(set(d.loc[tm, "origin"]))
                if len(origins) > 1:
                    subsets += [(o, t, tm & (d["origin"] == o).to_numpy()) for o in origins]
        for origin, transform, m in subsets:
            row = {"task": task, "origin": origin}
            if by_transform:
                row["transform"] = transform
            rows.append({**row, **_metric_row(r[m], ks, n_boot, seed, level)})
    cols = ["task", "origin"] + (["transform"] if by_transform else [])
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=cols + [f"recall@{k}" for k in ks] + ["mrr",
                                                                                                       "n_queries"])


def bench_metrics(items: pd.DataFrame, vectors: np.ndarray, spec: RetrievalSettings = DEFAULT) -> pd.DataFrame:
    """Metrics of the benchmark tasks for one set of item vectors (row i = item row i),
    at ``spec.ks`` with ``spec``'s index (raw vectors, no intervals).

    Returns one row per (task, origin subset) with ``recall@k``, ``mrr``, ``n_queries``."""
    return rank_metrics(bench_ranks(items, vectors, spec), spec.ks)


def bench_metrics_from_scores(items: pd.DataFrame, score_fn, ks) -> pd.DataFrame:
    """Like :func:`bench_metrics` for a method that scores (query rows, gallery rows) itself,
    e.g. the lexical baseline: ``score_fn(q_rows, g_rows) -> [n_q, n_g]`` dense scores."""
    return rank_metrics(bench_ranks_from_scores(items, score_fn), ks)


def read_items(path) -> pd.DataFrame:
    """The bench items table (results/bench/retrieval_items.jsonl), in item_id order."""
    df = pd.read_json(path, lines=True, dtype={"text": str, "transform": str})
    df = df.sort_values("item_id").reset_index(drop=True)
    if not (df["item_id"].to_numpy() == np.arange(len(df))).all():
        raise ValueError("item_id must be dense from 0")
    return df
