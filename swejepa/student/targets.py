"""Per-token targets computed by the frozen teacher instead of stored by extraction.

A student that trains on every region of a large corpus (``student.targets: online``)
cannot have the teacher's hidden states of every token stored on disk (regions x tokens x
d x 2 bytes: terabytes for a 3B teacher on The Stack). :class:`OnlineTargets` stands in for
the stored target matrix: when a batch asks for target rows, the frozen teacher runs once
over the windows that hold their regions (bf16 on CUDA) and the target layer's hidden
states at the regions' tokens are returned — the same windows and positions as the
extraction's, so the values equal the stored ones up to fp16 rounding and batch padding
(tested: cosine >= 0.999 in fp32).

:func:`teacher_targets` is the forward itself (also Experiment 2.2's retargeting).
"""

from __future__ import annotations

import numpy as np


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



class OnlineTargets:
    """The target matrix ``[T, d]`` of a :class:`~swejepa.student.data.StudentData` (rows
    ``offsets[j]:offsets[j+1]`` are region j's tokens), computed per request by ``model``
    at hidden-state index ``layer_index``. Indexing with row indices (or a slice) returns
    float32 rows; each request is one forward over the windows of the regions it touches."""

    def __init__(self, data, model, layer_index: int, *, hidden_size: int, device: str = "cpu",
                 bf16: bool = False, chunk: int = 16, describe: str = ""):
        self.data, self.model, self.layer_index = data, model, int(layer_index)
        self.device, self.bf16, self.chunk = device, bool(bf16), int(chunk)
        self.shape = (int(data.offsets[-1]), int(hidden_size))
        self.digest = f"online:{describe}:{self.layer_index}"  # what a resume fingerprint records
        self.forward_tokens = 0

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def dtype(self):
        return np.dtype(np.float32)

    def __getitem__(self, rows) -> np.ndarray:
        if isinstance(rows, slice):
            rows = np.arange(*rows.indices(self.shape[0]))
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if not len(rows):
            return np.zeros((0, self.shape[1]), np.float32)
        offsets = self.data.offsets
        owner = np.searchsorted(offsets, rows, side="right") - 1
        regions = np.unique(owner)
        tg, off, _, n = teacher_targets(self.model, self.data, regions, self.layer_index, chunk=self.chunk,
                                        device=self.device, autocast_bf16=self.bf16)
        self.forward_tokens += n
        at = np.searchsorted(regions, owner)
        return tg[off[at] + (rows - offsets[owner])].astype(np.float32)


def attach_online_targets(data, model, layer_name: str, *, device: str = "cpu", bf16: bool = False,
                          describe: str = ""):
    """``data`` with :class:`OnlineTargets` of ``model`` at grid layer ``layer_name`` (its
    hidden-state index from the latents file's ``layer_indices`` attribute)."""
    import json

    li = json.loads(data.attrs["layer_indices"])[layer_name]
    data.targets = OnlineTargets(data, model, li, hidden_size=int(data.attrs["hidden_size"]), device=device,
                                 bf16=bf16, describe=describe)
    return data


def load_targets_data(student, latents, *, teacher=None, layout="results", index: int | None = None,
                      attach: bool = True):
    """The student's training data under its settings (a
    :class:`~swejepa.settings.StudentSettings`): ``targets: precomputed`` — the regions
    with stored per-token vectors; ``online`` — every region with a window, and (``attach``)
    the frozen ``teacher`` (a :class:`~swejepa.settings.TeacherSpec`, loaded from
    ``layout``) computing each batch's targets on the student's device, bf16 on CUDA.
    ``attach=False``: the regions only (Experiment 2.2 computes its own targets)."""
    from .data import load_student_data

    if student.targets == "precomputed":
        return load_student_data(latents, student.mask, student.target_layer)
    data = load_student_data(latents, student.mask, student.target_layer, regions="placed")
    if not attach:
        return data
    if teacher is None:
        raise ValueError("student.targets: online needs the teacher that computes the targets")
    from ..runtime import pick_device
    from ..teachers.registry import load_teacher

    device = pick_device(student.train.device)
    model, _, info = load_teacher(teacher, layout, index, device=device)
    bf16 = student.train.dtype == "bf16" or (student.train.dtype == "auto" and device.startswith("cuda"))
    return attach_online_targets(data, model, student.target_layer, device=device, bf16=bf16,
                                 describe=f"{teacher.name}@{info['revision']}")
