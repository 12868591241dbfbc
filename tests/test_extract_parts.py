"""The parts of extraction alone: the HDF5 writer (schema of the README's data contract),
pooling against a direct computation, batching, the forward over length buckets, the
block buffers, and what code_version hashes."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
h5py = pytest.importorskip("h5py")

from swejepa.extract import Forward, LatentWriter, to_batch  # noqa: E402
from swejepa.extract.blocks import Block, BlockBuffers, write_block  # noqa: E402
from swejepa.extract.pooling import pool_spans  # noqa: E402
from swejepa.extract.report import hashed_sources  # noqa: E402
from swejepa.extract.writer import ROOT_ATTRIBUTES  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["first", "last"]
D, W = 4, 8


def contract_datasets(masks, layers):
    """Every dataset of latents/{teacher}/shard{i}of{n}.h5 (README "Data layout"): name -> dtype."""
    out = {}
    for m in masks:
        out.update({f"{m}/region_index": "int64", f"{m}/n_tokens": "int32", f"{m}/n_tokens_full": "int32",
                    f"{m}/truncated": "bool", f"{m}/tokens/region_sel": "int64", f"{m}/tokens/offsets": "int64",
                    f"{m}/tokens/window": "int32", f"{m}/tokens/pos_start": "int32",
                    f"{m}/tokens/ctx_start": "int32", f"{m}/window": "int32", f"{m}/pos_start": "int32",
                    f"{m}/ctx_start": "int32"})
        for ln in layers:
            out.update({f"{m}/{ln}/mean": "float16", f"{m}/{ln}/last": "float16", f"{m}/tokens/{ln}": "float16"})
    out.update({"windows/input_ids": "int32", "windows/length": "int32", "windows/file_id": "int32",
                "windows/split": "|S5", "bench/item_id": "int64", "bench/n_tokens": "int32", "bench/truncated": "bool"})
    for ln in layers:
        out.update({f"bench/{ln}/mean": "float16", f"bench/{ln}/last": "float16"})
    return out


def vec(k, seed):
    return np.random.default_rng(seed).standard_normal((k, D)).astype(np.float16)


def write_synthetic_file(path):
    """Two masks, one block of 3 windows, two appends of per-token vectors, 2 bench items."""
    with LatentWriter.create(path, region_index={"ast": np.array([0, 1, 2, 5]), "regex": np.array([3])},
                             layers=LAYERS, hidden_size=D, window=W, pad_id=9) as w:
        assert not path.exists()  # written under a temporary name
        w.append_windows([[1, 2, 3], [4, 5, 6, 7, 8, 1, 2, 3], [7]], [(0, "train"), (0, "train"), (2, "val")])
        assert w.n_windows == 3
        w.put_regions("ast", np.array([0, 2, 3]), n_tokens=[2, 1, 0], n_tokens_full=[2, 5, 0],
                      truncated=[False, True, False], window=[0, 1, 2], pos_start=[1, 0, 0], ctx_start=[0, 0, 0],
                      vectors={ln: (vec(3, 1), vec(3, 2)) for ln in LAYERS})
        w.put_regions("ast", np.array([1]), n_tokens=[3], n_tokens_full=[3], truncated=[False], window=[1],
                      pos_start=[2], ctx_start=[1], vectors={ln: (vec(1, 3), vec(1, 4)) for ln in LAYERS})
        w.put_regions("regex", np.array([0]), n_tokens=[4], n_tokens_full=[4], truncated=[False], window=[1],
                      pos_start=[0], ctx_start=[0], vectors={ln: (vec(1, 5), vec(1, 6)) for ln in LAYERS})
        w.append_tokens("ast", region_sel=[0, 2], window=[0, 1], pos_start=[1, 0], ctx_start=[0, 0], lengths=[2, 1],
                        vectors={ln: vec(3, 7) for ln in LAYERS})
        w.append_tokens("ast", region_sel=[3], window=[2], pos_start=[0], ctx_start=[0], lengths=[4],
                        vectors={ln: vec(4, 8) for ln in LAYERS})
        w.begin_bench([10, 11])
        w.put_bench(0, {ln: (vec(2, 9), vec(2, 10)) for ln in LAYERS})
        w.end_bench([3, 0], [False, True])
        w.write_attributes({k: i for i, k in enumerate(ROOT_ATTRIBUTES)})


def test_writer_writes_every_dataset_of_the_contract(tmp_path):
    out = tmp_path / "shard0of1.h5"
    write_synthetic_file(out)
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # renamed, no temporary left
    with h5py.File(out) as h5:
        names = {}
        h5.visititems(lambda n, o: names.__setitem__(n, o.dtype.str if o.dtype.kind == "S" else str(o.dtype))
                      if isinstance(o, h5py.Dataset) else None)
        assert names == contract_datasets(["ast", "regex"], LAYERS)
        assert set(h5.attrs) == set(ROOT_ATTRIBUTES)
        assert h5["ast/region_index"][:].tolist() == [0, 1, 2, 5]
        assert h5["ast/n_tokens"][:].tolist() == [2, 3, 1, 0] and h5["ast/truncated"][:].tolist() == [0, 0, 1, 0]
        assert h5["ast/window"][:].tolist() == [0, 1, 1, 2] and h5["ast/pos_start"][:].tolist() == [1, 2, 0, 0]
        assert (h5["ast/last/mean"][[0, 2, 3]] == vec(3, 1)).all() and (h5["ast/last/mean"][1] == vec(1, 3)).all()
        assert h5["ast/first/mean"].chunks == (4, D) and h5["ast/first/mean"].shape == (4, D)
        assert h5["ast/tokens/offsets"][:].tolist() == [0, 2, 3, 7]  # continued across appends
        assert (h5["ast/tokens/first"][3:] == vec(4, 8)).all()
        assert h5["regex/tokens/offsets"][:].tolist() == [0] and h5["regex/tokens/first"].shape == (0, D)
        assert h5["windows/input_ids"][0].tolist() == [1, 2, 3, 9, 9, 9, 9, 9]  # padded with pad_id
        assert h5["windows/length"][:].tolist() == [3, 8, 1] and h5["windows/split"][2] == b"val"
        assert h5["bench/item_id"][:].tolist() == [10, 11] and (h5["bench/last/last"][:] == vec(2, 10)).all()


def test_writer_leaves_nothing_when_interrupted(tmp_path):
    out = tmp_path / "shard0of1.h5"
    with pytest.raises(KeyboardInterrupt):
        with LatentWriter.create(out, region_index={"ast": np.arange(2)}, layers=LAYERS, hidden_size=D, window=W,
                                 pad_id=0) as w:
            w.append_windows([[1, 2]], [(0, "train")])
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_writer_refuses_attributes_that_are_not_the_contract(tmp_path):
    attrs = {k: 0 for k in ROOT_ATTRIBUTES if k != "code_version"}
    with pytest.raises(ValueError, match="code_version"):
        with LatentWriter.create(tmp_path / "x.h5", region_index={}, layers=LAYERS, hidden_size=D, window=W,
                                 pad_id=0) as w:
            w.write_attributes(attrs)


def test_pooling_matches_a_direct_computation():
    g = torch.Generator().manual_seed(0)
    hs = tuple(torch.randn(3, 10, D, generator=g) for _ in range(3))
    spans = [(0, 0, 4), (0, 3, 10), (1, 5, 6), (2, 7, 7), (2, 2, 9)]  # (row, p0, p1); (2, 7, 7) is empty
    pooled = pool_spans(hs, [0, 2], [r for r, _, _ in spans], [a for _, a, _ in spans], [b for _, _, b in spans],
                        "cpu")
    assert sorted(pooled) == [0, 2]
    for li in (0, 2):
        p = pooled[li]
        # float32: the block buffers cast to the storage dtype (float16: as torch's .half())
        assert p.mean.dtype == np.float32 and p.mean.shape == (len(spans), D)
        assert np.array_equal(p.mean.astype(np.float16), torch.from_numpy(p.mean).half().numpy())
        assert torch.equal(p.hidden, hs[li])
        for j, (r, a, b) in enumerate(spans):
            if b == a:
                assert not p.mean[j].any() and not p.last[j].any()
                continue
            want = hs[li][r, a:b]
            np.testing.assert_allclose(p.mean[j], want.mean(0).numpy(), atol=2e-3)
            np.testing.assert_array_equal(p.last[j], want[-1].numpy())


def test_batches_round_lengths_to_16_within_the_window():
    b = to_batch([[5, 6, 7], [1] * 17], pad_id=0, width=40, device="cpu")
    assert b["input_ids"].shape == (2, 32)
    assert b["attention_mask"].sum(1).tolist() == [3, 17] and b["input_ids"][0, :4].tolist() == [5, 6, 7, 0]
    assert to_batch([[1] * 39], pad_id=0, width=40, device="cpu")["input_ids"].shape == (1, 40)
    assert to_batch([[1] * 20], pad_id=0, width=24, device="cpu")["input_ids"].shape == (1, 24)


class IdModel:
    """hidden_states[k] = k * token id (in every dimension): pooled means are id means."""

    def __call__(self, input_ids, attention_mask, output_hidden_states):
        x = input_ids.float()[..., None].expand(-1, -1, 2)
        return SimpleNamespace(hidden_states=tuple(k * x for k in range(3)))


def test_forward_pools_every_job_of_every_bucket():
    rows = [list(range(1, 1 + n)) for n in (5, 40, 12, 33, 7)]
    jobs = [[(("m", w), 1, len(r) - 1)] for w, r in enumerate(rows)]
    got = {}

    def sink(reqs, pooled):
        for j, (_, key, p0, p1) in enumerate(reqs):
            got[key] = (pooled[2].mean[j, 0], pooled[2].last[j, 0])

    fwd = Forward(IdModel(), device="cpu", bf16=False, pad_id=0, width=48, layers=[2], batch_tokens=64)
    fwd(rows, jobs, sink)
    for w, r in enumerate(rows):
        assert got["m", w] == (pytest.approx(2 * np.mean(r[1:-1]), rel=1e-3), 2 * r[-2])
    assert fwd.batches >= 3 and fwd.tokens_forward == sum(map(len, rows)) and fwd.tokens_padded >= fwd.tokens_forward


def test_block_buffers_put_each_batch_at_its_regions():
    block = Block(["ast"])
    block.rows = [[1, 2, 3, 4], [5, 6, 7]]
    block.files = [(0, "train"), (1, "val")]
    block.jobs = [[(("ast", 4), 0, 2), (("ast", 1), 2, 4)], [(("ast", 0), 1, 3)]]
    block.regions["ast"] = [(0, 2, 2, False, 1, 1, 0), (1, 2, 2, False, 0, 2, 0), (4, 2, 3, True, 0, 0, 0)]
    block.tokens["ast"] = {4: (0, 0, 0), 0: (1, 1, 0)}
    buf = BlockBuffers(block, [2], 2)
    Forward(IdModel(), device="cpu", bf16=False, pad_id=0, width=8, layers=[2], batch_tokens=4)(
        block.rows, block.jobs, buf.sink)
    assert buf.pooled["ast"][0, 0, :, 0].tolist() == [2 * 6.5, 2 * 3.5, 2 * 1.5]  # rows in position order
    assert buf.tokens["ast"][0, :, 0].tolist() == [2 * 6, 2 * 7, 2 * 1, 2 * 2]  # positions 0 then 4

    class Spy:
        def __init__(self):
            self.calls = []

        def put_regions(self, m, pos, **kw):
            self.calls.append(("put", m, pos.tolist(), kw["n_tokens"]))

        def append_tokens(self, m, **kw):
            self.calls.append(("tok", m, kw["region_sel"], kw["window"], kw["lengths"]))

    spy = Spy()
    write_block(spy, block, buf, {"last": 2})
    assert spy.calls == [("put", "ast", [0, 1, 4], [2, 2, 2]), ("tok", "ast", [0, 4], [1, 0], [2, 2])]


def test_code_version_hashes_the_whole_package_and_the_teachers():
    want = sorted([*(ROOT / "swejepa" / "extract").glob("*.py"), *(ROOT / "swejepa" / "teachers").glob("*.py")])
    assert hashed_sources() == want and len(want) > 10


def test_writer_stores_the_chosen_storage_dtype_and_never_inf(tmp_path):
    """Hidden states beyond fp16's range (Qwen's massive activations): storage_dtype picks
    bfloat16, the writer stores its bit pattern (attribute dtype=bfloat16), the readers get
    the values back as float32; float16 storage of the same values raises instead of writing inf."""
    from swejepa.phase0.grid import region_vectors, token_vectors
    from swejepa.storage import StorageOverflow, storage_dtype
    from swejepa.student.data import load_student_data

    big = np.zeros((2, D), np.float32)
    big[:, 0] = [1.0e5, -3.0e5]   # > 65504
    big[:, 1] = 0.5
    dtype, reason = storage_dtype({"first": 1.0, "last": float(np.abs(big).max())}, "float16")
    assert dtype == "bfloat16" and "last" in reason

    def write(path, storage):
        with LatentWriter.create(path, region_index={"ast": np.array([0, 1])}, layers=LAYERS, hidden_size=D,
                                 window=W, pad_id=0, storage=storage) as w:
            w.append_windows([[1, 2, 3], [4, 5]], [(0, "train"), (1, "train")])
            w.put_regions("ast", np.array([0, 1]), n_tokens=[1, 1], n_tokens_full=[1, 1], truncated=[False, False],
                          window=[0, 1], pos_start=[0, 0], ctx_start=[0, 0],
                          vectors={ln: (big, big) for ln in LAYERS})
            w.append_tokens("ast", region_sel=[0, 1], window=[0, 1], pos_start=[0, 0], ctx_start=[0, 0],
                            lengths=[1, 1], vectors={ln: big for ln in LAYERS})
            w.write_attributes({**{k: 0 for k in ROOT_ATTRIBUTES}, "dtype": storage, "storage_reason": reason,
                                "hidden_size": D})

    out = tmp_path / "bf16.h5"
    write(out, dtype)
    with h5py.File(out) as h5:
        assert h5["ast/last/mean"].dtype == np.uint16 and h5["ast/last/mean"].attrs["dtype"] == "bfloat16"
        assert h5.attrs["dtype"] == "bfloat16" and "exceeds" in h5.attrs["storage_reason"]
    _, vecs = region_vectors([out], "ast", "last", "mean")
    assert vecs.dtype == np.float32 and np.isfinite(vecs).all()
    np.testing.assert_allclose(vecs, big, rtol=2 ** -8)          # bf16: 8 significant bits
    np.testing.assert_allclose(token_vectors([out], "ast", "last", None), big, rtol=2 ** -8)
    data = load_student_data([out], "ast", "last")
    assert data.targets.dtype == np.float32 and np.isfinite(data.targets).all()
    with pytest.raises(StorageOverflow):
        write(tmp_path / "fp16.h5", "float16")
    assert not (tmp_path / "fp16.h5").exists()


def test_token_layers_store_only_the_listed_layers(tmp_path):
    """extract.token_layers: per-token vectors of the listed layers only; pooled vectors of all."""
    import h5py
    import numpy as np

    from swejepa.extract.writer import LatentWriter

    path = tmp_path / "x.h5"
    with LatentWriter.create(path, region_index={"ast": np.arange(2)}, layers=["first", "last"], hidden_size=4,
                             window=8, pad_id=0, token_layers=["last"]) as w:
        vec = {ln: np.ones((3, 4), np.float32) for ln in ("first", "last")}
        w.append_tokens("ast", region_sel=[0], window=[0], pos_start=[1], ctx_start=[0], lengths=[3], vectors=vec)
    with h5py.File(path, "r") as f:
        assert "last" in f["/ast/tokens"] and "first" not in f["/ast/tokens"]
        assert f["/ast/tokens/last"].shape == (3, 4)
        assert "mean" in f["/ast/first"] and "mean" in f["/ast/last"]


def test_token_layers_must_hold_the_student_target():
    import pytest

    from swejepa.settings import ConfigError, Settings

    with pytest.raises(ConfigError, match="extract.token_layers"):
        Settings.load("config.yaml", overrides={"extract": {"token_layers": ["first"]}})
