"""The storage dtype of extracted hidden states: fp16 when every value fits, else bf16 or fp32.

fp16 keeps 10 mantissa bits but overflows above 65504; Qwen-family models carry "massive
activations" (a few hidden dimensions orders of magnitude above the rest; fp16 overflow to
inf is reported for Qwen2/Qwen2.5, e.g. QwenLM/Qwen3#868, turboderp-org/exllamav2#627).
bf16 has fp32's range with 7 mantissa bits. The rule, a pure function of the measured
maxima so that it can be tested and recorded:

* ``requested`` ``float16`` (the data contract's default) is kept only if every layer's
  max |h| stays below ``headroom`` × 65504 (``headroom`` leaves room for values the
  sample did not see); otherwise bf16 is chosen (same size on disk) and the reason names
  the layers that would overflow;
* ``bfloat16`` and ``float32`` are always representable (finite inputs); they are kept;
* a non-finite maximum (the forward itself produced inf/nan) is an error: never store inf.

The extraction writer calls :func:`storage_dtype` on the per-layer maxima of the first
block (or of the precision-check batch) before it creates its datasets, records
``storage_dtype`` and ``storage_reason`` as root attributes, and casts with
:func:`cast_for_storage` (which raises instead of writing inf).
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

FP16_MAX = 65504.0
BF16_MAX = 3.3895313892515355e38
STORAGE_DTYPES = ("float16", "bfloat16", "float32")
_ALIASES = {"fp16": "float16", "half": "float16", "bf16": "bfloat16", "fp32": "float32", "float": "float32"}


class StorageOverflow(ValueError):
    """Hidden states that cannot be stored finitely in the chosen dtype."""


def _norm(dtype: str) -> str:
    d = _ALIASES.get(str(dtype), str(dtype))
    if d not in STORAGE_DTYPES:
        raise ValueError(f"unknown storage dtype {dtype!r} (one of {', '.join(STORAGE_DTYPES)})")
    return d


def storage_dtype(max_abs_per_layer: Mapping[str, float], requested: str = "float16",
                  headroom: float = 0.5) -> tuple[str, str]:
    """``(dtype, reason)`` for storing hidden states whose largest magnitude per grid layer
    is ``max_abs_per_layer`` (layer name -> max |h| observed)."""
    req = _norm(requested)
    bad = {k: float(v) for k, v in max_abs_per_layer.items() if not math.isfinite(float(v))}
    if bad:
        raise StorageOverflow(f"non-finite hidden states at layers {sorted(bad)}: the forward overflowed "
                              "(compute dtype); nothing can be stored")
    peak = max((float(v) for v in max_abs_per_layer.values()), default=0.0)
    top = max(max_abs_per_layer, key=lambda k: float(max_abs_per_layer[k])) if max_abs_per_layer else None
    if req != "float16":
        return req, f"{req} requested; max |h| {peak:.4g} (layer {top}) is representable"
    limit = headroom * FP16_MAX
    over = sorted(k for k, v in max_abs_per_layer.items() if float(v) > limit)
    if not over:
        return "float16", f"max |h| {peak:.4g} (layer {top}) <= {headroom:g} x fp16 max {FP16_MAX:g}"
    return "bfloat16", (f"max |h| {peak:.4g} at layer {top} exceeds {headroom:g} x fp16 max {FP16_MAX:g} "
                        f"(layers {', '.join(over)}): stored as bfloat16 (fp32 range, same size)")


def max_abs(hidden) -> float:
    """max |x| of an array or tensor, as a Python float (nan/inf propagate)."""
    a = hidden.detach().float().abs().max().item() if hasattr(hidden, "detach") else float(np.nanmax(np.abs(hidden)))
    return float(a)


def cast_for_storage(x, dtype: str) -> np.ndarray:
    """``x`` (numpy or torch, any float dtype) as the numpy array to write; bfloat16 is
    returned as its uint16 bit pattern (h5py has no bf16 type: store ``uint16`` with an
    attribute ``dtype=bfloat16``). Raises :class:`StorageOverflow` rather than write inf."""
    d = _norm(dtype)
    if hasattr(x, "detach"):
        import torch

        t = x.detach()
        if d == "bfloat16":
            b = t.to(torch.bfloat16)
            if not torch.isfinite(b).all():
                raise StorageOverflow("non-finite values in bfloat16")
            return b.view(torch.uint16).cpu().numpy()
        x = t.float().cpu().numpy()
    arr = np.asarray(x)
    if d == "bfloat16":
        f = np.ascontiguousarray(arr, dtype=np.float32)
        if not np.isfinite(f).all():
            raise StorageOverflow("non-finite values in bfloat16")
        bits = f.view(np.uint32)
        # round to nearest even on the upper 16 bits
        rounded = bits + (0x7FFF + ((bits >> 16) & 1))
        return (rounded >> 16).astype(np.uint16)
    with np.errstate(over="ignore"):   # an overflow is reported below, not warned
        out = arr.astype(np.float16 if d == "float16" else np.float32)
    if not np.isfinite(out).all():
        n = int((~np.isfinite(out)).sum())
        raise StorageOverflow(f"{n} values are not finite in {d} (max |x| {np.nanmax(np.abs(arr.astype(np.float64))):.4g})")
    return out


def bf16_bits_to_float32(bits: np.ndarray) -> np.ndarray:
    """Readers: the float32 values of a stored bfloat16 (uint16) dataset."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def numpy_storage_dtype(dtype: str):
    """The numpy dtype a dataset of storage dtype ``dtype`` is created with (bfloat16: its
    uint16 bit pattern)."""
    return {"float16": np.float16, "bfloat16": np.uint16, "float32": np.float32}[_norm(dtype)]


def buffer_dtype(dtype: str):
    """The in-memory dtype of vectors to be stored as ``dtype`` (float16 stays float16;
    bfloat16 and float32 are kept in float32 until :func:`cast_for_storage`)."""
    return np.float16 if _norm(dtype) == "float16" else np.float32


def read_float32(ds, sel=Ellipsis) -> np.ndarray:
    """Readers: ``ds[sel]`` as float32 whatever its storage dtype (a bfloat16 dataset is
    ``uint16`` with the attribute ``dtype = bfloat16``)."""
    x = ds[sel]
    if x.dtype == np.uint16 and str(_attr(ds, "dtype")) == "bfloat16":
        return bf16_bits_to_float32(x)
    return np.asarray(x, dtype=np.float32)


def _attr(ds, key):
    v = ds.attrs.get(key, "")
    return v.decode() if isinstance(v, bytes) else v
