"""Resume state: everything a training loop needs to continue exactly where it stopped.

One file, ``resume_dir/state.pt``: model, optimizer and (if any) scheduler state, the step
counter, the torch/CUDA/NumPy/Python RNG states, the loop's ``extra`` state (counters,
metric rows) and a fingerprint of the settings it was written under. :func:`load_resume`
ignores state with another fingerprint (a rerun after a settings change starts over; a
retry of the same job resumes). The loops draw their data as a pure function of
(seed, step), so the step *is* the data-order state.

``resume_dir`` lies outside every rule's declared outputs (Snakemake deletes a failed
job's outputs, and the state must survive exactly that). Writes go to a temporary name
and are renamed, so a job killed mid-write keeps the previous state.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path

import numpy as np

RESUME_NAME = "state.pt"
FORMAT = 2  # 1: the loops' own formats before swejepa/training (ignored: the run starts over)


def fingerprint(obj) -> str:
    """A short, stable hash of a JSON-able description of the settings."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def atomic_save(obj, path) -> None:
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def unwrap(model):
    """The module inside a DistributedDataParallel wrapper (or the model itself)."""
    return model.module if hasattr(model, "module") else model


def save_resume(resume_dir, model, optimizer, step: int, *, scheduler=None, extra: dict | None = None,
                fingerprint: str | None = None) -> Path:
    import torch

    path = Path(resume_dir) / RESUME_NAME
    atomic_save({
        "format": FORMAT,
        "fingerprint": fingerprint,
        "model": unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "step": int(step),
        "rng_torch": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "rng_numpy": np.random.get_state(),
        "rng_python": random.getstate(),
        "extra": extra or {},
    }, path)
    return path


def load_resume(resume_dir, model, optimizer, *, scheduler=None, fingerprint: str | None = None,
                log=None) -> dict | None:
    """Restore the state in ``resume_dir`` (model, optimizer, scheduler, RNG states) and
    return ``{"step", "extra"}``; None when there is none, or when it was written under
    another ``fingerprint`` or in another format (then nothing is restored and ``log`` is
    told why)."""
    import torch

    path = Path(resume_dir) / RESUME_NAME if resume_dir is not None else None
    if path is None or not path.exists():
        return None
    st = torch.load(path, map_location="cpu", weights_only=False)
    if st.get("format") != FORMAT or (fingerprint is not None and st.get("fingerprint") != fingerprint):
        if log is not None:
            log(f"ignoring stale resume state {path} (written under other settings or by older code)")
        return None
    unwrap(model).load_state_dict(st["model"])
    optimizer.load_state_dict(st["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(st["scheduler"])
    torch.set_rng_state(st["rng_torch"])
    if st.get("rng_cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["rng_cuda"])
    np.random.set_state(st["rng_numpy"])
    random.setstate(st["rng_python"])
    return {"step": int(st["step"]), "extra": st.get("extra", {})}
