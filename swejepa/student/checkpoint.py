"""Checkpoints: resumable training state and the per-interval weights of Experiment 1.2.

Resume state lives in a directory no Snakemake rule declares
(``results/students/{teacher}/{variant}/_resume/``): Snakemake deletes a failed
job's declared outputs, and the resume state must survive exactly that case. It
holds the model, optimizer, scheduler, torch RNG state and the step counter; the
data order is a pure function of (seed, step), so the step *is* the data-order state.
Every write goes to a temporary name and is renamed, so a job killed mid-write keeps
the previous state.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import numpy as np
import torch

RESUME_NAME = "state.pt"


def _atomic_save(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def unwrap(model):
    return model.module if hasattr(model, "module") else model


def save_resume(resume_dir, model, optimizer, scheduler, step: int, extra: dict | None = None) -> Path:
    path = Path(resume_dir) / RESUME_NAME
    _atomic_save({
        "model": unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "step": int(step),
        "rng_torch": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "rng_numpy": np.random.get_state(),
        "rng_python": random.getstate(),
        "extra": extra or {},
    }, path)
    return path


def load_resume(resume_dir, model, optimizer, scheduler) -> dict | None:
    """Restore state from ``resume_dir`` if present; returns ``{"step", "extra"}`` or None."""
    path = Path(resume_dir) / RESUME_NAME
    if not path.exists():
        return None
    st = torch.load(path, map_location="cpu", weights_only=False)
    unwrap(model).load_state_dict(st["model"])
    optimizer.load_state_dict(st["optimizer"])
    scheduler.load_state_dict(st["scheduler"])
    torch.set_rng_state(st["rng_torch"])
    if st.get("rng_cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["rng_cuda"])
    np.random.set_state(st["rng_numpy"])
    random.setstate(st["rng_python"])
    return {"step": int(st["step"]), "extra": st.get("extra", {})}


def save_weights(path, model, meta: dict) -> Path:
    """Weights + everything needed to rebuild the model (``Student.cfg``) + ``meta``."""
    m = unwrap(model)
    _atomic_save({"model": m.state_dict(), "cfg": m.cfg, "meta": dict(meta)}, Path(path))
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
