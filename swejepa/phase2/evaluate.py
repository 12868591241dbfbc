"""Downstream quality of a student from its *own* representations (Experiments 2.1/2.2).

A thin layer over the student stage's evaluation
(:func:`swejepa.student.evaluate.downstream_metrics`, which runs Phase 0's
:func:`~swejepa.analysis.retrieval.bench_metrics` and :func:`~swejepa.analysis.probes.probe_all`
on the student's representations) with the function sample of
:func:`swejepa.analysis.run.probe_sample`, so that every Phase-2 student is evaluated
exactly like the Phase-1 students. Adds the summary numbers Phase 2 reports.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

log = logging.getLogger("swejepa")

# Summary columns of one evaluated student.
METRICS = ["refactor_recall1", "refactor_mrr", "spec_recall1", "spec_mrr", "probe_r2", "probe_acc",
           "probe_score"]


def tokenize_items(tokenizer, items: pd.DataFrame):
    """Benchmark items -> (token ids, token spans), as the extraction tokenises them
    (:func:`swejepa.student.evaluate.tokenize_items`); without the extraction module
    (special-token layout) the plain tokenisation without special tokens is used."""
    try:
        from swejepa.student.evaluate import tokenize_items as student_tokenize

        return student_tokenize(tokenizer, items)
    except ImportError as e:  # swejepa.extract not there
        log.warning("student tokenize_items unavailable (%s); tokenising without special tokens", e)
    from swejepa.teachers.fim import token_span

    backend = getattr(tokenizer, "backend_tokenizer", None)
    texts = items["text"].tolist()
    encs = backend.encode_batch(texts, add_special_tokens=False)
    ids_out, spans = [], []
    for e, s0, s1 in zip(encs, items["span_start_char"], items["span_end_char"]):
        off = np.asarray(e.offsets, dtype=np.int64).reshape(-1, 2)
        ids_out.append(list(e.ids) or [0])
        spans.append(token_span(off, int(s0), int(s1)) if len(off) else (0, 1))
    return ids_out, spans


def summarise(flat: dict) -> dict:
    """Phase-2 summary numbers from :func:`downstream_metrics`'s flat dict:
    retrieval R@1/MRR of both tasks, mean probe R² over the regression properties with a
    finite R² (also ``probe_score``) and mean probe accuracy (classification properties)."""
    out = {k: float(flat.get(k, float("nan"))) for k in METRICS[:4]}
    r2 = [v for k, v in flat.items() if k.startswith("probe_") and k.endswith("_r2")]
    acc = [v for k, v in flat.items() if k.startswith("probe_") and k.endswith("_acc")]
    # degenerate folds (a property constant in a test fold) give R² = -inf: left out of the mean
    r2 = [float(v) for v in r2 if np.isfinite(v)]
    acc = [float(v) for v in acc if np.isfinite(v)]
    out["probe_r2"] = float(np.mean(r2)) if r2 else float("nan")
    out["probe_acc"] = float(np.mean(acc)) if acc else float("nan")
    out["probe_score"] = out["probe_r2"]
    return out


def evaluate_student(model, data, tokenizer, student_cfg: dict, *, items: pd.DataFrame | None = None,
                     regions_csv=None, properties_csv=None, probe_cfg: dict | None = None,
                     representation: str = "encoder", seed: int = 0, device: str = "cpu") -> dict:
    """Phase-0 retrieval (when ``items``) and probes (when the mask and properties tables
    are given) on a student's representations. Returns ``{"metrics": summary, "flat": all}``."""
    from swejepa.analysis.run import probe_sample
    from swejepa.student.evaluate import downstream_metrics

    item_tokens = tokenize_items(tokenizer, items) if items is not None and len(items) else None
    probe = None
    pcfg = dict(probe_cfg or {})
    if regions_csv is not None and properties_csv is not None:
        pos, df, groups = probe_sample(regions_csv, properties_csv, data.region_index, pcfg.pop("max_samples", None),
                                       seed)
        n_groups = len(np.unique(groups))
        if n_groups >= 2 and len(df) >= 10:
            pcfg["folds"] = min(int(pcfg.get("folds", 5)), n_groups)
            pcfg["inner_folds"] = min(int(pcfg.get("inner_folds", 3)), max(2, n_groups - 1))
            pcfg.setdefault("seed", seed)
            probe = (pos, df, groups)
        else:
            log.warning("probes skipped: %d functions in %d packages", len(df), n_groups)
    pcfg.pop("max_samples", None)
    flat = downstream_metrics(model, data, student_cfg, items=items, item_tokens=item_tokens, probe=probe,
                              probe_cfg=pcfg, how=representation, device=device)
    return {"metrics": summarise(flat), "flat": flat}
