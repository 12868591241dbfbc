"""Reading the per-teacher latent HDF5 files (README data contract) for the Phase-0
grid, and writing synthetic ones for tests.

Grid cell = (teacher, mask, layer, pool). Shards of a teacher are concatenated and
rows re-ordered by ``region_index`` (= row of ``masks/{corpus}/{mask}.csv``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")

import numpy as np  # noqa: E402

from ..storage import read_float32  # noqa: E402

VECTOR_POOLS = ("mean", "last")  # pools with one vector per region (retrieval, probes)


def region_vectors(paths, mask: str, layer: str, pool: str) -> tuple[np.ndarray, np.ndarray]:
    """``(region_index [n], vectors [n, d] float32)`` over all shards, sorted by region."""
    import h5py

    idx, vecs = [], []
    for p in paths:
        with h5py.File(p, "r") as f:
            idx.append(f[f"/{mask}/region_index"][:])
            vecs.append(read_float32(f[f"/{mask}/{layer}/{pool}"]))
    idx = np.concatenate(idx)
    vecs = np.concatenate(vecs)
    order = np.argsort(idx, kind="stable")
    return idx[order], vecs[order]


def region_meta(paths, mask: str) -> dict[str, np.ndarray]:
    """``region_index``, ``n_tokens`` and ``truncated`` over all shards, sorted by region."""
    import h5py

    cols = {"region_index": [], "n_tokens": [], "truncated": []}
    for p in paths:
        with h5py.File(p, "r") as f:
            for k in cols:
                cols[k].append(f[f"/{mask}/{k}"][:])
    out = {k: np.concatenate(v) for k, v in cols.items()}
    order = np.argsort(out["region_index"], kind="stable")
    return {k: v[order] for k, v in out.items()}


def token_vectors(paths, mask: str, layer: str, max_tokens: int | None, seed: int = 0) -> np.ndarray:
    """A seeded sample of per-token vectors (pool ``none``) over all shards, float32."""
    import h5py

    sizes = []
    for p in paths:
        with h5py.File(p, "r") as f:
            key = f"/{mask}/tokens/{layer}"
            sizes.append(f[key].shape[0] if key in f else 0)
    total = int(sum(sizes))
    if total == 0:
        return np.zeros((0, 0), np.float32)
    rng = np.random.default_rng(seed)
    pick = np.arange(total) if max_tokens is None or total <= max_tokens else \
        np.sort(rng.choice(total, size=max_tokens, replace=False))
    out, start = [], 0
    for p, n in zip(paths, sizes):
        sel = pick[(pick >= start) & (pick < start + n)] - start
        if len(sel):
            with h5py.File(p, "r") as f:
                out.append(read_float32(f[f"/{mask}/tokens/{layer}"], sel))
        start += n
    return np.concatenate(out)


def bench_vectors(paths, layer: str, pool: str) -> np.ndarray:
    """``/bench/{layer}/{pool}`` (rows = bench items), from the first shard holding it."""
    import h5py

    for p in paths:
        with h5py.File(p, "r") as f:
            key = f"/bench/{layer}/{pool}"
            if key in f:
                return read_float32(f[key])
    raise KeyError(f"/bench/{layer}/{pool} not found in {list(paths)}")


def file_attrs(path) -> dict:
    import h5py

    with h5py.File(path, "r") as f:
        return {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}


# ----------------------------------------------------------------------------- synthetic

def write_synthetic(path, regions_by_mask: dict[str, int], n_bench: int, layers, hidden: int = 16,
                    seed: int = 0, teacher: str = "synthetic", shard: int = 0, n_shards: int = 1,
                    region_offset: dict[str, int] | None = None, n_regions_total: dict[str, int] | None = None,
                    signal: dict[str, np.ndarray] | None = None, bench_groups: np.ndarray | None = None,
                    token_regions: int = 8) -> Path:
    """A small latent file following the README contract (all datasets our analyses read).

    Region vectors are noise plus, when ``signal[mask]`` ([n_regions_total, k]) is given,
    a linear embedding of those per-region values (planted probe signal); bench vectors
    share a per-group direction when ``bench_groups`` is given (planted retrieval signal).
    Shard ``shard`` of ``n_shards`` holds regions ``i`` with ``i % n_shards == shard``."""
    import h5py

    rng = np.random.default_rng(seed)
    proj = np.random.default_rng(1234).standard_normal((64, hidden))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    L = 8
    with h5py.File(path, "w") as f:
        f.attrs.update({"teacher": teacher, "source": "synthetic", "model": "synthetic", "revision": "0",
                        "n_layers": L, "hidden_size": hidden,
                        "layer_indices": json.dumps({"first": 1, "quarter": 2, "half": 4, "three_quarter": 6, "last": 8}),
                        "dtype": "float16", "tokenizer": "synthetic", "corpus_manifest_sha256": "0" * 64,
                        "code_version": "test", "shard": shard, "n_shards": n_shards})
        W = 16
        f["/windows/input_ids"] = np.zeros((1, W), np.int32)
        f["/windows/length"] = np.array([W], np.int32)
        f["/windows/file_id"] = np.zeros(1, np.int32)
        f["/windows/split"] = np.array([b"train"])
        for mask, n_total in regions_by_mask.items():
            ridx = np.arange(n_total)[np.arange(n_total) % n_shards == shard].astype(np.int64)
            n = len(ridx)
            f[f"/{mask}/region_index"] = ridx
            f[f"/{mask}/n_tokens"] = rng.integers(3, 60, n).astype(np.int32)
            f[f"/{mask}/truncated"] = np.zeros(n, bool)
            m = min(token_regions, n)
            ntok = rng.integers(2, 6, m)
            offs = np.concatenate([[0], np.cumsum(ntok)]).astype(np.int64)
            f[f"/{mask}/tokens/region_sel"] = np.arange(m, dtype=np.int64)
            f[f"/{mask}/tokens/offsets"] = offs
            f[f"/{mask}/tokens/window"] = np.zeros(m, np.int32)
            f[f"/{mask}/tokens/pos_start"] = np.ones(m, np.int32)
            f[f"/{mask}/tokens/ctx_start"] = np.zeros(m, np.int32)
            for li, layer in enumerate(layers):
                base = rng.standard_normal((n, hidden))
                if signal is not None and mask in signal:
                    s = np.asarray(signal[mask], dtype=float)[ridx]
                    s = (s - s.mean(0)) / (s.std(0) + 1e-9)
                    base = base * 0.3 + s @ proj[: s.shape[1]] * (li + 1) / len(layers)
                for pool in VECTOR_POOLS:
                    f[f"/{mask}/{layer}/{pool}"] = (base + (0.1 if pool == "last" else 0) *
                                                    rng.standard_normal(base.shape)).astype(np.float16)
                f[f"/{mask}/tokens/{layer}"] = rng.standard_normal((int(offs[-1]), hidden)).astype(np.float16)
        if shard == 0 and n_bench:
            for li, layer in enumerate(layers):
                vec = rng.standard_normal((n_bench, hidden))
                if bench_groups is not None:
                    g = np.asarray(bench_groups)
                    cent = np.random.default_rng(99).standard_normal((int(g.max()) + 1, hidden))
                    vec = vec * 0.5 + cent[g] * (li + 1)
                for pool in VECTOR_POOLS:
                    f[f"/bench/{layer}/{pool}"] = vec.astype(np.float16)
    return path
