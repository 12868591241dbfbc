"""Stage 1: a tiny Qwen2-architecture causal LM trained with fill-in-the-middle.

Public entry points (also used by the compute-allocation experiment):

* :func:`build_model` — a ``Qwen2ForCausalLM`` from a teacher's :class:`~swejepa.settings.ArchSpec`
  (no download; seeded initial weights, identical for a ``train`` teacher and its
  ``random`` twin).
* :func:`prepare_fim_data` — tokenise the training split once (ids + region token spans).
* :func:`train_fim` — the training loop, for a number of optimizer steps *or* a FLOPs
  budget (``6 · n_params · tokens``); checkpoints to a resume directory and resumes
  from it; returns the metric rows and an info dict with the FLOPs actually spent.
* :func:`train_teacher` — all of the above from a :class:`~swejepa.settings.TeacherSpec`, saving with
  ``save_pretrained`` (model + tokenizer) so it reloads through the ``hf`` code path.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..settings import ArchSpec, TeacherSpec, TrainingSpec
from .fim import collate, sample_fim_example, token_span
from .tokenizer import sentinel_ids


def build_model(arch: ArchSpec, tokenizer, seed: int = 0):
    """A fresh ``Qwen2ForCausalLM`` (tied embeddings) sized by ``arch``; seeded init."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    ids = sentinel_ids(tokenizer)
    cfg = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=arch.hidden_size,
        num_hidden_layers=arch.layers,
        num_attention_heads=arch.heads,
        num_key_value_heads=arch.kv_heads,
        intermediate_size=arch.intermediate_size,
        max_position_embeddings=arch.context,
        tie_word_embeddings=True,
        attention_dropout=0.0,
        pad_token_id=ids["pad"],
        eos_token_id=ids["eos"],
        bos_token_id=ids["eos"],
        use_cache=False,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(cfg)
    return model


def n_params(model) -> int:
    return int(sum(p.numel() for p in model.parameters()))


# --------------------------------------------------------------------------- data
@dataclass
class FimData:
    ids: list[np.ndarray]            # per file: int32 token ids
    regions: list[np.ndarray]        # per file: int64 [k, 2] token spans of masked regions
    n_tokens: int = 0
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self):
        lens = np.array([len(x) for x in self.ids], dtype=np.float64)
        self.n_tokens = int(lens.sum())
        self.weights = lens / lens.sum() if lens.sum() else lens


def encode_texts(tokenizer, texts: list[str]):
    """(ids, offsets) per text with the fast backend (no special tokens, no truncation)."""
    backend = tokenizer.backend_tokenizer
    encs = backend.encode_batch(texts, add_special_tokens=False)
    return ([np.asarray(e.ids, dtype=np.int32) for e in encs],
            [np.asarray(e.offsets, dtype=np.int64).reshape(-1, 2) for e in encs])


def prepare_fim_data(records: Iterable[dict], tokenizer, regions=None, max_files: int | None = None) -> FimData:
    """Tokenise file records (``file_id``, ``content``) and map their masked regions
    (a DataFrame with ``file_id, body_start_char, body_end_char``) to token spans."""
    records = [r for r in records if r.get("content")]
    if max_files:
        records = records[:max_files]
    by_file: dict[int, list[tuple[int, int]]] = {}
    if regions is not None and len(regions):
        for fid, s, e in zip(regions["file_id"].to_numpy(), regions["body_start_char"].to_numpy(),
                             regions["body_end_char"].to_numpy()):
            by_file.setdefault(int(fid), []).append((int(s), int(e)))
    all_ids, all_spans = [], []
    B = 64
    for i in range(0, len(records), B):
        chunk = records[i:i + B]
        ids, offs = encode_texts(tokenizer, [r["content"] for r in chunk])
        for r, x, o in zip(chunk, ids, offs):
            if len(x) < 2:
                continue
            spans = [token_span(o, s, e) for s, e in by_file.get(int(r["file_id"]), [])]
            spans = np.asarray([sp for sp in spans if sp[1] > sp[0]], dtype=np.int64).reshape(-1, 2)
            all_ids.append(x)
            all_spans.append(spans)
    if not all_ids:
        raise ValueError("no training text: the training split is empty")
    return FimData(all_ids, all_spans)


def make_batch(data: FimData, step: int, batch_size: int, seq_len: int, sent: dict, seed: int,
               fim_rate: float, region_fraction: float):
    """The batch of optimizer step ``step`` — a pure function of (seed, step), so a
    resumed run sees exactly the batches an uninterrupted one would."""
    rng = np.random.default_rng([seed, step])
    files = rng.choice(len(data.ids), size=batch_size, p=data.weights)
    exs = [sample_fim_example(rng, data.ids[f], data.regions[f], seq_len, sent, fim_rate, region_fraction).input_ids
           for f in files]
    return collate(exs, seq_len, sent["pad"])


# --------------------------------------------------------------------------- precision
def matmul_rate(dtype_name: str = "float32", n: int = 512, device: str = "cpu", seconds: float = 0.3) -> float:
    """Measured dense matmul throughput in FLOP/s for ``dtype`` on this device."""
    import torch

    dt = getattr(torch, dtype_name)
    a = torch.randn(n, n, device=device).to(dt)
    b = torch.randn(n, n, device=device).to(dt)
    a @ b
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    reps, t0 = 0, time.perf_counter()
    while True:
        a @ b
        reps += 1
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        el = time.perf_counter() - t0
        if el >= seconds or reps >= 1000:
            break
    return 2 * n ** 3 * reps / el


def peak_matmul_rate(dtype_name: str = "float32", device: str = "cpu", sizes=None, seconds: float = 0.5) -> float:
    """The machine's dense matmul rate in ``dtype`` (FLOP/s): the best of square matmuls of
    several sizes (AMX bf16 on CPU and tensor cores on GPU only approach their peak on large
    tiles: 0.6 TFLOP/s at 256 vs 2.2 at 2048 on a 2-core AMX VM). The denominator of MFU."""
    sizes = sizes or ((1024, 2048, 4096, 8192) if device.startswith("cuda") else (1024, 2048))
    return max(matmul_rate(dtype_name, n, device, seconds) for n in sizes)


def bf16_is_faster(device: str = "cpu", min_speedup: float = 1.5) -> tuple[bool, dict]:
    """bf16 is worth using on CUDA; on CPU only with hardware bf16 (AMX/AVX512-BF16)."""
    if device.startswith("cuda"):
        return True, {"device": device}
    # 1024-wide tiles: AMX is ~3.6x fp32 there (2x at 256), a margin that timing noise on a
    # loaded machine cannot cross, so reruns choose the same precision (byte-identical results)
    f32 = matmul_rate("float32", 1024, device, 0.2)
    b16 = matmul_rate("bfloat16", 1024, device, 0.2)
    return b16 >= min_speedup * f32, {"fp32_flops": f32, "bf16_flops": b16, "speedup": b16 / f32}


def autocast_ctx(device: str, use_bf16: bool):
    import contextlib

    import torch

    if not use_bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda" if device.startswith("cuda") else "cpu", dtype=torch.bfloat16)


# --------------------------------------------------------------------------- loop
def lr_at(step: int, total: int, lr: float, warmup: int, min_ratio: float) -> float:
    if step < warmup:
        return lr * (step + 1) / max(1, warmup)
    prog = min(1.0, (step - warmup) / max(1, total - warmup))
    return lr * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * prog)))


def _fingerprint(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def train_fim(model, data: FimData, tokenizer, training: TrainingSpec, *, seed: int = 0,
              steps: int | None = None, flops_budget: float | None = None, device: str = "cpu",
              resume_dir: str | os.PathLike | None = None, log: Callable[[str], None] | None = None,
              fingerprint: dict | None = None, stop_after: int | None = None):
    """Train ``model`` in place with the FIM objective.

    Stops after ``steps`` optimizer steps, or once ``6 · n_params · tokens`` reaches
    ``flops_budget`` (whichever is given; ``steps`` wins if both). Every
    ``checkpoint_every`` steps the full state goes to ``resume_dir/state.pt`` (atomic);
    a later call with the same fingerprint resumes from it. ``stop_after`` simulates an
    interruption (tests). Returns ``(rows, info)``: metric rows
    (step, loss, tokens_per_s, lr, tokens, flops, elapsed_s) and a dict with
    ``flops_spent``, ``tokens``, ``steps``, ``n_params``, ``dtype``, ``precision_check``."""
    import torch

    tr = training
    log = log or (lambda m: None)
    sent = sentinel_ids(tokenizer)
    P = n_params(model)
    B, T = int(tr.batch_size), int(tr.seq_len)
    if steps is None and flops_budget is None:
        if tr.flops_budget:
            flops_budget = float(tr.flops_budget)
        elif tr.steps:
            steps = int(tr.steps)
        else:
            raise ValueError("training: give `steps` or `flops_budget`")
    if steps is None:
        if not flops_budget or flops_budget <= 0:
            raise ValueError("give steps or a positive flops_budget")
        planned = max(1, math.ceil(flops_budget / (6 * P * B * T)))
    else:
        planned = int(steps)
    model.to(device)
    model.train()
    if tr.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    opt = torch.optim.AdamW(model.parameters(), lr=tr.lr, weight_decay=tr.weight_decay, betas=(0.9, 0.95))

    def batch(k):
        return make_batch(data, k, B, T, sent, seed, tr.fim_rate, tr.region_fraction)

    # Precision: bf16 autocast only where it is faster *and* the loss matches fp32.
    check: dict = {"requested": tr.dtype}
    use_bf16 = tr.dtype == "bfloat16"
    if tr.dtype == "auto":
        faster, rates = bf16_is_faster(device)
        check.update(rates)
        use_bf16 = faster
    if use_bf16:
        x, att, lab = (t.to(device) for t in batch(0))
        with torch.no_grad():
            l32 = float(model(input_ids=x, attention_mask=att, labels=lab).loss)
            with autocast_ctx(device, True):
                l16 = float(model(input_ids=x, attention_mask=att, labels=lab).loss)
        rel = abs(l16 - l32) / max(1e-8, abs(l32))
        check.update({"loss_fp32": l32, "loss_bf16": l16, "rel_diff": rel})
        if rel > 0.01 and tr.dtype == "auto":
            use_bf16 = False
    check["used"] = "bfloat16" if use_bf16 else "float32"
    log(f"training precision: {check}")

    fp = _fingerprint({"train": tr.to_dict(), "seed": seed, "steps": steps, "flops_budget": flops_budget, "P": P,
                       "n_tokens": data.n_tokens, "extra": fingerprint})
    start, rows, tokens, elapsed = 0, [], 0, 0.0
    state_path = Path(resume_dir) / "state.pt" if resume_dir else None
    if state_path and state_path.exists():
        st = torch.load(state_path, map_location=device, weights_only=False)
        if st.get("fingerprint") == fp:
            model.load_state_dict(st["model"])
            opt.load_state_dict(st["opt"])
            start, rows, tokens, elapsed = st["step"], st["rows"], st["tokens"], st["elapsed"]
            log(f"resumed from {state_path} at step {start}")
        else:
            log(f"ignoring stale checkpoint {state_path} (different fingerprint)")

    def save_state(step):
        if not state_path:
            return
        state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = state_path.with_name(f"state.pt.tmp-{os.getpid()}")
        torch.save({"fingerprint": fp, "model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                    "rows": rows, "tokens": tokens, "elapsed": elapsed}, tmp)
        os.replace(tmp, state_path)

    step = start
    acc_loss, acc_n, acc_tok, t_last = 0.0, 0, 0, time.perf_counter()
    while True:
        spent = 6 * P * tokens
        if steps is not None and step >= steps:
            break
        if steps is None and spent >= flops_budget:
            break
        if stop_after is not None and step >= stop_after:
            # a graceful interruption: checkpoint the exact state, so a resume continues here
            save_state(step)
            model.eval()
            return rows, {"interrupted_at": step, "tokens": tokens, "flops_spent": 6 * P * tokens}
        x, att, lab = (t.to(device) for t in batch(step))
        lr = lr_at(step, planned, tr.lr, tr.warmup, tr.min_lr_ratio)
        for g in opt.param_groups:
            g["lr"] = lr
        with autocast_ctx(device, use_bf16):
            loss = model(input_ids=x, attention_mask=att, labels=lab).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if tr.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), tr.grad_clip)
        opt.step()
        ntok = int(att.sum())
        tokens += ntok
        step += 1
        acc_loss += float(loss.detach())
        acc_n += 1
        acc_tok += ntok
        last = (steps is not None and step >= steps) or (steps is None and 6 * P * tokens >= flops_budget)
        if step % int(tr.log_every) == 0 or last:
            now = time.perf_counter()
            dt = now - t_last
            elapsed += dt
            rows.append({"step": step, "loss": acc_loss / acc_n, "tokens_per_s": acc_tok / dt if dt > 0 else float("nan"),
                         "lr": lr, "tokens": tokens, "flops": 6 * P * tokens, "elapsed_s": elapsed})
            log(f"step {step} loss {acc_loss / acc_n:.4f} tok/s {acc_tok / dt:.0f} lr {lr:.2e}")
            acc_loss, acc_n, acc_tok, t_last = 0.0, 0, 0, now
        if state_path and int(tr.checkpoint_every) and step % int(tr.checkpoint_every) == 0 and not last:
            save_state(step)
            t_last = time.perf_counter()
    model.eval()
    info = {"steps": step, "planned_steps": planned, "tokens": tokens, "flops_spent": 6 * P * tokens,
            "flops_budget": flops_budget, "n_params": P, "dtype": check["used"], "precision_check": check,
            "elapsed_s": elapsed, "resumed_from": start}
    return rows, info


def save_teacher(model, tokenizer, out_dir: str | os.PathLike) -> None:
    """``save_pretrained`` model + tokenizer into ``out_dir`` (atomically: temp dir + rename)."""
    import shutil

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.with_name(f"{out_dir.name}.tmp-{os.getpid()}")
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if out_dir.exists():  # a stale or pre-created directory (Snakemake makes output parents)
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_metrics(rows: list[dict], path: str | os.PathLike) -> None:
    import pandas as pd

    from ..runtime import atomic_path

    cols = ["step", "loss", "tokens_per_s", "lr", "tokens", "flops", "elapsed_s"]
    with atomic_path(path) as tmp:
        pd.DataFrame(rows, columns=cols).to_csv(tmp, index=False)


def train_teacher(teacher: TeacherSpec, records: list[dict], regions, tokenizer, *, seed: int = 0,
                  device: str = "cpu", out_dir=None, resume_dir=None, steps: int | None = None,
                  flops_budget: float | None = None, log=None):
    """A teacher's spec -> trained model (and saved to ``out_dir`` if given). Returns (model, rows, info)."""
    data = prepare_fim_data(records, tokenizer, regions)
    model = build_model(teacher.arch, tokenizer, seed)
    rows, info = train_fim(model, data, tokenizer, teacher.training, seed=seed, steps=steps,
                           flops_budget=flops_budget, device=device, resume_dir=resume_dir, log=log,
                           fingerprint={"arch": teacher.arch.to_dict(), "vocab": len(tokenizer)})
    info.update({"n_train_files": len(data.ids), "n_train_tokens": data.n_tokens, "arch": teacher.arch.to_dict()})
    if out_dir is not None:
        save_teacher(model.cpu(), tokenizer, out_dir)
    return model, rows, info
