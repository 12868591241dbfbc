"""Run-time plumbing shared by every script: logging, device and dtype choice,
environment facts (SLURM job, visible GPUs), atomic file writes."""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import socket
import sys
from pathlib import Path

# HDF5 on NFS/Lustre: file locking breaks or hangs there. Set before h5py loads.
os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")


def setup_logging(log_path: str | os.PathLike | None = None, name: str = "swejepa") -> logging.Logger:
    """Log to ``log_path`` (the rule's ``log:``) and stderr; record where we run."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    logger.handlers.clear()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    for h in handlers:
        h.setFormatter(fmt)
        logger.addHandler(h)
    logger.info(
        "host=%s python=%s platform=%s SLURM_JOB_ID=%s CUDA_VISIBLE_DEVICES=%s",
        socket.gethostname(),
        platform.python_version(),
        platform.platform(),
        os.environ.get("SLURM_JOB_ID", ""),
        os.environ.get("CUDA_VISIBLE_DEVICES", ""),
    )
    return logger


def pick_device(requested: str = "auto") -> str:
    """'auto' -> 'cuda' when a GPU is visible, else 'cpu'. Explicit values pass through
    (asking for cuda without one is an error, not a silent fallback)."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device '{requested}' requested but no CUDA device is visible "
                           f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '')!r})")
    return requested


def set_threads(n: int | None = None) -> int:
    """Use the cores Snakemake/SLURM gave this job (``threads``), not the whole node."""
    import torch

    n = int(n or os.environ.get("SLURM_CPUS_PER_TASK") or os.cpu_count() or 1)
    torch.set_num_threads(max(1, n))
    return n


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary sibling path; rename it onto ``path`` only on success.

    An interrupted job leaves at most ``<path>.tmp-<pid>``, never a file that looks
    complete under the declared name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            if tmp.is_dir():
                import shutil

                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink()


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)
