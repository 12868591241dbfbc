"""LatentWriter: the one owner of the HDF5 schema of ``latents/{teacher}/shard{i}of{n}.h5``,
the README's data contract ("Data layout", ``latents/``). Every dataset and root attribute
of the contract is created here, nowhere else:

* ``/{mask}/region_index`` int64 ``[n]``, ``/{mask}/n_tokens``, ``/{mask}/n_tokens_full``
  int32 ``[n]``, ``/{mask}/truncated`` bool ``[n]``, and every region's placement
  ``/{mask}/{window, pos_start, ctx_start}`` int32 ``[n]`` (-1: no window);
* ``/{mask}/{layer}/{mean,last}`` ``[n, d]`` in the storage dtype (chunked by 256 regions);
* ``/{mask}/tokens/{region_sel (int64), window, pos_start, ctx_start (int32)}`` ``[m]``,
  ``/{mask}/tokens/offsets`` int64 ``[m+1]``, ``/{mask}/tokens/{layer}`` fp16 ``[T, d]`` (the layers of
  ``extract.token_layers``, every grid layer by default);
* ``/windows/{input_ids [n_windows, W], length, file_id}`` int32, ``/windows/split`` S5;
* ``/bench/{item_id, n_tokens, truncated}``, ``/bench/{layer}/{mean,last}``;
* the root attributes :data:`ROOT_ATTRIBUTES`.

Vectors (pooled, per-token, benchmark) are stored in ``storage`` (:mod:`swejepa.storage`:
float16 unless the measured max |h| would overflow it; root attributes ``dtype`` and
``storage_reason``): float16 / float32 as such, bfloat16 as its ``uint16`` bit pattern with
the dataset attribute ``dtype = bfloat16`` (read with :func:`swejepa.storage.read_float32`).
Every write goes through :func:`swejepa.storage.cast_for_storage`, which raises rather than
write inf.

The file is written under a temporary name and renamed when complete
(:meth:`LatentWriter.create`): an interrupted job leaves nothing under the declared name.
Pooled vectors are put per block at their regions' positions; window rows and per-token
vectors are appended.
"""

from __future__ import annotations

import contextlib

import numpy as np

POOLS = ("mean", "last")
ROOT_ATTRIBUTES = ("teacher", "source", "model", "revision", "n_layers", "hidden_size", "layer_indices", "dtype",
                   "compute_dtype", "precision_check", "tokenizer", "corpus_manifest_sha256", "code_version",
                   "shard", "n_shards", "window", "is_causal", "masks", "max_files", "seed", "token_max_regions",
                   "storage_reason", "max_abs_per_layer")


def _append(ds, arr) -> None:
    n0 = ds.shape[0]
    ds.resize(n0 + len(arr), axis=0)
    ds[n0:] = arr


def _put(ds, pos, arr) -> None:
    """``ds[pos] = arr`` for increasing ``pos``; one hyperslab when contiguous."""
    if len(pos) and pos[-1] - pos[0] + 1 == len(pos):
        ds[int(pos[0]):int(pos[-1]) + 1] = arr
    else:
        ds[pos] = arr


class LatentWriter:
    """Writes one latents file. ``region_index``: ``{mask: rows of the mask CSV}`` this
    shard holds (positions of the other methods index it); ``layers``: grid layer names;
    ``hidden_size``: d; ``window``: W; ``pad_id`` pads window rows; ``storage``: the vectors'
    storage dtype (:func:`swejepa.storage.storage_dtype`); ``token_layers``: the layers whose
    per-token vectors are stored (default: every layer)."""

    def __init__(self, h5, *, region_index: dict, layers, hidden_size: int, window: int, pad_id: int,
                 storage: str = "float16", token_layers=None):
        from ..storage import numpy_storage_dtype

        self.h5, self.layers, self.d, self.window, self.pad_id = h5, list(layers), hidden_size, window, pad_id
        self.token_layers = [ln for ln in self.layers if token_layers is None or ln in token_layers]
        self.storage, self.vec_dtype = storage, numpy_storage_dtype(storage)
        self.ds = {}
        for m, rows in region_index.items():
            self._create_mask(m, np.asarray(rows, dtype=np.int64))
        d, W = hidden_size, window
        wg = h5.create_group("windows")
        self.ds["windows", "input_ids"] = wg.create_dataset("input_ids", shape=(0, W), maxshape=(None, W),
                                                            dtype=np.int32, chunks=(64, W))
        for name, dt in (("length", np.int32), ("file_id", np.int32), ("split", "S5")):
            self.ds["windows", name] = wg.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dt,
                                                         chunks=(4096,))
        self.n_token_rows = {m: 0 for m in region_index}

    @classmethod
    @contextlib.contextmanager
    def create(cls, path, **kw):
        """A writer on a temporary sibling of ``path``, renamed onto it when the block exits
        without an exception (removed otherwise)."""
        import h5py

        from ..runtime import atomic_path

        with atomic_path(path) as tmp:
            # No HDF5 chunk cache: every write covers whole blocks of rows, and 1 MB caches on
            # ~50 datasets filled up block by block (memory grew with the corpus).
            with h5py.File(tmp, "w", rdcc_nbytes=0) as h5:
                yield cls(h5, **kw)

    def _create_mask(self, m: str, rows: np.ndarray) -> None:
        n, d = len(rows), self.d
        g = self.h5.create_group(m)
        g.create_dataset("region_index", data=rows)
        self.ds[m, "n_tokens"] = g.create_dataset("n_tokens", shape=(n,), dtype=np.int32)
        self.ds[m, "n_tokens_full"] = g.create_dataset("n_tokens_full", shape=(n,), dtype=np.int32)
        self.ds[m, "truncated"] = g.create_dataset("truncated", shape=(n,), dtype=bool)
        # placement of every region (-1: none, e.g. not extracted); online targets read it
        for name in ("window", "pos_start", "ctx_start"):
            self.ds[m, name] = g.create_dataset(name, data=np.full(n, -1, np.int32))
        for ln in self.layers:
            for pool in POOLS:
                self.ds[m, ln, pool] = self._vec(g.create_dataset(f"{ln}/{pool}", shape=(n, d), dtype=self.vec_dtype,
                                                                  chunks=(max(1, min(n, 256)), d) if n else None))
        tg = g.create_group("tokens")
        for name, dt in (("region_sel", np.int64), ("window", np.int32), ("pos_start", np.int32),
                         ("ctx_start", np.int32)):
            self.ds[m, "tok", name] = tg.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dt, chunks=(4096,))
        self.ds[m, "tok", "offsets"] = tg.create_dataset("offsets", data=np.zeros(1, np.int64), maxshape=(None,),
                                                         chunks=(4096,))
        for ln in self.token_layers:
            self.ds[m, "tok", ln] = self._vec(tg.create_dataset(ln, shape=(0, d), maxshape=(None, d),
                                                                dtype=self.vec_dtype, chunks=(1024, d)))

    def _vec(self, ds):
        """A vector dataset: its storage dtype named on it when the bytes alone do not say it."""
        if self.storage == "bfloat16":
            ds.attrs["dtype"] = "bfloat16"
        return ds

    def _cast(self, x):
        from ..storage import cast_for_storage

        return cast_for_storage(x, self.storage)

    # ------------------------------------------------------------------ windows
    @property
    def n_windows(self) -> int:
        """Rows of ``/windows/input_ids`` written so far (the next window's row)."""
        return self.ds["windows", "input_ids"].shape[0]

    def append_windows(self, rows: list[list[int]], files: list[tuple[int, str]]) -> None:
        """Window token rows (padded to W with the pad id) and their ``(file_id, split)``."""
        arr = np.full((len(rows), self.window), self.pad_id, dtype=np.int32)
        for i, row in enumerate(rows):
            arr[i, :len(row)] = row
        _append(self.ds["windows", "input_ids"], arr)
        _append(self.ds["windows", "length"], np.array([len(x) for x in rows], dtype=np.int32))
        _append(self.ds["windows", "file_id"], np.array([x[0] for x in files], dtype=np.int32))
        _append(self.ds["windows", "split"], np.array([str(x[1]).encode() for x in files], dtype="S5"))

    # ------------------------------------------------------------------ regions
    def put_regions(self, m: str, pos: np.ndarray, *, n_tokens, n_tokens_full, truncated, window, pos_start,
                    ctx_start, vectors: dict) -> None:
        """Rows ``pos`` (increasing) of mask ``m``: counts, flags, placement (window row,
        first region token, first signature token) and ``vectors``
        ``{layer: (mean [k, d], last [k, d])}``."""
        for name, val in (("window", window), ("pos_start", pos_start), ("ctx_start", ctx_start)):
            _put(self.ds[m, name], pos, np.asarray(val, dtype=np.int32))
        _put(self.ds[m, "n_tokens"], pos, np.asarray(n_tokens, dtype=np.int32))
        _put(self.ds[m, "n_tokens_full"], pos, np.asarray(n_tokens_full, dtype=np.int32))
        _put(self.ds[m, "truncated"], pos, np.asarray(truncated, dtype=bool))
        for ln in self.layers:
            mean, last = vectors[ln]
            _put(self.ds[m, ln, "mean"], pos, self._cast(mean))
            _put(self.ds[m, ln, "last"], pos, self._cast(last))

    def append_tokens(self, m: str, *, region_sel, window, pos_start, ctx_start, lengths, vectors: dict) -> None:
        """Per-token vectors of regions ``region_sel`` (increasing, after those already
        written): ``lengths`` tokens each, ``vectors`` ``{layer: [sum(lengths), d]}``."""
        lengths = np.asarray(lengths, dtype=np.int64)
        _append(self.ds[m, "tok", "region_sel"], np.asarray(region_sel, dtype=np.int64))
        _append(self.ds[m, "tok", "window"], np.asarray(window, dtype=np.int32))
        _append(self.ds[m, "tok", "pos_start"], np.asarray(pos_start, dtype=np.int32))
        _append(self.ds[m, "tok", "ctx_start"], np.asarray(ctx_start, dtype=np.int32))
        _append(self.ds[m, "tok", "offsets"], self.n_token_rows[m] + np.cumsum(lengths))
        self.n_token_rows[m] += int(lengths.sum())
        for ln in self.token_layers:
            _append(self.ds[m, "tok", ln], self._cast(vectors[ln]))

    # ------------------------------------------------------------------ benchmark items
    def begin_bench(self, item_ids) -> None:
        """``/bench`` for ``item_ids`` (rows of the benchmark items), vectors to be put."""
        item_ids = np.asarray(item_ids, dtype=np.int64)
        bg = self.h5.create_group("bench")
        bg.create_dataset("item_id", data=item_ids)
        for ln in self.layers:
            for pool in POOLS:
                self.ds["bench", ln, pool] = self._vec(bg.create_dataset(f"{ln}/{pool}", shape=(len(item_ids), self.d),
                                                                         dtype=self.vec_dtype))

    def put_bench(self, i0: int, vectors: dict) -> None:
        """Items ``i0, i0 + 1, ...``: ``vectors`` ``{layer: (mean [k, d], last [k, d])}``."""
        for ln in self.layers:
            mean, last = vectors[ln]
            self.ds["bench", ln, "mean"][i0:i0 + len(mean)] = self._cast(mean)
            self.ds["bench", ln, "last"][i0:i0 + len(last)] = self._cast(last)

    def end_bench(self, n_tokens, truncated) -> None:
        self.h5["bench"].create_dataset("n_tokens", data=np.asarray(n_tokens, dtype=np.int32))
        self.h5["bench"].create_dataset("truncated", data=np.asarray(truncated, dtype=bool))

    # ------------------------------------------------------------------ root attributes
    def write_attributes(self, attrs: dict) -> None:
        """The root attributes: exactly :data:`ROOT_ATTRIBUTES`, in that order."""
        if tuple(attrs) != ROOT_ATTRIBUTES:
            raise ValueError(f"root attributes {list(attrs)} are not the contract's {list(ROOT_ATTRIBUTES)}")
        for k, v in attrs.items():
            self.h5.attrs[k] = v
