"""Checkpoints: the per-interval weights of Experiment 1.2 and the final weights.

Resume state (model, optimizer, scheduler, RNG states, step; :mod:`swejepa.training.resume`)
lives in a directory no Snakemake rule declares
(``results/students/{teacher}/{variant}/_resume/``): Snakemake deletes a failed job's
declared outputs, and the resume state must survive exactly that case. The interval
checkpoints are written there first (``_resume/ckpts/``) and published to the declared
``ckpts/`` when training ends. Every write goes to a temporary name and is renamed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

from ..training.resume import atomic_save, unwrap


def save_weights(path, model, meta: dict) -> Path:
    """Weights + everything needed to rebuild the model (``Student.cfg``) + ``meta``."""
    m = unwrap(model)
    atomic_save({"model": m.state_dict(), "cfg": m.cfg, "meta": dict(meta)}, Path(path))
    return Path(path)


def load_weights(path, device: str = "cpu"):
    """Rebuild a :class:`~.model.Student` from :func:`save_weights` output; returns (model, meta)."""
    from ..settings import StudentModel
    from .model import Student

    st = torch.load(path, map_location=device, weights_only=False)
    cfg = dict(st["cfg"])
    model = Student(cfg.pop("vocab_size"), cfg.pop("max_positions"), cfg.pop("d_target"), StudentModel.from_dict(cfg))
    model.load_state_dict(st["model"])
    return model.to(device).eval(), st["meta"]


def publish(src: Path, dst: Path) -> None:
    """Copy a finished file from the resume directory to a declared output (hard link if possible)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
