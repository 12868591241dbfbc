#!/usr/bin/env python
"""Rehearsal of the cluster teachers at their real shapes, on this CPU (issue #18, part 4).

Stages (``--stage``, default all, in this order; results accumulate in WORK/rehearsal.json):

* ``build``    Qwen2.5-Coder-3B's architecture (the shipped planning config.json) with random
               weights (``from_config``, seeded), saved in bf16 as a local ``hf`` directory
               (~6.2 GB), with a byte-level BPE standing in for the Qwen tokenizer (not
               available offline: ids stay below 32768 of the 151,936-row embedding);
* ``extract``  the REAL extraction rule: ``snakemake ... results/latents/coder3b/shard0of1.h5``
               with an overlay config (the local dir as an ``hf`` teacher, ``dtype: bfloat16``,
               the cluster's window 2048 and layer grid, a few files, a small benchmark);
* ``check``    the HDF5 contract (datasets, attributes), the layer indices of a 36-layer model,
               bf16 compute, no non-finite stored value, max |x| per grid layer as stored;
* ``hidden``   max |h| per layer (all 37 hidden states) recomputed on the stored windows in
               bf16, and the storage dtype :func:`swejepa.storage.storage_dtype` chooses;
               peak RSS per token of a forward at 1 and 2 windows (fresh processes) against
               the planner's per-token estimate;
* ``meta``     memory accounting on PyTorch's meta device (no weights) for the 3B, 7B and 8B
               shapes: parameter bytes, hidden states kept, and the peak of live tensors of an
               extraction forward, against the planner;
* ``finetune`` a few optimizer steps of the Experiment 2.2 fine-tuning path
               (``swejepa.teachers.train.train_fim``, gradient checkpointing) at the 3B width
               and vocabulary on a slice of its depth that fits this machine; peak RSS per
               token against the planner's ``train_memory``.

  python scripts/benchmarks/bench_rehearsal.py --work /tmp/rehearsal            # everything
  python scripts/benchmarks/bench_rehearsal.py --work /tmp/rehearsal --stage meta
  python scripts/benchmarks/bench_rehearsal.py --work /tmp/rehearsal --clean    # delete the 6 GB dir

Random weights do not reproduce the massive activations of the trained Qwen models: the
max |h| measured here checks the code path and the dtype logic, not Qwen's magnitudes.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

MODEL_ID = "Qwen/Qwen2.5-Coder-3B"
TEACHER = "coder3b"
EXPECTED_LAYERS = {"first": 1, "quarter": 9, "half": 18, "three_quarter": 27, "last": 36}
GB = 1e9


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def load_results(work: Path) -> dict:
    p = work / "rehearsal.json"
    return json.loads(p.read_text()) if p.exists() else {}


def save_results(work: Path, res: dict) -> None:
    (work / "rehearsal.json").write_text(json.dumps(res, indent=1, default=str) + "\n")


def vm_hwm_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_child(code: str, timeout: int = 3600) -> dict:
    """Run ``code`` in a fresh interpreter (its own peak RSS); it prints one JSON line last."""
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"child failed ({r.returncode}):\n{r.stderr[-4000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------ build
def stage_build(work: Path, res: dict, seed: int) -> None:
    model_dir = work / "coder3b-random"
    if (model_dir / "config.json").exists() and any(model_dir.glob("*.safetensors")):
        log(f"build: {model_dir} exists")
        return
    code = f"""
import json, sys, time, torch
from pathlib import Path
from transformers import AutoConfig, AutoModelForCausalLM
sys.path.insert(0, {str(REPO)!r})
from swejepa.plan.arch import shipped_config_path
from swejepa.teachers.tokenizer import train_bpe_tokenizer
import sysconfig
out = Path({str(model_dir)!r}); out.mkdir(parents=True, exist_ok=True)
root = Path(sysconfig.get_paths()["stdlib"])
texts, n = [], 0
for p in sorted(root.rglob("*.py")):
    if "site-packages" in p.parts or "test" in p.parts or "tests" in p.parts:
        continue
    try:
        t = p.read_text()
    except Exception:
        continue
    texts.append(t); n += len(t)
    if n > 4_000_000:
        break
t0 = time.time()
tok = train_bpe_tokenizer(texts, 32768, 2)
tok.save_pretrained(out)
cfg = AutoConfig.for_model(**json.loads(shipped_config_path({MODEL_ID!r}).read_text()))
cfg.pad_token_id = tok.pad_token_id
torch.manual_seed({seed})
t1 = time.time()
model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)
n_params = sum(p.numel() for p in model.parameters())
model.save_pretrained(out, safe_serialization=True)
print(json.dumps({{"n_params": n_params, "tokenizer_vocab": len(tok), "tokenizer_s": t1 - t0,
                  "init_save_s": time.time() - t1, "model_vocab": cfg.vocab_size,
                  "tied": bool(cfg.tie_word_embeddings)}}))
"""
    log("build: random-init Qwen2.5-Coder-3B shape in bf16 + stand-in BPE tokenizer ...")
    info = run_child(code)
    size = sum(p.stat().st_size for p in model_dir.glob("*.safetensors"))
    info["weights_gb_on_disk"] = size / GB
    res["build"] = info
    log(f"build: {info}")


# ------------------------------------------------------------------------------ extract
def overlay(work: Path, max_files: int, batch_tokens: int) -> Path:
    import yaml

    cluster = yaml.safe_load((REPO / "config" / "cluster.yaml").read_text())
    cfg = {
        "corpus": {"name": "rehearsal", "source": "stdlib"},
        "teachers": [{"name": TEACHER, "source": "hf", "model": str(work / "coder3b-random"), "dtype": "bfloat16"}],
        "extract": {"window": cluster["extract"]["window"], "max_files": max_files, "batch_tokens": batch_tokens,
                    "block_windows": 16, "token_max_regions": 200, "n_shards": 1, "threads": 2, "mem_mb": 20000},
        "retrieval": {"bench": {"heldout_functions": 4, "distractors": 4, "humaneval_problems": 4}},
        "paper": {"pdf": False},
    }
    if "grid" in cluster:
        cfg["grid"] = cluster["grid"]
    p = work / "overlay.yaml"
    p.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return p


def stage_extract(work: Path, res: dict, max_files: int, batch_tokens: int) -> None:
    ov = overlay(work, max_files, batch_tokens)
    h5 = work / "results" / "latents" / TEACHER / "shard0of1.h5"
    cmd = ["snakemake", "-s", str(REPO / "Snakefile"), "-d", str(work), "-c2", "--configfile",
           str(REPO / "config.yaml"), str(ov), "--", str(h5.relative_to(work))]
    log("extract: " + " ".join(cmd))
    t0 = time.time()
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run(cmd, cwd=work, capture_output=True, text=True, env=env, timeout=4 * 3600)
    (work / "snakemake_extract.log").write_text(r.stdout + r.stderr)
    if r.returncode != 0:
        raise RuntimeError(f"snakemake failed, see {work}/snakemake_extract.log:\n{(r.stdout + r.stderr)[-3000:]}")
    bench = work / "results" / "benchmarks" / "extract" / TEACHER / "shard0of1.tsv"
    import csv

    row = next(csv.DictReader(open(bench), delimiter="\t"))
    report = json.loads((work / "results" / "latents" / TEACHER / "report_shard0of1.json").read_text())
    res["extract"] = {"wall_s": time.time() - t0, "job_s": float(row["s"]), "max_rss_mb": float(row["max_rss"]),
                      "tokens_forward": report["tokens_forward"], "tokens_padded": report["tokens_padded"],
                      "n_windows": report["n_windows"], "corpus_tokens": report["corpus_tokens"],
                      "batch_tokens": batch_tokens, "forward_tokens_per_s": report.get("forward_tokens_per_s"),
                      "compute_dtype": report.get("compute_dtype"), "n_files": report.get("n_selected_files"),
                      "overlay": str(ov)}
    log(f"extract: {res['extract']}")


# ------------------------------------------------------------------------------ check
CONTRACT_ATTRS = ["teacher", "source", "model", "revision", "n_layers", "hidden_size", "layer_indices", "dtype",
                  "tokenizer", "corpus_manifest_sha256", "code_version", "shard", "n_shards", "compute_dtype",
                  "precision_check", "window", "is_causal", "masks", "seed", "max_files", "token_max_regions"]


def stage_check(work: Path, res: dict) -> None:
    import h5py
    import numpy as np

    from swejepa.settings import LAYER_NAMES

    h5 = work / "results" / "latents" / TEACHER / "shard0of1.h5"
    problems, stored = [], {}
    with h5py.File(h5, "r") as f:
        a = dict(f.attrs)
        missing = [k for k in CONTRACT_ATTRS if k not in a]
        if missing:
            problems.append(f"missing root attributes {missing}")
        li = json.loads(a["layer_indices"])
        if li != EXPECTED_LAYERS:
            problems.append(f"layer_indices {li} != {EXPECTED_LAYERS}")
        if int(a["n_layers"]) != 36 or int(a["hidden_size"]) != 2048:
            problems.append(f"n_layers/hidden_size {a['n_layers']}/{a['hidden_size']}")
        if str(a["compute_dtype"]) != "bfloat16":
            problems.append(f"compute_dtype {a['compute_dtype']}")
        if int(a["window"]) != 2048:
            problems.append(f"window {a['window']}")
        masks = json.loads(a["masks"]) if isinstance(a["masks"], str) else list(a["masks"])
        for m in masks:
            g = f[m]
            for ds in ("region_index", "n_tokens", "n_tokens_full", "truncated"):
                if ds not in g:
                    problems.append(f"/{m}/{ds} missing")
            for ln in LAYER_NAMES:
                for pool in ("mean", "last"):
                    d = g.get(f"{ln}/{pool}")
                    if d is None:
                        problems.append(f"/{m}/{ln}/{pool} missing")
                        continue
                    if d.dtype != np.float16 or d.shape[1] != 2048:
                        problems.append(f"/{m}/{ln}/{pool} {d.dtype} {d.shape}")
                    x = d[...].astype(np.float32)
                    if not np.isfinite(x).all():
                        problems.append(f"/{m}/{ln}/{pool} holds non-finite values")
                    stored[f"{m}/{ln}/{pool}"] = float(np.abs(x[np.isfinite(x)]).max()) if x.size else 0.0
            t = g["tokens"]
            for ds in ("region_sel", "offsets", "window", "pos_start", "ctx_start", *LAYER_NAMES):
                if ds not in t:
                    problems.append(f"/{m}/tokens/{ds} missing")
            for ln in LAYER_NAMES:
                x = t[ln][...].astype(np.float32)
                if not np.isfinite(x).all():
                    problems.append(f"/{m}/tokens/{ln} holds non-finite values")
                stored[f"{m}/tokens/{ln}"] = float(np.abs(x[np.isfinite(x)]).max()) if x.size else 0.0
        w = f["windows/input_ids"]
        if w.shape[1] != 2048:
            problems.append(f"/windows/input_ids {w.shape}")
        for ds in ("length", "file_id", "split"):
            if f"windows/{ds}" not in f:
                problems.append(f"/windows/{ds} missing")
        if "bench" not in f:
            problems.append("/bench missing")
        n_windows = int(w.shape[0])
    # keys: "{mask}/{layer}/{pool}" (pooled) and "{mask}/tokens/{layer}" (per token); match the
    # layer by position: a pool is also called "last" ("half/last" is not the last layer)
    def layer_of(k: str) -> str:
        parts = k.split("/")
        return parts[2] if parts[1] == "tokens" else parts[1]

    per_layer = {ln: max(v for k, v in stored.items() if layer_of(k) == ln) for ln in LAYER_NAMES}
    res["check"] = {"problems": problems, "ok": not problems, "layer_indices": li, "n_windows": n_windows,
                    "stored_max_abs_per_layer": per_layer, "attrs": {k: str(a[k])[:200] for k in CONTRACT_ATTRS if k in a}}
    log(f"check: {'OK' if not problems else problems}; stored max |x| per grid layer {per_layer}")


# ------------------------------------------------------------------------------ hidden
def stage_hidden(work: Path, res: dict) -> None:
    from swejepa.settings import LAYER_NAMES
    from swejepa.storage import storage_dtype

    model_dir = work / "coder3b-random"
    h5 = work / "results" / "latents" / TEACHER / "shard0of1.h5"
    code = f"""
import json, torch, h5py, numpy as np
from transformers import AutoModel
torch.set_num_threads(2)
m = AutoModel.from_pretrained({str(model_dir)!r}, dtype=torch.bfloat16).eval()
with h5py.File({str(h5)!r}, "r") as f:
    ids = f["windows/input_ids"][...]; lens = f["windows/length"][...]
order = np.argsort(-lens)[:4]
mx = [0.0] * (m.config.num_hidden_layers + 1)
top = [None] * len(mx)
with torch.no_grad():
    for w in order:
        x = torch.tensor(ids[w:w + 1, :int(lens[w])].astype(np.int64))
        hs = m(input_ids=x, output_hidden_states=True).hidden_states
        for i, h in enumerate(hs):
            a = h.float().abs()
            v = float(a.max())
            if v > mx[i]:
                mx[i] = v
                top[i] = int(a.reshape(-1, a.shape[-1]).max(0).values.argmax())
print(json.dumps({{"max_abs": mx, "argmax_dim": top, "windows": [int(lens[w]) for w in order],
                  "all_finite": all(np.isfinite(mx))}}))
"""
    log("hidden: recomputing every hidden state (bf16) on the 4 longest stored windows ...")
    h = run_child(code)
    from swejepa.teachers.registry import layer_indices

    li = layer_indices(36)
    grid = {ln: h["max_abs"][li[ln]] for ln in LAYER_NAMES}
    dtype, reason = storage_dtype(grid, "float16")
    res["hidden"] = {**h, "grid_max_abs": grid, "storage_dtype": dtype, "storage_reason": reason}
    log(f"hidden: grid max |h| {grid}; storage {dtype}: {reason}")

    # peak RSS per token of an extraction-style forward (output_hidden_states), 1 vs 2 windows
    def peak(n_windows: int) -> dict:
        code = f"""
import json, torch, numpy as np
from transformers import AutoModel
torch.set_num_threads(2)
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
m = AutoModel.from_pretrained({str(model_dir)!r}, dtype=torch.bfloat16).eval()
base = hwm()
x = torch.randint(0, 32000, ({n_windows}, 2048))
with torch.no_grad():
    hs = m(input_ids=x, attention_mask=torch.ones_like(x), output_hidden_states=True).hidden_states
print(json.dumps({{"after_load_mb": base, "peak_mb": hwm(), "n_hidden": len(hs)}}))
"""
        return run_child(code)

    p1, p2 = peak(1), peak(2)
    slope = (p2["peak_mb"] - p1["peak_mb"]) * 2 ** 20 / 2048
    from swejepa.plan.memory import forward_memory

    est = forward_memory(n_params=0, weight_bytes=2, n_layers=36, hidden=2048, intermediate=11008, kv_dim=256,
                         tokens=1, keep_hidden=True, act_bytes=2, q_dim=2048)
    res["hidden"]["rss_per_token"] = {"one_window": p1, "two_windows": p2, "measured_bytes_per_token": slope,
                                      "planned_bytes_per_token": est["total"],
                                      "planned_components": {k: v for k, v in est.items() if v}}
    log(f"hidden: peak RSS per token {slope:,.0f} B measured vs {est['total']:,.0f} B planned")


# ------------------------------------------------------------------------------ meta
class LiveBytes:
    """A TorchDispatchMode counting the bytes of live tensors created by ops (views excluded),
    and their peak: memory accounting without allocating (meta device)."""

    def __init__(self):
        import weakref

        from torch.utils._python_dispatch import TorchDispatchMode

        counter = self

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                aliases = [r.alias_info is not None for r in func._schema.returns]
                outs = out if isinstance(out, (tuple, list)) else [out]
                import torch

                for i, t in enumerate(outs):
                    if isinstance(t, torch.Tensor) and not (i < len(aliases) and aliases[i]):
                        n = t.numel() * t.element_size()
                        counter.live += n
                        counter.peak = max(counter.peak, counter.live)
                        weakref.finalize(t, counter._free, n)
                return out

        self.live = 0
        self.peak = 0
        self.mode = Mode()

    def _free(self, n):
        self.live -= n


def stage_meta(work: Path, res: dict, tokens: int) -> None:
    import torch
    from transformers import AutoConfig, AutoModel

    from swejepa.plan.arch import arch_from_config, shipped_config_path
    from swejepa.plan.memory import forward_memory

    out = {}
    for mid in ("Qwen/Qwen2.5-Coder-3B", "Qwen/Qwen2.5-Coder-7B", "Qwen/Qwen3-8B"):
        cfgd = json.loads(shipped_config_path(mid).read_text())
        a = arch_from_config(cfgd)
        cfg = AutoConfig.for_model(**cfgd)
        with torch.device("meta"):
            m = AutoModel.from_config(cfg, dtype=torch.bfloat16).eval()
        wbytes = sum(p.numel() * p.element_size() for p in m.parameters())
        b = max(1, tokens // 2048)
        x = torch.zeros((b, 2048), dtype=torch.long, device="meta")
        lb = LiveBytes()
        sdpa = torch.nn.functional.scaled_dot_product_attention

        def flash_like(q, k, v, *a, **kw):
            # meta has no fused kernel: its math fallback would materialise B x H x T x T fp32 scores,
            # which the CUDA (and CPU) flash / memory-efficient kernels never do. Account the output only.
            return q.new_empty((*q.shape[:-1], v.shape[-1]))

        torch.nn.functional.scaled_dot_product_attention = flash_like
        with torch.no_grad(), lb.mode:
            # no attention mask (full windows): the padding-mask check calls .item(), which meta cannot
            hs = m(input_ids=x, output_hidden_states=True).hidden_states
            kept = sum(h.numel() * h.element_size() for h in hs)
        torch.nn.functional.scaled_dot_product_attention = sdpa
        plan = forward_memory(n_params=a.n_params_base, weight_bytes=2, n_layers=a.n_layers, hidden=a.hidden,
                              intermediate=a.intermediate, kv_dim=a.kv_dim, tokens=b * 2048, keep_hidden=True,
                              q_dim=a.q_dim, qk_norm=a.qk_norm)
        out[mid] = {"params": sum(p.numel() for p in m.parameters()), "weights_gb": wbytes / GB,
                    "hidden_states_kept": len(hs), "hidden_gb": kept / GB, "live_peak_gb": lb.peak / GB,
                    "meta_peak_total_gb": (wbytes + lb.peak) / GB, "tokens": b * 2048,
                    "plan_weights_gb": plan["weights"] / GB, "plan_hidden_gb": plan["hidden_states"] / GB,
                    "plan_activations_gb": plan["activations"] / GB, "plan_total_gb": plan["total"] / GB}
        log(f"meta {mid}: {out[mid]}")
        del m
    res["meta"] = out


# ------------------------------------------------------------------------------ finetune
def stage_finetune(work: Path, res: dict, layers: int, seq_len: int, steps: int) -> None:
    files = work / "results" / "corpus" / "rehearsal" / "files.jsonl"
    regions = work / "results" / "masks" / "rehearsal" / "ast.csv"
    tokdir = work / "coder3b-random"
    code = f"""
import json, sys, time, torch
sys.path.insert(0, {str(REPO)!r})
import pandas as pd
from transformers import AutoConfig, AutoModelForCausalLM
from swejepa.plan.arch import shipped_config_path
from swejepa.corpus import read_files
from swejepa.settings import TrainingSpec
from swejepa.teachers.registry import load_tokenizer_from_dir
from swejepa.teachers.tokenizer import add_fim_tokens
from swejepa.teachers.train import prepare_fim_data, train_fim
torch.set_num_threads(2)
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
cfgd = json.loads(shipped_config_path("Qwen/Qwen2.5-Coder-3B").read_text())
cfgd["num_hidden_layers"] = {layers}; cfgd["max_window_layers"] = {layers}
cfg = AutoConfig.for_model(**cfgd); cfg.use_cache = False
tok = load_tokenizer_from_dir({str(tokdir)!r})
torch.manual_seed(0)
model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)   # fp32 master weights, as load_causal_lm
add_fim_tokens(tok, model)
n_params = sum(p.numel() for p in model.parameters())
recs = [r for r in read_files({str(files)!r}) if r["split"] == "train"]
data = prepare_fim_data(recs, tok, pd.read_csv({str(regions)!r}))
tr = TrainingSpec(steps={steps}, batch_size=1, seq_len={seq_len}, lr=2e-5, warmup=1, weight_decay=0.0,
                  checkpoint_every=0, log_every=1, dtype="auto", device="cpu", gradient_checkpointing=True)
base = rss(); base_hwm = hwm()
t0 = time.time()
rows, info = train_fim(model, data, tok, tr, seed=0, steps={steps}, device="cpu")
print(json.dumps({{"n_params": n_params, "layers": {layers}, "seq_len": {seq_len}, "steps": info["steps"],
                  "dtype": info["dtype"], "loss": [r["loss"] for r in rows], "wall_s": time.time() - t0,
                  "rss_before_mb": base, "hwm_before_mb": base_hwm, "peak_mb": hwm(),
                  "gradient_checkpointing": True}}))
"""
    log(f"finetune: {steps} steps, {layers} layers x 2048 wide, vocab 151936, seq {seq_len}, checkpointing ...")
    ft = run_child(code, timeout=4 * 3600)
    from swejepa.plan.memory import train_memory

    est = train_memory(n_params=ft["n_params"], n_layers=layers, hidden=2048, intermediate=11008, kv_dim=256,
                       gated=True, tokens=seq_len, vocab_tokens=seq_len, vocab=151936, checkpointing=True,
                       master_bytes=4, autocast=ft["dtype"] == "bfloat16")
    static = ft["n_params"] * 4  # the fp32 weights, resident before the run
    dynamic = (ft["peak_mb"] - ft["rss_before_mb"]) * 2 ** 20
    plan_dynamic = est["total"] - static
    ft["plan"] = {k: v / GB for k, v in est.items()}
    ft["measured_step_peak_gb"] = dynamic / GB
    ft["planned_step_peak_gb"] = plan_dynamic / GB
    ft["ratio_measured_to_plan"] = dynamic / plan_dynamic
    res["finetune"] = ft
    log(f"finetune: peak above the loaded model {dynamic / GB:.2f} GB measured vs {plan_dynamic / GB:.2f} GB planned "
        f"(grads + AdamW + autocast cache + activations + logits); loss {ft['loss']}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="/tmp/rehearsal")
    ap.add_argument("--stage", nargs="*", default=["build", "extract", "check", "hidden", "meta", "finetune"])
    ap.add_argument("--max-files", type=int, default=3)
    ap.add_argument("--batch-tokens", type=int, default=4096, help="extract.batch_tokens of the rehearsal (the "
                    "cluster's 65536 does not fit 24 GB beside the others; memory is compared per token)")
    ap.add_argument("--meta-tokens", type=int, default=65536, help="tokens of the meta-device forward (cluster batch)")
    ap.add_argument("--ft-layers", type=int, default=4)
    ap.add_argument("--ft-seq", type=int, default=1024)
    ap.add_argument("--ft-steps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--clean", action="store_true", help="delete the model directory and the results")
    args = ap.parse_args(argv)
    work = Path(args.work)
    if args.clean:
        shutil.rmtree(work / "coder3b-random", ignore_errors=True)
        shutil.rmtree(work / "results" / "latents", ignore_errors=True)
        log(f"removed {work}/coder3b-random and its latents")
        return 0
    work.mkdir(parents=True, exist_ok=True)
    res = load_results(work)
    res.setdefault("meta_info", {})["date"] = time.strftime("%Y-%m-%d")
    try:
        res["meta_info"]["commit"] = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                                    capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    stages = {"build": lambda: stage_build(work, res, args.seed),
              "extract": lambda: stage_extract(work, res, args.max_files, args.batch_tokens),
              "check": lambda: stage_check(work, res), "hidden": lambda: stage_hidden(work, res),
              "meta": lambda: stage_meta(work, res, args.meta_tokens),
              "finetune": lambda: stage_finetune(work, res, args.ft_layers, args.ft_seq, args.ft_steps)}
    for st in args.stage:
        stages[st]()
        if isinstance(res.get(st), dict):   # stages accumulate over invocations: each says when it ran
            res[st]["ran"] = {"date": res["meta_info"]["date"], "commit": res["meta_info"].get("commit")}
        save_results(work, res)
    print(json.dumps({k: v for k, v in res.items()}, indent=1, default=str))
    return 0 if res.get("check", {}).get("ok", True) else 1


if __name__ == "__main__":
    sys.exit(main())
