"""The teacher's forward over windows: length-bucketed batches, hidden states at the grid
layers pooled per request, and the counters of the report (batches, tokens, seconds).

:class:`Forward` is the seam for tests and benchmarks: ``extract(..., forward=Sub)``
with a subclass that overrides :meth:`Forward.record` (called once per batch with the
seconds spent in ``model(...)``) records timings or interrupts a job."""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from .pooling import pool_spans
from .windows import length_buckets


def to_batch(rows: list[list[int]], pad_id: int, width: int, device: str) -> dict:
    """Token rows -> ``input_ids`` / ``attention_mask`` tensors, padded to the longest row."""
    import torch

    # Lengths rounded up to a multiple of 16 (at most W): few distinct batch shapes, so
    # the allocator and oneDNN's primitive cache reuse their buffers and memory stays
    # flat over a long corpus (bf16 on CPU grew ~1 GB with every length distinct).
    mx = max(len(r) for r in rows)
    mx = max(mx, min(width, -(-mx // 16) * 16))
    x = np.full((len(rows), mx), pad_id, dtype=np.int64)
    att = np.zeros((len(rows), mx), dtype=np.int64)
    for i, r in enumerate(rows):
        x[i, :len(r)] = r
        att[i, :len(r)] = 1
    return {"input_ids": torch.from_numpy(x).to(device), "attention_mask": torch.from_numpy(att).to(device)}


# A sink receives one batch's requests ``(batch row, key, p0, p1)`` and ``{layer: Pooled}``
# (rows of ``mean``/``last`` in request order) and copies what it keeps.
Sink = Callable[[list, dict], None]


class Forward:
    """Runs windows through ``model`` (no grad, bf16 autocast when ``bf16``) in length
    buckets of at most ``batch_tokens`` padded tokens, and counts what it did."""

    def __init__(self, model, *, device: str, bf16: bool, pad_id: int, width: int, layers: list[int],
                 batch_tokens: int):
        self.model, self.device, self.bf16 = model, device, bf16
        self.pad_id, self.width, self.layers, self.batch_tokens = pad_id, width, layers, int(batch_tokens)
        self.batches = 0
        self.tokens_forward = 0    # real tokens
        self.tokens_padded = 0     # tokens including padding
        self.seconds = 0.0         # in model(...)

    def __call__(self, rows: list[list[int]], jobs: list[list[tuple]], sink: Sink) -> None:
        """Forward ``rows``; ``jobs[w]`` lists ``(key, p0, p1)``: spans of window ``w`` to
        pool, handed to ``sink`` batch by batch."""
        for idx in length_buckets([len(r) for r in rows], self.batch_tokens):
            batch = to_batch([rows[j] for j in idx], self.pad_id, self.width, self.device)
            t0 = time.perf_counter()
            hs = self.hidden_states(batch)
            self.record(batch, time.perf_counter() - t0)
            reqs = [(bi, key, p0, p1) for bi, wj in enumerate(idx) for key, p0, p1 in jobs[wj]]
            if reqs:
                sink(reqs, pool_spans(hs, self.layers, [r[0] for r in reqs], [r[2] for r in reqs],
                                      [r[3] for r in reqs], self.device))
            del hs

    def hidden_states(self, batch: dict):
        import torch

        from ..teachers.train import autocast_ctx

        with torch.no_grad(), autocast_ctx(self.device, self.bf16):
            hs = self.model(**batch, output_hidden_states=True).hidden_states
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
        return hs

    def record(self, batch: dict, seconds: float) -> None:
        """Count one batch (``seconds``: its forward, synchronised on CUDA)."""
        self.seconds += seconds
        self.batches += 1
        self.tokens_forward += int(batch["attention_mask"].sum())
        self.tokens_padded += int(batch["attention_mask"].numel())
