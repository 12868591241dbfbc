"""The retrieval benchmark items (``bench/retrieval_items.jsonl``), embedded by the same
model in the same pass settings as the corpus: one window per item, pooled over the
item's ``[span_start_char, span_end_char)``, written to ``/bench``."""

from __future__ import annotations

import functools

import numpy as np

from ..storage import buffer_dtype
from ..teachers.fim import token_span
from .teacher import Teacher
from .windows import plan_windows


def embed_bench(items: list[dict], teacher: Teacher, forward, writer, block_windows: int) -> None:
    """Forward ``items`` in chunks of ``block_windows`` and write ``/bench``."""
    n = len(items)
    writer.begin_bench([int(it["item_id"]) for it in items])
    n_tokens = np.zeros(n, np.int32)
    truncated = np.zeros(n, bool)
    grid, bw = teacher.grid, int(block_windows)
    for i0 in range(0, n, bw):
        chunk = items[i0:i0 + bw]
        rows, jobs = _plan_items(chunk, i0, teacher, n_tokens, truncated)
        buf = np.zeros((len(grid), 2, len(chunk), teacher.hidden_size), buffer_dtype(writer.storage))
        forward(rows, jobs, functools.partial(_sink, buf, i0, grid))
        writer.put_bench(i0, {ln: (buf[grid.index(li), 0], buf[grid.index(li), 1])
                              for ln, li in teacher.layer_index.items()})
    writer.end_bench(n_tokens, truncated)


def _sink(buf: np.ndarray, i0: int, grid: list[int], reqs: list, pooled: dict) -> None:
    """Copy a batch's pooled vectors into the chunk's buffer ``[U, 2, items, d]``."""
    at = [key[1] - i0 for _, key, _, _ in reqs]
    for u, li in enumerate(grid):
        buf[u, 0, at] = pooled[li].mean
        buf[u, 1, at] = pooled[li].last


def _plan_items(chunk: list[dict], i0: int, teacher: Teacher, n_tokens: np.ndarray, truncated: np.ndarray):
    """Window rows and pooling jobs of items ``i0, i0 + 1, ...``; fills their counts."""
    encs = teacher.backend.encode_batch([it["text"] for it in chunk], add_special_tokens=False)
    rows, jobs, npre, causal = [], [], len(teacher.prefix), teacher.causal
    for j, (it, enc) in enumerate(zip(chunk, encs)):
        offs = np.asarray(enc.offsets, dtype=np.int64).reshape(-1, 2)
        a, b = token_span(offs, int(it["span_start_char"]), int(it["span_end_char"]))
        plan = plan_windows(len(enc.ids), np.array([[0 if causal else a, a, b]]), teacher.cap, causal)
        s, e = plan.windows[plan.assign[0]]
        rows.append(teacher.frame(list(enc.ids[s:e])))
        p0, p1 = a - s + npre, min(b, e) - s + npre
        jobs.append([(("bench", i0 + j), p0, p1)])
        n_tokens[i0 + j] = max(0, p1 - p0)
        truncated[i0 + j] = bool(plan.truncated[0])
    return rows, jobs
