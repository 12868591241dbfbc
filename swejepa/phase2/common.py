"""What the Phase-2 jobs share: corpus records, resumable student training with a
settings fingerprint, one teacher forward pass over the student's regions."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..settings import StudentSettings
from .retarget import subset_positions, teacher_targets, with_targets

log = logging.getLogger("swejepa")


def write_json(obj, path) -> None:
    from swejepa.runtime import write_text_atomic

    write_text_atomic(path, json.dumps(obj, indent=1, sort_keys=True, default=float) + "\n")


def device(requested: str) -> str:
    from swejepa.runtime import pick_device

    return pick_device(requested)


def read_train_records(files_jsonl, split: str = "train") -> list[dict]:
    recs = []
    with open(files_jsonl) as fh:
        for line in fh:
            r = json.loads(line)
            if r.get("split") == split and r.get("content"):
                recs.append({"file_id": int(r["file_id"]), "content": r["content"]})
    return recs


def read_regions(mask_csv) -> pd.DataFrame:
    return pd.read_csv(mask_csv, usecols=["file_id", "body_start_char", "body_end_char"])


def student_step_flops(metrics_csv) -> float:
    """Largest FLOPs of one student step (from the cumulative ``flops`` column)."""
    m = pd.read_csv(metrics_csv)
    f = m["flops"].to_numpy(dtype=float)
    return float(np.max(np.diff(np.concatenate([[0.0], f])))) if len(f) else 0.0


def targets_for(model, ref, n_layers: int, target_layer: str, max_regions, seed: int, dev: str):
    """The student data of ``ref`` with targets from ``model`` (one forward pass over the
    train + val regions of the per-token subset), and the cost of that pass."""
    from swejepa.teachers.registry import layer_indices

    pos = subset_positions(ref, ("train", "val"), max_regions, seed)
    li = layer_indices(n_layers)[target_layer]
    t0 = time.time()
    tg, off, fl, ntok = teacher_targets(model, ref, pos, li, device=dev)
    data = with_targets(ref, pos, tg, off, {"retargeted_layer_index": li})
    return data, {"extract_flops": fl, "extract_tokens": ntok, "extract_wall_s": time.time() - t0,
                  "n_regions": int(len(pos)), "layer_index": int(li)}


def fresh_resume(resume_dir, fingerprint: dict) -> None:
    """Drop resume state left by a run with other settings (a rerun after a config change
    must start over; a retry of the same job resumes)."""
    resume_dir = Path(resume_dir)
    fp = hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()
    mark = resume_dir / "phase2_fingerprint.txt"
    if resume_dir.exists() and (not mark.exists() or mark.read_text().strip() != fp):
        log.info("discarding resume state in %s (other settings)", resume_dir)
        shutil.rmtree(resume_dir, ignore_errors=True)
    resume_dir.mkdir(parents=True, exist_ok=True)
    mark.write_text(fp + "\n")


def train_student_job(student: StudentSettings, data, out_dir, *, seed: int, max_steps=None, max_flops=None,
                      fingerprint=None) -> dict:
    """:func:`~swejepa.student.train.train_student` with resume state that a run with other
    settings cannot pick up; adds the job's wall time and its largest step's FLOPs."""
    from swejepa.student.train import train_student

    fresh_resume(Path(out_dir) / "_resume", {"cfg": student.to_dict(), "seed": seed, "max_steps": max_steps,
                                             "max_flops": max_flops, "n_regions": int(data.n_regions),
                                             "extra": fingerprint})
    t0 = time.time()
    summ = dict(train_student(student, data, out_dir, max_steps=max_steps, max_flops=max_flops, seed=seed, log=log))
    summ["wall_s_job"] = time.time() - t0
    summ["step_flops_max"] = student_step_flops(Path(out_dir) / "metrics.csv")
    return summ


def student_info(final) -> dict:
    """Budget/loss numbers of a trained student from the files next to ``final.pt``."""
    d = Path(final).parent
    out: dict = {}
    if (d / "summary.json").exists():
        sm = json.loads((d / "summary.json").read_text())
        out.update({"student_steps": int(sm["steps"]), "student_flops": float(sm["flops"]),
                    "student_val_loss": float(sm["final_val_loss"]), "student_params": int(sm["n_params"]),
                    "student_wall_s": float(sm["wall_s"])})
    if (d / "run.json").exists():
        out.update(json.loads((d / "run.json").read_text()))
    return out
