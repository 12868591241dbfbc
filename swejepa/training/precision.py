"""The one autocast helper: bf16 autocast on CUDA by default, selectable on CPU.

Loops with ``dtype: auto|fp32|bf16`` (student, decoder) call :func:`autocast_for`; the
teacher decides ``bf16`` itself (measured: faster *and* the loss matches fp32, see
``swejepa.teachers.train.bf16_is_faster``) and calls :func:`autocast`."""

from __future__ import annotations

import contextlib


def bf16_wanted(device: str, dtype: str) -> bool:
    """``dtype`` ``bf16`` (or ``bfloat16``): yes; ``auto``: on CUDA only; anything else: no."""
    return dtype in ("bf16", "bfloat16") or (dtype == "auto" and device.startswith("cuda"))


def autocast(device: str, bf16: bool):
    """``torch.autocast`` to bfloat16 on ``device``'s type, or a no-op context."""
    if not bf16:
        return contextlib.nullcontext()
    import torch

    return torch.autocast(device_type="cuda" if device.startswith("cuda") else "cpu", dtype=torch.bfloat16)


def autocast_for(device: str, dtype: str):
    return autocast(device, bf16_wanted(device, dtype))
