"""Student stage end to end without Snakemake: train -> evaluate (success check, Phase 0
retrieval + probes per checkpoint) -> Experiment 1.1/1.2 report, on synthetic inputs that
follow the README data contract."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_student import TINY  # noqa: E402


def _tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    texts = ["def add(a, b):\n    return a + b\n", "for i in range(10):\n    total += i\n",
             "while x < 3:\n    x = x + 1\n"] * 20
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=60, special_tokens=["[UNK]", "[PAD]"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]")


def _inputs(tmp_path, n_windows=48):
    from swejepa.student.data import write_synthetic_latents

    h5 = write_synthetic_latents(tmp_path / "shard0of1.h5", n_windows=n_windows, vocab=300)
    rng = np.random.default_rng(0)
    regions = pd.DataFrame({"region_id": np.arange(n_windows), "file_id": np.arange(n_windows), "func_key": [f"{w}:1" for w in range(n_windows)],
                            "package": [f"pkg{w % 4}" for w in range(n_windows)]})
    regions.to_csv(tmp_path / "ast.csv", index=False)
    props = pd.DataFrame({"func_key": regions["func_key"], "cyclomatic": rng.integers(1, 6, n_windows),
                          "n_branches": rng.integers(0, 4, n_windows), "n_loops": rng.integers(0, 3, n_windows),
                          "return_category": rng.choice(["none", "primitive"], n_windows),
                          "side_effects": rng.choice([True, False], n_windows),
                          "n_external_calls": rng.integers(0, 5, n_windows), "loc": rng.integers(2, 30, n_windows)})
    props.to_csv(tmp_path / "properties.csv", index=False)
    items = []
    bodies = ["return a + b", "total = 0\n    for i in range(a):\n        total += i\n    return total",
              "x = a\n    while x < b:\n        x = x + 1\n    return x"]
    for g, body in enumerate(bodies):
        for role, txt in (("original", body), ("rewrite", body.replace("a", "p")),
                          ("spec", "sum things")):
            text = f"def f(a, b):\n    {txt}\n"
            items.append({"item_id": len(items), "group_id": g, "role": role, "origin": "heldout",
                          "transform": "rename", "text": text, "span_start_char": 13, "span_end_char": len(text)})
    with open(tmp_path / "items.jsonl", "w") as fh:
        for it in items:
            fh.write(json.dumps(it) + "\n")
    return h5


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["main"])
def test_train_evaluate_report(tmp_path, variant):
    import logging

    from swejepa.student.data import load_student_data
    from swejepa.student.report import build_report
    from swejepa.layout import Layout
    from swejepa.student.jobs import evaluate_student
    from swejepa.student.train import train_student

    torch.set_num_threads(1)
    h5 = _inputs(tmp_path)
    from swejepa.settings import (ProbeSettings, RetrievalSettings, StudentEval, StudentSettings,
                                  TeacherSpec)

    cfg = StudentSettings.from_dict(TINY).with_overrides({"train": {"max_steps": 8, "ckpt_every": 2, "eval_every": 2}})
    d = load_student_data([h5], "ast", "last")
    out = tmp_path / "students" / "syn" / variant
    train_student(cfg, d, out)
    log = logging.getLogger("t")
    succ = evaluate_student(student=cfg, evaluation=StudentEval(n_candidates=5, probe_max_samples=40),
                            probes=ProbeSettings(folds=2, inner_folds=2), retrieval=RetrievalSettings(),
                            latents=[h5], final=out / "final.pt", ckpt_dir=out / "ckpts",
                            all_checkpoints=True, bench_items=tmp_path / "items.jsonl",
                            regions_csv=tmp_path / "ast.csv", properties_csv=tmp_path / "properties.csv",
                            teacher=TeacherSpec(name="syn", source="hf", model="unused"), teacher_index=0,
                            layout=Layout(str(tmp_path)), seed=0, out_success=out / "success.json",
                            out_checkpoints=out / "checkpoints.csv", log=log, tokenizer=_tokenizer())
    assert {"token_ratio", "token_top1", "region_top1", "std_ratio"} <= set(succ)
    ck = pd.read_csv(out / "checkpoints.csv")
    assert list(ck["step"]) == [0, 2, 4, 6, 8]
    for col in ("val_loss", "refactor_mrr", "spec_mrr", "probe_cyclomatic_r2", "probe_side_effects_acc",
                "probe_loc_sel", "probe_selectivity"):
        assert col in ck.columns and ck[col].notna().all(), col
    assert ck["val_loss"].iloc[-1] < ck["val_loss"].iloc[0]

    res = tmp_path / "r"
    outs = {"summary": res / "summary.csv", "correlation": res / "correlation.csv", "points": res / "points.csv",
            "table11": res / "exp11_student.tex", "table12": res / "exp12_correlation.tex",
            "figure11": res / "exp11_loss.pdf", "figure12": res / "exp12_correlation.pdf",
            "macros": res / "student.tex"}
    res.mkdir()
    mac = build_report([("syn", variant)], [out / "metrics.csv"], [out / "summary.json"], [out / "success.json"],
                       [out / "checkpoints.csv"], {"positions": "abs", "context": "signature",
                                                   "predictor": "transformer"}, "syn", outs)
    for k, p in outs.items():
        assert Path(p).exists(), k
    assert Path(res / "exp11_loss.png").exists() and Path(res / "exp12_correlation.png").exists()
    t12 = (res / "exp12_correlation.tex").read_text()
    assert "\\toprule" in t12 and "refactor MRR" in t12
    corr = pd.read_csv(res / "correlation.csv")
    assert set(corr["metric"]) >= {"refactor_mrr", "probe_cyclomatic_r2"}
    assert "StudentCorrVerdict" in mac and "\\newcommand{\\StudentSynValLoss}" in (res / "student.tex").read_text()
    # 8 steps, checkpoints every 2: 4 after step 0 < verdicts.min_checkpoints
    assert mac["StudentCorrVerdict"] == "underpowered" and mac["StudentCorrCriterionMet"] is False
