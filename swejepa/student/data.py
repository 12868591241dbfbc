"""Teacher latents (HDF5, README data contract) -> student batches.

Reads, from every shard ``results/latents/{teacher}/shard{i}of{n}.h5`` of one teacher:
``/windows/input_ids``, ``/windows/length``, ``/windows/split`` and, for one mask
strategy and one target layer, ``/{mask}/tokens/{region_sel, offsets, window,
pos_start, ctx_start, {layer}}`` plus ``/{mask}/region_index``. Shards are
concatenated (window and token rows are re-based). Only the target layer's token
matrix is held in memory (fp16).

The student vocabulary is the teacher tokenizer's: ``vocab_size`` from the root
attribute ``tokenizer`` (JSON) or a root attribute ``vocab_size``, at least ``max(input_ids) + 1``; ids at or beyond it (e.g.
in benchmark snippets) map to one extra "unknown" id.

:func:`write_synthetic_latents` writes a small file that follows the same contract,
with a planted, learnable relation between signature tokens and body latents; the
tests use it until (and besides) real extraction outputs.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .masking import make_example

os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")


@dataclass
class StudentData:
    input_ids: np.ndarray      # int32 [n_windows, W]
    length: np.ndarray         # int32 [n_windows]
    window_split: np.ndarray   # str [n_windows]
    window: np.ndarray         # int64 [m] row of input_ids holding region j
    pos_start: np.ndarray      # int64 [m]
    ctx_start: np.ndarray      # int64 [m]
    offsets: np.ndarray        # int64 [m+1] rows of ``targets``
    region_index: np.ndarray   # int64 [m] row of masks/{corpus}/{mask}.csv
    targets: np.ndarray        # fp16 [T, d]
    vocab_size: int
    attrs: dict = field(default_factory=dict)

    @property
    def hidden_size(self) -> int:
        return int(self.targets.shape[1])

    @property
    def max_positions(self) -> int:
        return int(self.input_ids.shape[1])

    @property
    def n_regions(self) -> int:
        return int(len(self.window))

    def split_of(self, j) -> np.ndarray:
        return self.window_split[self.window[j]]

    def indices(self, split: str) -> np.ndarray:
        """Regions (positions into the region arrays) whose window is in ``split``."""
        return np.flatnonzero(self.window_split[self.window] == split)

    def n_tok(self, j: int) -> int:
        return int(self.offsets[j + 1] - self.offsets[j])

    def example(self, j: int, max_len: int, max_targets: int, context: str):
        w = int(self.window[j])
        return make_example(self.input_ids[w], int(self.length[w]), int(self.pos_start[j]),
                            self.n_tok(j), int(self.ctx_start[j]), int(self.offsets[j]),
                            max_len, max_targets, context)


def _decode(a) -> np.ndarray:
    return np.array([x.decode() if isinstance(x, bytes) else str(x) for x in a])


class NoTargets:
    """Stands in for the target matrix of regions without stored per-token vectors until
    :func:`swejepa.student.targets.attach_online_targets` replaces it."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows):
        raise RuntimeError("these regions have no stored per-token targets (student.targets: online): "
                           "attach the teacher with swejepa.student.targets.attach_online_targets")


def _vocab_of(f) -> int:
    vocab = int(f.attrs["vocab_size"]) if "vocab_size" in f.attrs else 0
    tok_attr = f.attrs.get("tokenizer")
    if isinstance(tok_attr, (str, bytes)):
        try:  # extraction writes a JSON description with the tokenizer's vocab_size
            vocab = max(vocab, int(json.loads(tok_attr).get("vocab_size", 0)))
        except (ValueError, AttributeError, TypeError):
            pass
    return vocab


def _attrs_of(f) -> dict:
    attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    return {k: (v.item() if hasattr(v, "item") and np.ndim(v) == 0 else v) for k, v in attrs.items()}


def _targets_of(ds) -> np.ndarray:
    """Stored per-token targets: float16 as stored; bfloat16/float32 storage as float32
    (their values may exceed float16's range: swejepa.storage)."""
    from ..storage import read_float32

    return ds[...] if ds.dtype == np.float16 else read_float32(ds)


def _stored_regions(f, p, mask: str, layer: str, n_win: int, n_rows: int):
    """Regions with per-token vectors (``/{mask}/tokens``): placement, offsets, targets."""
    grp = f"/{mask}/tokens"
    if grp not in f:
        raise KeyError(f"{p}: no per-token group {grp} (mask '{mask}' not extracted?)")
    tg = f[grp]
    if layer not in tg:
        have = sorted(k for k in tg.keys() if k not in ("region_sel", "offsets", "window", "pos_start", "ctx_start"))
        raise KeyError(f"{p}: per-token layer '{layer}' not extracted for mask '{mask}'; "
                       f"available: {have} (set student.target_layer to one of them)")
    sel = tg["region_sel"][...].astype(np.int64)
    o = tg["offsets"][...].astype(np.int64)
    return (tg["window"][...].astype(np.int64) + n_win, tg["pos_start"][...].astype(np.int64),
            tg["ctx_start"][...].astype(np.int64), o[:-1] + n_rows, int(o[-1]),
            f[f"/{mask}/region_index"][...].astype(np.int64)[sel], _targets_of(tg[layer]))


def _concat_targets(parts) -> np.ndarray:
    """float16 when every shard stored float16, else float32."""
    dt = np.float16 if all(p.dtype == np.float16 for p in parts) else np.float32
    return np.concatenate(parts).astype(dt)


def _placed_regions(f, p, mask: str, n_win: int, n_rows: int):
    """Every region with a window and at least one token (``/{mask}/{window, pos_start,
    ctx_start, n_tokens}``): placement and offsets; no targets."""
    if f"/{mask}/window" not in f:
        raise KeyError(f"{p}: no /{mask}/window (latents written before region placement was stored: "
                       "re-extract for student.targets: online)")
    g = f[f"/{mask}"]
    n = g["n_tokens"][...].astype(np.int64)
    w = g["window"][...].astype(np.int64)
    ok = (w >= 0) & (n > 0)
    n = n[ok]
    return (w[ok] + n_win, g["pos_start"][...].astype(np.int64)[ok], g["ctx_start"][...].astype(np.int64)[ok],
            np.concatenate([[0], np.cumsum(n)[:-1]]).astype(np.int64) + n_rows, int(n.sum()),
            g["region_index"][...].astype(np.int64)[ok], None)


def load_student_data(paths, mask: str, layer: str, *, regions: str = "stored") -> StudentData:
    """Concatenate the shards ``paths`` of one teacher for ``mask`` and target ``layer``.

    ``regions``: ``stored`` — the regions with per-token vectors and those vectors as
    targets; ``placed`` — every region with a window (``student.targets: online``), whose
    targets :func:`swejepa.student.targets.attach_online_targets` provides."""
    import h5py

    if regions not in ("stored", "placed"):
        raise ValueError(f"regions must be 'stored' or 'placed', got {regions!r}")
    paths = sorted(map(str, paths))
    if not paths:
        raise ValueError("no latent shards given")
    ids, lens, splits, parts = [], [], [], []
    n_win = n_rows = 0
    attrs: dict = {}
    vocab = 0
    width = None
    for p in paths:
        with h5py.File(p, "r") as f:
            attrs = attrs or _attrs_of(f)
            vocab = max(vocab, _vocab_of(f))
            part = (_stored_regions(f, p, mask, layer, n_win, n_rows) if regions == "stored"
                    else _placed_regions(f, p, mask, n_win, n_rows))
            x = f["/windows/input_ids"][...]
            if width is not None and x.shape[1] != width:
                wmax = max(width, x.shape[1])
                ids = [np.pad(a, ((0, 0), (0, wmax - a.shape[1]))) for a in ids]
                x = np.pad(x, ((0, 0), (0, wmax - x.shape[1])))
                width = wmax
            width = x.shape[1] if width is None else width
            ids.append(x)
            lens.append(f["/windows/length"][...].astype(np.int32))
            splits.append(_decode(f["/windows/split"][...]))
            parts.append(part)
            n_win += x.shape[0]
            n_rows += part[4]
    input_ids = np.concatenate(ids).astype(np.int32)
    vocab = max(vocab, int(input_ids.max()) + 1 if input_ids.size else 1)
    win, ps, cs, offs, _, rix, tgts = zip(*parts)
    targets = (_concat_targets(tgts) if regions == "stored"
               else NoTargets((n_rows, int(attrs["hidden_size"]))))
    return StudentData(
        input_ids=input_ids,
        length=np.concatenate(lens),
        window_split=np.concatenate(splits),
        window=np.concatenate(win),
        pos_start=np.concatenate(ps),
        ctx_start=np.concatenate(cs),
        offsets=np.concatenate(list(offs) + [np.array([n_rows], dtype=np.int64)]),
        region_index=np.concatenate(rix),
        targets=targets,
        vocab_size=int(vocab),
        attrs=attrs,
    )


def collate(examples, targets: np.ndarray | None = None):
    """Pad a list of :class:`~.masking.Example` into tensors.

    Returns a dict with ``ctx_ids, ctx_pos, ctx_mask [B,Lc]``, ``tgt_pos, tgt_mask
    [B,Lt]`` and, when ``targets`` is given, ``targets [B,Lt,d]`` (float32, zero rows
    at padding). Position 0 of the context is always marked valid (a padding token
    when an example has no context at all), so attention never sees an empty row."""
    import torch

    B = len(examples)
    Lc = max(1, max(len(e.ctx_ids) for e in examples))
    Lt = max(len(e.tgt_pos) for e in examples)
    ctx_ids = np.zeros((B, Lc), np.int64)
    ctx_pos = np.zeros((B, Lc), np.int64)
    ctx_mask = np.zeros((B, Lc), bool)
    tgt_pos = np.zeros((B, Lt), np.int64)
    tgt_mask = np.zeros((B, Lt), bool)
    rows = np.zeros((B, Lt), np.int64)
    for i, e in enumerate(examples):
        n, t = len(e.ctx_ids), len(e.tgt_pos)
        ctx_ids[i, :n], ctx_pos[i, :n], ctx_mask[i, :n] = e.ctx_ids, e.ctx_pos, True
        tgt_pos[i, :t], tgt_mask[i, :t], rows[i, :t] = e.tgt_pos, True, e.tgt_rows
        # Padding queries sit after the region (keeps positions monotone for the MLP head).
        if t < Lt:
            tgt_pos[i, t:] = e.tgt_pos[-1]
    ctx_mask[:, 0] = True
    out = {
        "ctx_ids": torch.from_numpy(ctx_ids), "ctx_pos": torch.from_numpy(ctx_pos),
        "ctx_mask": torch.from_numpy(ctx_mask), "tgt_pos": torch.from_numpy(tgt_pos),
        "tgt_mask": torch.from_numpy(tgt_mask),
    }
    if targets is not None:
        t = targets[rows.reshape(-1)].astype(np.float32).reshape(B, Lt, -1)
        t[~tgt_mask] = 0.0
        out["targets"] = torch.from_numpy(t)
    return out


def make_batch(data: StudentData, regions, max_len: int, max_targets: int, context: str,
               with_targets: bool = True):
    exs = [data.example(int(j), max_len, max_targets, context) for j in regions]
    return collate(exs, data.targets if with_targets else None)


# ----------------------------------------------------------------------------- synthetic data

def write_synthetic_latents(path, n_windows: int = 64, width: int = 48, vocab: int = 64,
                            hidden: int = 16, layers=("half", "last"), masks=("ast",),
                            val_fraction: float = 0.25, seed: int = 0, teacher: str = "synthetic",
                            n_shards: int = 1, shard: int = 0, region_offset: int = 0) -> Path:
    """A small HDF5 file following the README latent contract exactly.

    Each window holds one region of one of ``n_kinds`` "function kinds" ``c``: the
    signature (``[ctx_start, pos_start)``) is the two tokens ``(4 + c, 4 + n_kinds + c)``,
    body token ``k`` is ``(5 c + 3 k) mod V`` and its latent ``F[c] + G[k] + 0.3 E[token]``
    plus noise (fixed random tables), so targets are predictable from the signature; the
    token after the region repeats the kind (a weaker, file-level hint)."""
    import h5py

    rng = np.random.default_rng(seed)
    n_kinds = 8
    E = rng.standard_normal((vocab, hidden)).astype(np.float32)
    F = rng.standard_normal((n_kinds, hidden)).astype(np.float32)
    G = rng.standard_normal((width, hidden)).astype(np.float32)
    ids = np.zeros((n_windows, width), np.int32)
    length = np.zeros(n_windows, np.int32)
    win, ps, cs, offs, region_index = [], [], [], [0], []
    per_layer = {ly: [] for ly in layers}
    for w in range(n_windows):
        L = int(rng.integers(width * 2 // 3, width + 1))
        length[w] = L
        ids[w, :L] = rng.integers(4 + 2 * n_kinds, vocab, L)
        n_body = int(rng.integers(3, max(4, L // 3)))
        c0 = int(rng.integers(1, L - n_body - 2))
        c = int(rng.integers(n_kinds))
        ids[w, c0], ids[w, c0 + 1] = 4 + c, 4 + n_kinds + c
        p0 = c0 + 2
        body = (5 * c + 3 * np.arange(n_body)) % vocab
        ids[w, p0:p0 + n_body] = body
        if p0 + n_body < L:
            ids[w, p0 + n_body] = 4 + c
        base = F[c] + G[np.arange(n_body)] + 0.3 * E[body]
        for i, ly in enumerate(layers):
            per_layer[ly].append(base * (1.0 + 0.25 * i) + 0.05 * rng.standard_normal(base.shape))
        win.append(w), ps.append(p0), cs.append(c0), region_index.append(region_offset + w)
        offs.append(offs[-1] + n_body)
    n_val = max(1, int(round(val_fraction * n_windows)))
    split = np.array(["train"] * (n_windows - n_val) + ["val"] * n_val)
    rng.shuffle(split)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n_layers = 4
    with h5py.File(path, "w") as f:
        f.attrs.update({
            "teacher": teacher, "source": "synthetic", "model": "synthetic", "revision": "0",
            "n_layers": n_layers, "hidden_size": hidden,
            "layer_indices": json.dumps({"first": 1, "quarter": 1, "half": 2, "three_quarter": 3, "last": 4}),
            "dtype": "float16", "tokenizer": "synthetic", "corpus_manifest_sha256": "0" * 64,
            "code_version": "test", "shard": shard, "n_shards": n_shards, "vocab_size": vocab,
        })
        f["/windows/input_ids"] = ids
        f["/windows/length"] = length
        f["/windows/file_id"] = np.arange(n_windows, dtype=np.int32)
        f["/windows/split"] = np.array([s.encode() for s in split])
        for m in masks:
            n = n_windows
            f[f"/{m}/region_index"] = np.array(region_index, np.int64)
            f[f"/{m}/n_tokens"] = np.diff(offs).astype(np.int32)
            f[f"/{m}/truncated"] = np.zeros(n, bool)
            for ly in layers:
                toks = per_layer[ly]
                f[f"/{m}/{ly}/mean"] = np.stack([t.mean(0) for t in toks]).astype(np.float16)
                f[f"/{m}/{ly}/last"] = np.stack([t[-1] for t in toks]).astype(np.float16)
                f.create_dataset(f"/{m}/tokens/{ly}", data=np.concatenate(toks).astype(np.float16),
                                 chunks=True)
            f[f"/{m}/tokens/region_sel"] = np.arange(n, dtype=np.int64)
            f[f"/{m}/tokens/offsets"] = np.array(offs, np.int64)
            f[f"/{m}/tokens/window"] = np.array(win, np.int32)
            f[f"/{m}/tokens/pos_start"] = np.array(ps, np.int32)
            f[f"/{m}/tokens/ctx_start"] = np.array(cs, np.int32)
    return path
