"""Stage 1: a tiny Qwen2-architecture causal LM trained with fill-in-the-middle.

Public entry points (also used by the compute-allocation experiment):

* :func:`build_model` — a ``Qwen2ForCausalLM`` from a teacher's :class:`~swejepa.settings.ArchSpec`
  (no download; seeded initial weights, identical for a ``train`` teacher and its
  ``random`` twin).
* :func:`prepare_fim_data` — tokenise the training split once (ids + region token spans).
* :func:`train_fim` — the training loop, for a number of optimizer steps *or* a FLOPs
  budget (``6 · n_params · tokens``); checkpoints to a resume directory and resumes
  from it; on its time budget or SIGTERM/SIGUSR1 it saves the state and raises
  :class:`~swejepa.training.Interrupted` (exit 75: the retry resumes); returns the metric
  rows and an info dict with the FLOPs actually spent.
* :func:`train_teacher` — all of the above from a :class:`~swejepa.settings.TeacherSpec`, saving with
  ``save_pretrained`` (model + tokenizer) so it reloads through the ``hf`` code path.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..settings import ArchSpec, TeacherSpec, TrainingSpec
from ..training import Interrupted, InterruptGuard, WarmupCosine, autocast, load_resume, save_resume
from ..training import write_metrics as write_csv
from ..training.resume import fingerprint as _fingerprint
from ..training.schedule import set_lr
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


# The shared autocast helper (swejepa.training.precision); the name stays for extraction and the benchmarks.
autocast_ctx = autocast


# --------------------------------------------------------------------------- loop
def plan_steps(training: TrainingSpec, n_params_: int, steps: int | None, flops_budget: float | None):
    """``(steps, flops_budget, planned)``: the stopping rule (a number of optimizer steps, or
    a FLOPs budget; the call's arguments win over ``training``, ``steps`` over a budget)
    and the length of the learning-rate schedule."""
    if steps is None and flops_budget is None:
        if training.flops_budget:
            flops_budget = float(training.flops_budget)
        elif training.steps:
            steps = int(training.steps)
        else:
            raise ValueError("training: give `steps` or `flops_budget`")
    if steps is None:
        if not flops_budget or flops_budget <= 0:
            raise ValueError("give steps or a positive flops_budget")
        planned = max(1, math.ceil(flops_budget / (6 * n_params_ * training.batch_size * training.seq_len)))
    else:
        planned = int(steps)
    return steps, flops_budget, planned


def choose_precision(model, first_batch: Callable, device: str, dtype: str, log) -> tuple[bool, dict]:
    """bf16 autocast only where it is faster *and* the loss on ``first_batch()`` matches fp32
    (``dtype: auto``); ``bfloat16``/``float32`` as asked. Returns (use_bf16, the check)."""
    import torch

    check: dict = {"requested": dtype}
    use_bf16 = dtype == "bfloat16"
    if dtype == "auto":
        faster, rates = bf16_is_faster(device)
        check.update(rates)
        use_bf16 = faster
    if use_bf16:
        x, att, lab = (t.to(device) for t in first_batch())
        with torch.no_grad():
            l32 = float(model(input_ids=x, attention_mask=att, labels=lab).loss)
            with autocast(device, True):
                l16 = float(model(input_ids=x, attention_mask=att, labels=lab).loss)
        rel = abs(l16 - l32) / max(1e-8, abs(l32))
        check.update({"loss_fp32": l32, "loss_bf16": l16, "rel_diff": rel})
        if rel > 0.01 and dtype == "auto":
            use_bf16 = False
    check["used"] = "bfloat16" if use_bf16 else "float32"
    log(f"training precision: {check}")
    return use_bf16, check


@dataclass
class FimProgress:
    """A FIM run's counters and metric rows; all of it is the resume state's ``extra``."""
    step: int = 0
    tokens: int = 0
    rows: list = field(default_factory=list)
    elapsed: float = 0.0     # seconds over the logged intervals, all attempts
    acc_loss: float = 0.0    # the log interval in progress: summed loss, steps, tokens
    acc_n: int = 0
    acc_tok: int = 0
    precision: dict = field(default_factory=dict)   # {"bf16": bool, "check": {...}}, decided once per run
    t_last: float = field(default_factory=time.perf_counter)  # start of the interval (not saved)

    def advance(self, loss: float, ntok: int) -> None:
        self.tokens += ntok
        self.step += 1
        self.acc_loss += loss
        self.acc_n += 1
        self.acc_tok += ntok

    def log_row(self, lr: float, P: int) -> dict:
        """Close the log interval: its row (mean loss, tokens/s) is appended and returned."""
        now = time.perf_counter()
        dt = now - self.t_last
        self.elapsed += dt
        row = {"step": self.step, "loss": self.acc_loss / self.acc_n,
               "tokens_per_s": self.acc_tok / dt if dt > 0 else float("nan"), "lr": lr, "tokens": self.tokens,
               "flops": 6 * P * self.tokens, "elapsed_s": self.elapsed}
        self.rows.append(row)
        self.acc_loss, self.acc_n, self.acc_tok, self.t_last = 0.0, 0, 0, now
        return row

    def extra(self) -> dict:
        kept = ("tokens", "rows", "elapsed", "acc_loss", "acc_n", "acc_tok", "precision")
        return {**{k: getattr(self, k) for k in kept}, "acc_s": time.perf_counter() - self.t_last}

    @classmethod
    def resumed(cls, state: dict) -> "FimProgress":
        ex = dict(state["extra"])
        acc_s = ex.pop("acc_s", 0.0)
        return cls(step=state["step"], **ex, t_last=time.perf_counter() - acc_s)


def train_fim(model, data: FimData, tokenizer, training: TrainingSpec, *, seed: int = 0,
              steps: int | None = None, flops_budget: float | None = None, device: str = "cpu",
              resume_dir: str | os.PathLike | None = None, log: Callable[[str], None] | None = None,
              fingerprint: dict | None = None, stop_after: int | None = None,
              time_budget_s: float | None = None, handle_signals: bool = True):
    """Train ``model`` in place with the FIM objective for ``steps`` optimizer steps, or until
    ``6 · n_params · tokens`` reaches ``flops_budget`` (:func:`plan_steps`).

    With a ``resume_dir``: the state goes to ``resume_dir/state.pt`` every ``checkpoint_every``
    steps, and a later call with the same settings and ``fingerprint`` resumes from it (same
    weights and metric rows as an uninterrupted run); ``time_budget_s`` (seconds of this call)
    or SIGTERM/SIGUSR1 stop it at the next step boundary, state saved, raising
    :class:`~swejepa.training.Interrupted`. ``stop_after`` returns at that step, state saved
    (Experiment 2.2's snapshots; ``info["interrupted_at"]``). Returns ``(rows, info)``: metric
    rows (step, loss, tokens_per_s, lr, tokens, flops, elapsed_s) and ``flops_spent``,
    ``tokens``, ``steps``, ``n_params``, ``dtype``, ``precision_check``, ..."""
    import torch

    tr, log = training, log or (lambda m: None)
    sent = sentinel_ids(tokenizer)
    P = n_params(model)
    steps, flops_budget, planned = plan_steps(tr, P, steps, flops_budget)
    model.to(device).train()
    if tr.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    opt = torch.optim.AdamW(model.parameters(), lr=tr.lr, weight_decay=tr.weight_decay, betas=(0.9, 0.95))
    schedule = WarmupCosine(tr.lr, tr.warmup, planned, tr.min_lr_ratio)

    def batch(k):
        return make_batch(data, k, tr.batch_size, tr.seq_len, sent, seed, tr.fim_rate, tr.region_fraction)

    def done(p: FimProgress) -> bool:
        return p.step >= steps if steps is not None else 6 * P * p.tokens >= flops_budget

    fp = _fingerprint({"train": tr.to_dict(), "seed": seed, "steps": steps, "flops_budget": flops_budget, "P": P,
                       "n_tokens": data.n_tokens, "extra": fingerprint})
    state = load_resume(resume_dir, model, opt, fingerprint=fp, log=log)
    prog = FimProgress.resumed(state) if state else FimProgress()
    if state:
        log(f"resumed from {resume_dir} at step {prog.step}")
    else:
        bf16, check = choose_precision(model, lambda: batch(0), device, tr.dtype, log)
        prog.precision = {"bf16": bf16, "check": check}
    use_bf16, start = prog.precision["bf16"], prog.step

    def save():
        if resume_dir is not None:
            save_resume(resume_dir, model, opt, prog.step, extra=prog.extra(), fingerprint=fp)

    resumable = resume_dir is not None  # without a resume directory nothing stops the run early
    with InterruptGuard(time_budget_s if resumable else None, signals=handle_signals and resumable) as stop:
        while not done(prog):
            if stop_after is not None and prog.step >= stop_after:
                save()  # the exact state: a later call continues here
                model.eval()
                return prog.rows, {"interrupted_at": prog.step, "tokens": prog.tokens,
                                   "flops_spent": 6 * P * prog.tokens}
            x, att, lab = (t.to(device) for t in batch(prog.step))
            lr = schedule(prog.step)
            set_lr(opt, lr)
            with autocast(device, use_bf16):
                loss = model(input_ids=x, attention_mask=att, labels=lab).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if tr.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), tr.grad_clip)
            opt.step()
            prog.advance(float(loss.detach()), int(att.sum()))
            last = done(prog)
            if prog.step % tr.log_every == 0 or last:
                row = prog.log_row(lr, P)
                log(f"step {prog.step} loss {row['loss']:.4f} tok/s {row['tokens_per_s']:.0f} lr {lr:.2e}")
            why = None if last else stop.reason()
            if resumable and (why or (tr.checkpoint_every and prog.step % tr.checkpoint_every == 0 and not last)):
                save()
                prog.t_last = time.perf_counter()
            if why:
                log(f"interrupted ({why}) at step {prog.step}; resume state in {resume_dir}")
                raise Interrupted(f"{why} at step {prog.step}")
    model.eval()
    check = prog.precision["check"]
    info = {"steps": prog.step, "planned_steps": planned, "tokens": prog.tokens, "flops_spent": 6 * P * prog.tokens,
            "flops_budget": flops_budget, "n_params": P, "dtype": check["used"], "precision_check": check,
            "elapsed_s": prog.elapsed, "resumed_from": start}
    return prog.rows, info


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


METRIC_FIELDS = ["step", "loss", "tokens_per_s", "lr", "tokens", "flops", "elapsed_s"]


def write_metrics(rows: list[dict], path: str | os.PathLike) -> None:
    write_csv(rows, path, METRIC_FIELDS)


def train_teacher(teacher: TeacherSpec, records: list[dict], regions, tokenizer, *, seed: int = 0,
                  device: str = "cpu", out_dir=None, resume_dir=None, steps: int | None = None,
                  flops_budget: float | None = None, time_budget_s: float | None = None, log=None):
    """A teacher's spec -> trained model (and saved to ``out_dir`` if given). Returns (model, rows, info).

    With a ``resume_dir``: resumes from its state, and raises :class:`~swejepa.training.Interrupted`
    with the state saved when ``time_budget_s`` (counted from this call: data preparation
    included) is spent or SIGTERM/SIGUSR1 arrives."""
    t0 = time.time()
    data = prepare_fim_data(records, tokenizer, regions)
    model = build_model(teacher.arch, tokenizer, seed)
    budget = None if time_budget_s is None else time_budget_s - (time.time() - t0)
    rows, info = train_fim(model, data, tokenizer, teacher.training, seed=seed, steps=steps,
                           flops_budget=flops_budget, device=device, resume_dir=resume_dir, log=log,
                           fingerprint={"arch": teacher.arch.to_dict(), "vocab": len(tokenizer)},
                           time_budget_s=budget)
    info.update({"n_train_files": len(data.ids), "n_train_tokens": data.n_tokens, "arch": teacher.arch.to_dict()})
    if out_dir is not None:
        save_teacher(model.cpu(), tokenizer, out_dir)
    return model, rows, info
