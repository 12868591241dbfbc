"""Downstream quality of a student from its *own* representations (Experiments 2.1/2.2).

A thin layer over the student stage's evaluation
(:func:`swejepa.student.evaluate.downstream_metrics`, which runs Phase 0's
:func:`~swejepa.phase0.retrieval.bench_metrics` and :func:`~swejepa.phase0.probes.probe_all`
on the student's representations) with the function sample of
:func:`swejepa.phase0.jobs.probe_sample`, so that every Phase-2 student is evaluated
exactly like the Phase-1 students. Adds the summary numbers Phase 2 reports.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from ..layout import Layout
from ..settings import ProbeSettings, RetrievalSettings, StudentEval, StudentSettings, TeacherSpec

log = logging.getLogger("swejepa")

# Summary columns of one evaluated student (hard_*: the lexically hard retrieval, absent
# until benchmark items are flagged hard; probe_selectivity: probe R² minus the body-length
# baseline's on the same functions and folds).
METRICS = ["hard_recall1", "hard_mrr", "probe_selectivity", "refactor_recall1", "refactor_mrr", "spec_recall1",
           "spec_mrr", "probe_r2", "probe_acc", "probe_score"]
# Metrics with per-unit values in an evaluation's "units" (for the bootstrap CIs of 2.1/2.2).
UNIT_METRICS = ("hard_mrr", "hard_recall1", "probe_selectivity")


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
    retrieval R@1/MRR of every task (hard, refactor, spec; nan when absent), probe
    selectivity, mean probe R² over the regression properties with a finite R² (also
    ``probe_score``) and mean probe accuracy (classification properties)."""
    out = {k: float(flat.get(k, float("nan"))) for k in METRICS if not k.startswith("probe_") or
           k == "probe_selectivity"}
    r2 = [v for k, v in flat.items() if k.startswith("probe_") and k.endswith("_r2")]
    acc = [v for k, v in flat.items() if k.startswith("probe_") and k.endswith("_acc")]
    # degenerate folds (a property constant in a test fold) give R² = -inf: left out of the mean
    r2 = [float(v) for v in r2 if np.isfinite(v)]
    acc = [float(v) for v in acc if np.isfinite(v)]
    out["probe_r2"] = float(np.mean(r2)) if r2 else float("nan")
    out["probe_acc"] = float(np.mean(acc)) if acc else float("nan")
    out["probe_score"] = out["probe_r2"]
    return out


def evaluate_student(model, data, tokenizer, student: StudentSettings, *, evaluation: StudentEval,
                     probes: ProbeSettings, retrieval: RetrievalSettings, seed: int,
                     items: pd.DataFrame | None = None, regions_csv=None, properties_csv=None,
                     device: str = "cpu") -> dict:
    """Phase-0 retrieval (when ``items``) and probes (when the mask and properties tables
    are given; ``evaluation.probe_max_samples`` functions, folds capped by the number of
    packages) on a student's representations (``evaluation.representation``).
    Returns ``{"metrics": summary, "flat": all, "units": per-unit values}`` (see
    :func:`swejepa.student.evaluate.downstream_metrics`)."""
    from swejepa.phase0.jobs import probe_sample
    from swejepa.student.evaluate import downstream_metrics

    item_tokens = tokenize_items(tokenizer, items) if items is not None and len(items) else None
    probe = None
    if regions_csv is not None and properties_csv is not None:
        pos, df, groups = probe_sample(regions_csv, properties_csv, data.region_index,
                                       int(evaluation.probe_max_samples), seed)
        n_groups = len(np.unique(groups))
        if n_groups >= 2 and len(df) >= 10:
            probes = probes.replace(folds=min(int(probes.folds), n_groups),
                                    inner_folds=min(int(probes.inner_folds), max(2, n_groups - 1)))
            probe = (pos, df, groups)
        else:
            log.warning("probes skipped: %d functions in %d packages", len(df), n_groups)
    units: dict = {}
    flat = downstream_metrics(model, data, student, how=evaluation.representation, retrieval=retrieval,
                              probes=probes, seed=seed, items=items, item_tokens=item_tokens, probe=probe,
                              units=units, device=device)
    return {"metrics": summarise(flat), "flat": flat, "units": units}


def evaluate_job(*, final, latents, items_path, regions_csv, properties_csv, teacher: TeacherSpec, index: int,
                 layout: Layout, student: StudentSettings, evaluation: StudentEval, probes: ProbeSettings,
                 retrieval: RetrievalSettings, seed: int, ident: dict, out_json) -> dict:
    """Evaluate one Phase-2 student (``final`` = its ``final.pt``; ``None`` = the untrained
    student of ``seed``) on the Phase-0 tasks; write identity, budget and metrics to ``out_json``.
    The windows/tokenizer are those of ``teacher`` (the student's teacher)."""
    from contextlib import nullcontext

    from swejepa.phase0.retrieval import read_items
    from swejepa.student.checkpoint import load_weights
    from swejepa.student.targets import load_targets_data
    from swejepa.student.train import evaluate_loss
    from swejepa.teachers.registry import load_tokenizer, resolve_source

    from .common import student_info, write_json
    from .report import count_params_safetensors
    from .teachers import untrained_student

    t0 = time.time()
    data = load_targets_data(student, latents, teacher=teacher, layout=layout, index=index)
    out = dict(ident)
    if final:
        model, _ = load_weights(final)
        info = student_info(final)
        out.update({k: v for k, v in info.items() if k not in ident})
    else:
        model = untrained_student(data, student, seed)
        val = data.indices("val")
        val = val if len(val) else data.indices("train")
        val = np.sort(val)[: student.train.eval_batches * student.train.batch_size]
        out.update({"student_steps": 0, "student_flops": 0.0, "student_params": int(model.n_params()),
                    "student_val_loss": evaluate_loss(model, data, val, student, "cpu", nullcontext())["val_loss"]})
    if ident.get("teacher_source") not in (None, "none"):
        try:
            out["teacher_params"] = count_params_safetensors(resolve_source(teacher, layout, index)["path"])
        except Exception as e:  # noqa: BLE001 - size is informative; the criterion may name teachers instead
            log.warning("teacher size unknown: %s", e)
            out["teacher_params"] = None
    tokenizer = load_tokenizer(teacher, layout, index)
    items = read_items(items_path) if items_path else None
    r = evaluate_student(model, data, tokenizer, student, evaluation=evaluation, probes=probes, retrieval=retrieval,
                         seed=seed, items=items, regions_csv=regions_csv, properties_csv=properties_csv)
    out.update({f"m_{k}": v for k, v in r["flat"].items()})
    out.update(r["metrics"])
    out["units"] = r["units"]  # per-query / per-function values: the CIs of 2.1 and 2.2
    out["eval_wall_s"] = time.time() - t0
    write_json(out, out_json)
    log.info("eval %s: %s", ident, {k: round(v, 4) for k, v in r["metrics"].items()})
    return out
