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


def base_model(model):
    """The transformer body of a ``*ForCausalLM`` (hidden states only, no LM head)."""
    return getattr(model, "model", model)


def teacher_targets(model, data: StudentData, positions, layer_index: int, *, chunk: int = 16,
                    device: str = "cpu", autocast_bf16: bool = False):
    """Forward ``model`` over the windows holding ``positions`` and gather the hidden
    state ``layer_index`` (0 = embeddings) at each region's tokens.

    Returns ``(targets fp16 [T, d], offsets int64 [m+1], forward_flops, tokens)`` with
    regions in the order of ``positions`` and ``forward_flops = 2 · params · tokens``."""
    import contextlib

    import torch

    positions = np.asarray(positions, dtype=np.int64)
    body = base_model(model).to(device).eval()
    n_par = int(sum(p.numel() for p in body.parameters()))
    wins = np.unique(data.window[positions])
    by_win: dict[int, list[int]] = {}
    for r, j in enumerate(positions):
        by_win.setdefault(int(data.window[j]), []).append(r)
    n_tok = np.array([data.n_tok(int(j)) for j in positions], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(n_tok)]).astype(np.int64)
    targets = None
    tokens = 0
    order = wins[np.argsort(data.length[wins], kind="stable")]
    amp = (torch.autocast(device_type="cuda" if device.startswith("cuda") else "cpu", dtype=torch.bfloat16)
           if autocast_bf16 else contextlib.nullcontext())
    with torch.no_grad():
        for i in range(0, len(order), chunk):
            ws = order[i:i + chunk]
            L = int(data.length[ws].max())
            ids = torch.from_numpy(data.input_ids[ws, :L].astype(np.int64)).to(device)
            att = (torch.arange(L)[None, :] < torch.from_numpy(data.length[ws].astype(np.int64))[:, None])
            att = att.long().to(device)
            with amp:
                hs = body(input_ids=ids, attention_mask=att, output_hidden_states=True).hidden_states
            if not 0 <= layer_index < len(hs):
                raise ValueError(f"layer index {layer_index} outside 0..{len(hs) - 1}")
            h = hs[layer_index].float().cpu().numpy()
            tokens += int(att.sum())
            if targets is None:
                targets = np.zeros((int(offsets[-1]), h.shape[-1]), np.float16)
            for b, w in enumerate(ws):
                for r in by_win[int(w)]:
                    j = positions[r]
                    s = int(data.pos_start[j])
                    targets[offsets[r]:offsets[r + 1]] = h[b, s:s + n_tok[r]]
    if targets is None:
        targets = np.zeros((0, 1), np.float16)
    return targets, offsets, 2.0 * n_par * tokens, tokens


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
