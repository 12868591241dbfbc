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


def bound_cpu_memory(primitive_cache: int | None = 64, shape_cache: int | None = 64,
                     huge_pages: bool = True) -> dict:
    """Keep a long CPU job's peak memory flat when it runs many tensor shapes (length-
    bucketed batches, often under bf16 autocast). Call it before the job's first tensor
    op; explicit environment settings win. Returns what was applied. The causes, each
    measured on a 2-core AMX VM (extraction of 1x and 4x the default files):

    * oneDNN's per-shape primitive cache (``ONEDNN_PRIMITIVE_CACHE_CAPACITY``, read when
      oneDNN first runs) and PyTorch's ideep cache of matmul/linear primitives per shape
      (``LRU_CACHE_CAPACITY``, default 1024): new batch shapes kept adding entries, and the
      memory left after each 256-window block grew ~7 MB per block;
    * heap fragmentation between the forward's large tensors of changing sizes: with
      ``THP_MEM_ALLOC_ENABLE`` PyTorch gives tensors of >= 2 MB 2-MB-aligned blocks on
      transparent huge pages (where the kernel allows them) and the peak drops ~8 %, at the
      same speed. (A fixed glibc ``M_MMAP_THRESHOLD`` lowers it further, but its page faults
      cost 1.3-2x the forward time: not used.)
    """
    applied = {}
    for var, val, on in (("ONEDNN_PRIMITIVE_CACHE_CAPACITY", primitive_cache, primitive_cache is not None),
                         ("LRU_CACHE_CAPACITY", shape_cache, shape_cache is not None),
                         ("THP_MEM_ALLOC_ENABLE", 1, huge_pages)):
        if on and var not in os.environ:
            os.environ[var] = str(val)
            applied[var] = val
    return applied


def release_free_memory() -> bool:
    """Hand freed heap pages back to the OS (glibc ``malloc_trim``); a no-op elsewhere.
    Called between streamed blocks (same speed; with it the peak grew +26 % instead of
    +37 % from 1x to 19x the files, before the other fixes in :func:`bound_cpu_memory`
    and the extraction's block buffers)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0))
    except (OSError, AttributeError):
        return False


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
