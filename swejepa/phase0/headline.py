"""The headline of Experiment 0.2: each teacher's best cell on the lexically hard part,
against the two baselines every teacher must beat — TF-IDF over identifiers and the
random-init teacher — with percentile bootstrap intervals over the hard queries and the
paired-bootstrap interval of the gain over the better baseline
(``results/phase0/retrieval/headline.csv``, columns in the README data contract).

Cells are compared on the same queries (the ``hard`` task, origin ``all``); the best cell
of a teacher is the one with the highest MRR (ties: recall@1, then grid order). Choosing
the best of several cells on the data that scores it favours the chosen cell (for the
teachers and for the random-init baseline alike); the interval does not account for the
choice."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .bootstrap import paired_diff_ci, percentile_interval, resample_indices

TASK = "hard"
METRICS = ("recall1", "mrr")


def per_query(ranks: pd.DataFrame, task: str = TASK) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``(item_ids, {"recall1": hit@1, "mrr": reciprocal rank})`` of one method's queries of
    ``task``, in item_id order."""
    d = ranks[ranks["task"] == task].sort_values("item_id", kind="stable")
    r = d["rank"].to_numpy(np.float64)
    return d["item_id"].to_numpy(), {"recall1": (r <= 1).astype(np.float64),
                                     "mrr": np.where(np.isfinite(r), 1.0 / r, 0.0)}


def best_cells(cells: list[tuple[dict, pd.DataFrame]], task: str = TASK) -> dict[str, tuple[dict, dict]]:
    """``{teacher: (cell, per-query values)}`` of the best cell of each teacher on ``task``.
    ``cells``: ``(cell {teacher, layer, pool, center}, ranks)`` in grid order."""
    best: dict[str, tuple[dict, dict, tuple]] = {}
    ids0 = None
    for cell, ranks in cells:
        ids, v = per_query(ranks, task)
        if ids0 is None:
            ids0 = ids
        elif not np.array_equal(ids, ids0):
            raise ValueError(f"cell {cell} scores other {task} queries than the first cell")
        if not len(ids):
            continue
        key = (float(v["mrr"].mean()), float(v["recall1"].mean()))
        t = cell["teacher"]
        if t not in best or key > best[t][2]:
            best[t] = (cell, v, key)
    return {t: (c, v) for t, (c, v, _) in best.items()}


def _ci(v: np.ndarray, idx: np.ndarray, level: float) -> tuple[float, float]:
    if len(v) == 0 or idx.shape[0] == 0:
        return float("nan"), float("nan")
    return percentile_interval(v[idx].mean(axis=1), level)


def headline(cells: list[tuple[dict, pd.DataFrame]], lexical_ranks: pd.DataFrame, teachers: list[str],
             sources: dict[str, str], random_teachers: list[str], n_boot: int, seed: int, level: float,
             task: str = TASK) -> pd.DataFrame:
    """One row per teacher (config order): its best cell on ``task``, recall@1 and MRR with
    intervals, the TF-IDF and random-init values with intervals, and for each metric the
    better of the two baselines and the paired-bootstrap interval of the teacher's gain
    over it (``gain_*_p``: share of resamples with a gain <= 0). The random-init baseline
    of a teacher is the best of the random teachers other than itself."""
    best = best_cells(cells, task)
    lex_ids, lex = per_query(lexical_ranks, task)
    n = len(lex_ids)
    for t, (c, v) in best.items():
        if len(v["mrr"]) != n:
            raise ValueError(f"teacher {t}: {len(v['mrr'])} {task} queries, lexical baseline {n}")
    idx = resample_indices(n, n_boot, seed) if n_boot > 0 else np.zeros((0, n), np.int64)
    rows = []
    for t in teachers:
        row = {"task": task, "teacher": t, "source": sources.get(t, ""), "n_queries": n, "n_boot": int(n_boot),
               "ci_level": float(level)}
        c, v = best.get(t, ({}, None))
        row.update({k: c.get(k, "") for k in ("layer", "pool", "center")})
        for m in METRICS:
            row[m] = float(v[m].mean()) if v is not None and n else np.nan
            row[f"{m}_lo"], row[f"{m}_hi"] = _ci(v[m], idx, level) if v is not None else (np.nan, np.nan)
        for m in METRICS:
            row[f"tfidf_{m}"] = float(lex[m].mean()) if n else np.nan
            row[f"tfidf_{m}_lo"], row[f"tfidf_{m}_hi"] = _ci(lex[m], idx, level)
        rivals = [r for r in random_teachers if r != t and r in best]
        rnd = max(rivals, key=lambda r: (best[r][1]["mrr"].mean(), best[r][1]["recall1"].mean())) if rivals else None
        rc, rv = best[rnd] if rnd else ({}, None)
        row["random_teacher"] = rnd or ""
        row.update({f"random_{k}": rc.get(k, "") for k in ("layer", "pool", "center")})
        for m in METRICS:
            row[f"random_{m}"] = float(rv[m].mean()) if rv is not None and n else np.nan
            row[f"random_{m}_lo"], row[f"random_{m}_hi"] = _ci(rv[m], idx, level) if rv is not None \
                else (np.nan, np.nan)
        for m in METRICS:
            base_name, base = "tfidf", lex[m]
            if rv is not None and rv[m].mean() > lex[m].mean():
                base_name, base = rnd, rv[m]
            row[f"baseline_{m}"] = base_name
            if v is None or not n:
                row[f"gain_{m}"] = row[f"gain_{m}_lo"] = row[f"gain_{m}_hi"] = row[f"gain_{m}_p"] = np.nan
                continue
            g, lo, hi, p = paired_diff_ci(v[m], base, n_boot, seed, level)
            row[f"gain_{m}"], row[f"gain_{m}_lo"], row[f"gain_{m}_hi"], row[f"gain_{m}_p"] = g, lo, hi, p
        rows.append(row)
    return pd.DataFrame(rows, columns=HEADLINE_COLUMNS)


HEADLINE_COLUMNS = (
    ["task", "teacher", "source", "layer", "pool", "center", "n_queries", "n_boot", "ci_level"]
    + [f"{m}{s}" for m in METRICS for s in ("", "_lo", "_hi")]
    + [f"tfidf_{m}{s}" for m in METRICS for s in ("", "_lo", "_hi")]
    + ["random_teacher", "random_layer", "random_pool", "random_center"]
    + [f"random_{m}{s}" for m in METRICS for s in ("", "_lo", "_hi")]
    + [c for m in METRICS for c in (f"baseline_{m}", f"gain_{m}", f"gain_{m}_lo", f"gain_{m}_hi", f"gain_{m}_p")])
