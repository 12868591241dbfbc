"""New student targets from another teacher of the *same tokenizer* (Experiment 2.2).

The compute-allocation sweep trains a tiny FIM teacher per sweep point; its student
needs that teacher's per-token latents. Rather than a whole extraction, one forward
pass of the sweep teacher runs over the windows of the extracted file of the reference
teacher (same tokenizer, same windows: ``/windows/input_ids``) that hold the regions
the student trains and validates on, and the target layer's hidden states at each
region's token positions replace the targets. Everything else (windows, region
placement, splits) is the reference file's, so students of every sweep point see
exactly the same inputs.
"""

from __future__ import annotations

import numpy as np

from swejepa.student.data import StudentData
from swejepa.student.targets import base_model, teacher_targets  # noqa: F401  (re-exported)


def subset_positions(data: StudentData, splits=("train", "val"), max_regions: int | None = None,
                     seed: int = 0) -> np.ndarray:
    """Region positions of ``data`` in ``splits`` (a seeded sample of ``max_regions``
    per split when given), sorted."""
    out = []
    for s in splits:
        p = data.indices(s)
        if max_regions and len(p) > max_regions:
            p = np.sort(np.random.default_rng([seed, len(s)]).choice(p, max_regions, replace=False))
        out.append(p)
    return np.sort(np.concatenate(out)) if out else np.zeros(0, np.int64)


def with_targets(data: StudentData, positions, targets: np.ndarray, offsets: np.ndarray,
                 attrs: dict | None = None) -> StudentData:
    """A :class:`StudentData` holding only ``positions`` with the given targets (windows
    shared with ``data``)."""
    positions = np.asarray(positions, dtype=np.int64)
    return StudentData(
        input_ids=data.input_ids, length=data.length, window_split=data.window_split,
        window=data.window[positions], pos_start=data.pos_start[positions], ctx_start=data.ctx_start[positions],
        offsets=np.asarray(offsets, dtype=np.int64), region_index=data.region_index[positions],
        targets=np.asarray(targets, dtype=np.float16), vocab_size=data.vocab_size,
        attrs={**data.attrs, **(attrs or {})})


def subset(data: StudentData, positions) -> StudentData:
    """The reference teacher's own targets restricted to ``positions``."""
    positions = np.asarray(positions, dtype=np.int64)
    n = np.array([data.n_tok(int(j)) for j in positions], dtype=np.int64)
    rows = np.concatenate([np.arange(data.offsets[j], data.offsets[j + 1]) for j in positions]) \
        if len(positions) else np.zeros(0, np.int64)
    return with_targets(data, positions, data.targets[rows], np.concatenate([[0], np.cumsum(n)]))
