"""What the student sees and what it must predict.

A training example is one masked region of one teacher window (README data
contract: ``/{mask}/tokens/window``, ``pos_start``, ``ctx_start``, ``offsets``).
The region's tokens are *removed* from the encoder's input (not replaced): the
encoder receives only context token ids and their original positions, so no
information from the masked tokens can reach it. The predictor receives the
positions of the masked tokens (the "mask-position information").

Design question (b) of the seed is the ``context`` argument:

- ``signature`` — the student sees the signature and docstring of the masked
  function (tokens ``[ctx_start, pos_start)``) plus the surrounding file;
- ``file`` — signature and docstring are removed too: only the surrounding file.

Windows longer than ``max_len`` are cropped around the region (context split
evenly between both sides when both have enough); a region longer than
``max_targets`` predicts its first ``max_targets`` tokens, and its remaining
tokens are hidden as well (they are region content).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CONTEXTS = ("signature", "file")


@dataclass
class Example:
    ctx_ids: np.ndarray   # int64 [n_ctx]  token ids the encoder sees
    ctx_pos: np.ndarray   # int64 [n_ctx]  their positions (relative to the crop start)
    tgt_pos: np.ndarray   # int64 [n_tgt]  positions of the tokens to predict
    tgt_rows: np.ndarray  # int64 [n_tgt]  rows of the per-token target matrix
    crop_start: int       # window position of crop position 0
    hidden: tuple         # (start, end) window positions removed from the context


def plan_example(length: int, pos_start: int, n_tok: int, ctx_start: int, row0: int,
                 max_len: int, max_targets: int, context: str):
    """Index arithmetic of one example (no token ids): returns
    ``(crop_start, crop_end, tgt_start, n_pred, hide_start, hide_end)`` in window
    positions. Tokens in ``[hide_start, hide_end)`` are never shown to the encoder."""
    if context not in CONTEXTS:
        raise ValueError(f"context must be one of {CONTEXTS}, got {context!r}")
    if n_tok < 1:
        raise ValueError("a region needs at least one token")
    if not (0 <= ctx_start <= pos_start and pos_start + n_tok <= length):
        raise ValueError(f"inconsistent region: ctx_start={ctx_start} pos_start={pos_start} "
                         f"n_tok={n_tok} window length={length}")
    n_pred = int(min(n_tok, max_targets, max_len - 1))
    hide_start = pos_start if context == "signature" else ctx_start
    hide_end = pos_start + n_tok
    # Context budget: crop positions not spent on predicted tokens. Hidden but not
    # predicted tokens are outside the crop's context, so they do not spend budget.
    budget = max_len - n_pred
    left_avail = hide_start
    right_avail = length - hide_end
    half = budget // 2
    left = min(left_avail, max(half, budget - right_avail))
    right = min(right_avail, budget - left)
    crop_start = hide_start - left
    crop_end = hide_end + right
    return crop_start, crop_end, pos_start, n_pred, hide_start, hide_end


def make_example(window_ids: np.ndarray, length: int, pos_start: int, n_tok: int, ctx_start: int,
                 row0: int, max_len: int, max_targets: int, context: str) -> Example:
    """Build one :class:`Example` from a window's token ids and a region's placement."""
    a, b, ts, n_pred, hs, he = plan_example(length, pos_start, n_tok, ctx_start, row0,
                                            max_len, max_targets, context)
    ctx_window_pos = np.concatenate([np.arange(a, hs), np.arange(he, b)]).astype(np.int64)
    ctx_ids = np.asarray(window_ids, dtype=np.int64)[ctx_window_pos]
    tgt_window_pos = np.arange(ts, ts + n_pred, dtype=np.int64)
    return Example(
        ctx_ids=ctx_ids,
        ctx_pos=ctx_window_pos - a,
        tgt_pos=tgt_window_pos - a,
        tgt_rows=row0 + np.arange(n_pred, dtype=np.int64),
        crop_start=int(a),
        hidden=(int(hs), int(he)),
    )


def full_view(window_ids: np.ndarray, start: int, end: int, span_start: int, span_end: int,
              max_len: int):
    """Unmasked view for representations: tokens of ``[start, end)`` cropped to
    ``max_len`` around the span ``[span_start, span_end)`` (span first)."""
    span_end = min(span_end, span_start + max_len)
    budget = max_len - (span_end - span_start)
    left_avail, right_avail = span_start - start, end - span_end
    left = min(left_avail, max(budget // 2, budget - right_avail))
    right = min(right_avail, budget - left)
    a, b = span_start - left, span_end + right
    ids = np.asarray(window_ids[a:b], dtype=np.int64)
    pos = np.arange(b - a, dtype=np.int64)
    return ids, pos, span_start - a, span_end - a
