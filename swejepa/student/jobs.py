"""Job-level functions of the student stage (the scripts are thin glue around these)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ..layout import Layout
from ..settings import ProbeSettings, RetrievalSettings, StudentEval, StudentSettings, TeacherSpec, VerdictSettings


def evaluate_student(*, student: StudentSettings, evaluation: StudentEval, probes: ProbeSettings,
                     retrieval: RetrievalSettings, latents, final, ckpt_dir, all_checkpoints, bench_items,
                     regions_csv, properties_csv, teacher: TeacherSpec, teacher_index: int, layout: Layout,
                     seed: int, out_success, out_checkpoints, log, tokenizer=None, device="cpu",
                     ci: VerdictSettings | None = None) -> dict:
    """Success check of ``final`` on the val split (with bootstrap CIs over val regions when
    ``ci`` gives ``resamples``/``level``), and (per checkpoint, or only the final one) val loss
    + Phase 0 retrieval/probe metrics on the student's representations."""
    from ..phase0.retrieval import read_items
    from ..phase0.jobs import probe_sample
    from .checkpoint import load_weights
    from .targets import load_targets_data
    from .evaluate import checkpoint_metrics, success_check, tokenize_items

    t0 = time.time()
    ev = evaluation
    data = load_targets_data(student, latents, teacher=teacher, layout=layout, index=teacher_index)
    val = data.indices("val")
    if len(val) < 2:
        log.warning("fewer than 2 val regions; the success check uses train regions")
        val = data.indices("train")
    rng = np.random.default_rng(seed)
    val = np.sort(rng.permutation(val)[: int(ev.val_regions)])

    model, meta = load_weights(final, device)
    succ = success_check(model, data, val, student, int(ev.n_candidates), seed, device,
                         resamples=ci.resamples if ci else None, level=ci.level if ci else None)
    succ.update({"step": int(meta["step"]), "n_val_regions": int(len(val))})
    log.info("success check: %s", {k: round(v, 4) if isinstance(v, float) else v for k, v in succ.items()})

    items = item_tokens = None
    if bench_items and Path(bench_items).exists():
        items = read_items(bench_items)
        try:
            if tokenizer is None:
                from ..teachers.registry import load_tokenizer

                tokenizer = load_tokenizer(teacher, layout, teacher_index)
            item_tokens = tokenize_items(tokenizer, items)
        except Exception as e:  # noqa: BLE001 - retrieval is skipped, loudly, never faked
            log.warning("no tokenizer for %s (%s): retrieval metrics skipped", teacher.name, e)
            items = None
    probe = None
    if regions_csv and properties_csv and Path(properties_csv).exists():
        pos, props, groups = probe_sample(regions_csv, properties_csv, data.region_index,
                                          int(ev.probe_max_samples), seed)
        if len(np.unique(groups)) >= 2:
            probe = (pos, props, groups)
        else:
            log.warning("probes skipped: %d functions in %d packages", len(pos), len(np.unique(groups)))
    ckpts = sorted(Path(ckpt_dir).glob("step*.pt")) if all_checkpoints else [Path(final)]
    df = checkpoint_metrics(ckpts, data, student, val, how=ev.representation, retrieval=retrieval, probes=probes,
                            seed=seed, items=items, item_tokens=item_tokens, probe=probe, device=device, log=log)
    df.to_csv(out_checkpoints, index=False)
    succ["eval_wall_s"] = time.time() - t0
    Path(out_success).write_text(json.dumps(succ, indent=1))
    return succ
