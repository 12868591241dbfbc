"""Training loop: ``train_student(cfg, data, out_dir, ...)``.

L1 (or L2) between predicted and frozen-teacher latents at masked positions
(optionally layer-normalised targets), optional InfoNCE and variance terms against
collapse, AdamW with linear warm-up and cosine decay, gradient clipping, bf16
autocast (CUDA by default, CPU selectable), seeded and deterministic on CPU.

Budget: ``max_steps`` and/or ``max_flops`` (6 · non-embedding params · tokens, the
tokens being the encoder's context tokens plus the predictor's queries); the FLOPs
actually spent are recorded per step in the metrics. Training stops at the first step
whose cumulative FLOPs reach ``max_flops`` (overshoot < one step).

Restartable: resume state in ``resume_dir`` (default ``out_dir/_resume``, which no
rule declares) every ``train.resume_every`` steps, on SIGTERM/SIGUSR1 and when the
wall-clock budget ``time_budget_s`` is reached; the latter two then raise
:class:`Interrupted` (the script exits non-zero so the scheduler's retry resumes).
The data order is a pure function of (seed, step), so a resumed run reaches the same
weights as an uninterrupted one (tested on CPU).

Multi-GPU: under ``torchrun`` with ``WORLD_SIZE > 1`` the model is wrapped in
DistributedDataParallel (NCCL on CUDA, gloo on CPU); every global batch is split by
rank and the loss is normalised by the global number of masked tokens, so the
update equals the single-process update on the same global batch; only rank 0 writes.

Outputs in ``out_dir``: ``metrics.csv`` (one row per step), ``ckpts/step{N}.pt`` at
every ``train.ckpt_every`` steps (and steps 0 and last; Experiment 1.2's data points),
``final.pt`` and ``summary.json``.
"""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..settings import StudentSettings
from . import checkpoint as ckpt
from .data import StudentData, make_batch
from .masking import plan_example
from .model import batch_tokens, build_student, train_flops

METRIC_FIELDS = ["step", "train_loss", "aux_loss", "lr", "grad_norm", "tokens", "tokens_per_s",
                 "flops", "elapsed_s", "val_loss", "pred_std", "target_std"]


class Interrupted(RuntimeError):
    """Training stopped early (signal or time budget) after saving resume state."""

    exit_code = 75  # EX_TEMPFAIL: the scheduler should retry


# ----------------------------------------------------------------------------- pieces

def normalise_targets(t: torch.Tensor, how: str) -> torch.Tensor:
    if how == "layernorm":
        return F.layer_norm(t, t.shape[-1:])
    if how == "none":
        return t
    raise ValueError(f"target_norm must be 'layernorm' or 'none', got {how!r}")


def token_loss(pred: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-token loss ``[...]`` (mean over the latent dimension)."""
    if kind == "l1":
        return (pred - target).abs().mean(-1)
    if kind == "l2":
        return (pred - target).pow(2).mean(-1)
    raise ValueError(f"loss must be 'l1' or 'l2', got {kind!r}")


def info_nce(p: torch.Tensor, t: torch.Tensor, temperature: float, max_tokens: int,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """InfoNCE between predictions and targets of (a sample of) the batch's masked tokens."""
    n = p.shape[0]
    if n < 2:
        return p.sum() * 0.0
    if n > max_tokens:
        idx = torch.randperm(n, generator=generator, device="cpu")[:max_tokens].to(p.device)
        p, t = p[idx], t[idx]
    logits = F.normalize(p.float(), dim=-1) @ F.normalize(t.float(), dim=-1).T / temperature
    return F.cross_entropy(logits, torch.arange(len(p), device=p.device))


def variance_term(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Hinge on the per-dimension std of predictions across tokens, below the targets' std."""
    if p.shape[0] < 2:
        return p.sum() * 0.0
    return F.relu(t.float().std(0) - p.float().std(0)).mean()


def lr_lambda(warmup: int, total: int, min_ratio: float):
    def f(step: int) -> float:  # step = number of updates already done
        if step < warmup:
            return (step + 1) / max(1, warmup)
        prog = min(1.0, (step - warmup) / max(1, total - warmup))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * prog))
    return f


def batch_regions(order_seed: int, pool: np.ndarray, step: int, batch_size: int) -> np.ndarray:
    """Regions of the global batch of ``step`` (0-based): a stream of per-epoch
    permutations seeded by (seed, epoch) — a pure function of the step."""
    n = len(pool)
    out = []
    for k in range(step * batch_size, (step + 1) * batch_size):
        epoch, i = divmod(k, n)
        perm = _perm(order_seed, epoch, n)
        out.append(pool[perm[i]])
    return np.asarray(out)


_PERM_CACHE: dict = {}


def _perm(seed: int, epoch: int, n: int) -> np.ndarray:
    key = (seed, epoch, n)
    if key not in _PERM_CACHE:
        if len(_PERM_CACHE) > 8:
            _PERM_CACHE.clear()
        _PERM_CACHE[key] = np.random.default_rng([seed, epoch]).permutation(n)
    return _PERM_CACHE[key]


def autocast_for(device: str, dtype: str):
    use_bf16 = dtype == "bf16" or (dtype == "auto" and device.startswith("cuda"))
    if not use_bf16:
        return nullcontext()
    return torch.autocast(device_type="cuda" if device.startswith("cuda") else "cpu", dtype=torch.bfloat16)


def to_device(batch: dict, device: str) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def masked_losses(model, batch, cfg, device, amp, generator=None):
    """Returns (main_loss_sum, aux_loss, n_tokens, preds, targets) for one (local) batch."""
    tc = cfg.train
    with amp:
        pred = model(batch)
    pred = pred.float()
    m = batch["tgt_mask"]
    tgt = normalise_targets(batch["targets"], cfg.target_norm)
    p, t = pred[m], tgt[m]
    main_sum = token_loss(p, t, tc.loss).sum()
    aux = p.sum() * 0.0
    if tc.contrastive_weight > 0:
        aux = aux + tc.contrastive_weight * info_nce(p, t, tc.contrastive_temperature,
                                                         tc.contrastive_max_tokens, generator)
    if tc.variance_weight > 0:
        aux = aux + tc.variance_weight * variance_term(p, t)
    return main_sum, aux, int(m.sum()), p, t


@torch.no_grad()
def evaluate_loss(model, data: StudentData, regions, cfg, device, amp) -> dict:
    """Main loss (no auxiliary terms) over ``regions`` plus collapse monitors."""
    was = model.training
    model.eval()
    B = cfg.train.batch_size
    plain = cfg.with_overrides({"train": {"contrastive_weight": 0, "variance_weight": 0}})
    tot, n, preds, tgts = 0.0, 0, [], []
    for i in range(0, len(regions), B):
        batch = to_device(make_batch(data, regions[i:i + B], cfg.max_len, cfg.max_targets,
                                     cfg.context), device)
        s, _, k, p, t = masked_losses(model, batch, plain, device, amp)
        tot += float(s)
        n += k
        preds.append(p.cpu())
        tgts.append(t.cpu())
    model.train(was)
    P, T = torch.cat(preds), torch.cat(tgts)
    return {"val_loss": tot / max(1, n), "pred_std": float(P.std(0).mean()) if len(P) > 1 else 0.0,
            "target_std": float(T.std(0).mean()) if len(T) > 1 else 0.0}


def _dist():
    import torch.distributed as dist

    ws = int(os.environ.get("WORLD_SIZE", "1"))
    if ws > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    if dist.is_available() and dist.is_initialized():
        return dist, dist.get_rank(), dist.get_world_size()
    return None, 0, 1


def estimate_tokens_per_example(data: StudentData, pool: np.ndarray, cfg: dict) -> float:
    n = []
    for j in pool[: min(len(pool), 2000)]:
        w = int(data.window[j])
        a, b, ts, n_pred, hs, he = plan_example(int(data.length[w]), int(data.pos_start[j]), data.n_tok(int(j)),
                                                int(data.ctx_start[j]), 0, cfg.max_len, cfg.max_targets,
                                                cfg.context)
        n.append((hs - a) + (b - he) + n_pred)
    return float(np.mean(n)) if n else 1.0


# ----------------------------------------------------------------------------- main entry

def train_student(cfg: StudentSettings, data: StudentData, out_dir, resume_dir=None, *, max_steps: int | None = None,
                  max_flops: float | None = None, time_budget_s: float | None = None, seed: int = 0,
                  log=None, handle_signals: bool = True, _stop_at_step: int | None = None) -> dict:
    """Train one student on ``data`` (train split), evaluating on the val split.

    ``cfg`` is the student's settings (:meth:`~swejepa.settings.StudentSettings.recipe`);
    ``max_steps``/``max_flops`` override ``cfg.train``. Returns the summary dict
    (also written to ``out_dir/summary.json``). Raises :class:`Interrupted` after saving
    resume state when a signal arrives or ``time_budget_s`` is spent."""
    t_start = time.time()
    tc = cfg.train
    max_steps = int(max_steps if max_steps is not None else tc.max_steps)
    max_flops = max_flops if max_flops is not None else tc.max_flops
    say = (log.info if log is not None else (lambda *a: None))
    dist, rank, world = _dist()
    if rank != 0:
        say = (lambda *a: None)  # noqa: E731 - only rank 0 logs and writes
    if tc.threads:
        torch.set_num_threads(int(tc.threads))

    from ..runtime import pick_device
    device = pick_device(tc.device)
    if device == "cuda" and world > 1:
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
        torch.cuda.set_device(device)
    amp = autocast_for(device, tc.dtype)
    out_dir = Path(out_dir)
    resume_dir = Path(resume_dir) if resume_dir is not None else out_dir / "_resume"
    is_main = rank == 0

    torch.manual_seed(seed)
    np.random.seed(seed)

    train_pool = data.indices("train")
    val_pool = data.indices("val")
    if len(train_pool) == 0:
        raise ValueError("no training regions (no window with split 'train' holds a per-token region)")
    if len(val_pool) == 0:  # tiny corpora: evaluate on a fixed slice of train, say so
        say("no val regions; validating on a fixed train slice")
        val_pool = train_pool
    val_regions = np.sort(val_pool)[: tc.eval_batches * tc.batch_size]

    model = build_student(cfg.model, data.vocab_size, data.max_positions, data.hidden_size).to(device)
    n_params = model.n_params()
    decay = [p for n_, p in model.named_parameters() if p.dim() >= 2 and "tok." not in n_ and "pos." not in n_]
    no_decay = [p for n_, p in model.named_parameters() if not (p.dim() >= 2 and "tok." not in n_ and "pos." not in n_)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": tc.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=tc.lr, betas=(0.9, 0.95),
                            fused=True if device == "cpu" else None)
    tok_per_ex = estimate_tokens_per_example(data, train_pool, cfg)
    if max_flops:
        est = math.ceil(max_flops / train_flops(n_params, tok_per_ex * tc.batch_size))
        total_steps = max(1, min(max_steps, est)) if max_steps else max(1, est)
        max_steps = max_steps or 10 ** 9
    else:
        total_steps = max_steps
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(tc.warmup_steps, total_steps, tc.min_lr_ratio))
    ddp_model = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP
        ddp_model = DDP(model, device_ids=[device] if device.startswith("cuda") else None)

    step, flops, tokens_total = 0, 0.0, 0
    state = ckpt.load_resume(resume_dir, model, opt, sched)
    rows: list[dict] = []
    ckpt_dir = resume_dir / "ckpts"
    if state is not None:
        step = state["step"]
        flops = float(state["extra"].get("flops", 0.0))
        tokens_total = int(state["extra"].get("tokens", 0))
        t_start -= float(state["extra"].get("elapsed_s", 0.0))  # elapsed counts all attempts
        rows = [r for r in state["extra"].get("rows", []) if r["step"] <= step]
        say(f"resumed from {resume_dir} at step {step}")
    session_start = time.time()

    def log_eval(row):
        if is_main:
            ev = evaluate_loss(model, data, val_regions, cfg, device, amp)
            row.update(ev)

    def save_eval_ckpt(s):
        if is_main:
            ckpt.save_weights(ckpt_dir / f"step{s:06d}.pt", model,
                              {"step": s, "flops": flops, "tokens": tokens_total})

    def extra():
        return {"flops": flops, "tokens": tokens_total, "elapsed_s": time.time() - t_start, "rows": rows}

    # ---- signals: set a flag, act on it at the next step boundary
    stop = {"why": None}
    old_handlers = {}
    if handle_signals and _main_thread():
        def _handler(signum, frame):
            stop["why"] = signal.Signals(signum).name
        for s in (signal.SIGTERM, signal.SIGUSR1):
            old_handlers[s] = signal.signal(s, _handler)

    gen = torch.Generator().manual_seed(seed + 1)
    try:
        if step == 0 and not rows:
            row = {"step": 0, "flops": 0.0, "tokens": 0, "lr": sched.get_last_lr()[0], "elapsed_s": 0.0}
            log_eval(row)
            rows.append(row)
            save_eval_ckpt(0)
            say(f"student: {n_params / 1e6:.2f}M non-embedding params, {len(train_pool)} train / "
                f"{len(val_pool)} val regions, device={device}, world={world}, steps={total_steps}")
        model.train()
        while step < max_steps and not (max_flops and flops >= max_flops):
            t0 = time.time()
            regions = batch_regions(seed, train_pool, step, tc.batch_size)
            local = regions[rank::world]
            batch = to_device(make_batch(data, local, cfg.max_len, cfg.max_targets, cfg.context), device)
            gen.manual_seed(seed * 1_000_003 + step)
            main_sum, aux, n_tok, _, _ = masked_losses(ddp_model, batch, cfg, device, amp, gen)
            n_batch_tok = batch_tokens(batch)
            counts = torch.tensor([float(n_tok), float(n_batch_tok), float(main_sum.detach())], dtype=torch.float64)
            if dist is not None:
                dist.all_reduce(counts)
            n_glob = max(1.0, counts[0].item())
            loss = main_sum / n_glob * world + aux
            opt.zero_grad(set_to_none=True)
            loss.backward()
            gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip) if tc.grad_clip > 0 \
                else torch.tensor(0.0)
            opt.step()
            sched.step()
            step += 1
            step_tokens = int(counts[1].item())
            tokens_total += step_tokens
            flops += train_flops(n_params, step_tokens)
            dt = max(1e-9, time.time() - t0)
            row = {"step": step, "train_loss": counts[2].item() / n_glob, "aux_loss": float(aux.detach()),
                   "lr": opt.param_groups[0]["lr"], "grad_norm": float(gnorm), "tokens": tokens_total,
                   "tokens_per_s": step_tokens / dt, "flops": flops, "elapsed_s": time.time() - t_start}
            last = step >= max_steps or bool(max_flops and flops >= max_flops)
            if step % tc.eval_every == 0 or last:
                log_eval(row)
                say(f"step {step}: train {row['train_loss']:.4f} val {row.get('val_loss', float('nan')):.4f} "
                    f"pred_std {row.get('pred_std', float('nan')):.3f} tok/s {row['tokens_per_s']:.0f}")
            rows.append(row)
            if step % tc.ckpt_every == 0 or last:
                save_eval_ckpt(step)
            # ---- interruption: agreed across ranks
            flag = torch.tensor([1.0 if stop["why"] else 0.0,
                                 1.0 if (time_budget_s and time.time() - session_start > time_budget_s) else 0.0,
                                 1.0 if (_stop_at_step is not None and step == _stop_at_step) else 0.0])
            if dist is not None:
                dist.all_reduce(flag)
            if flag.sum() > 0 and not last:
                why = stop["why"] or ("time budget" if flag[1] > 0 else "test stop")
                if is_main:
                    ckpt.save_resume(resume_dir, model, opt, sched, step, extra())
                if dist is not None:
                    dist.barrier()
                say(f"interrupted ({why}) at step {step}; resume state in {resume_dir}")
                raise Interrupted(f"{why} at step {step}")
            if is_main and tc.resume_every and step % tc.resume_every == 0 and not last:
                ckpt.save_resume(resume_dir, model, opt, sched, step, extra())
    finally:
        for s, h in old_handlers.items():
            signal.signal(s, h)

    summary = {}
    if is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        ckpt.save_resume(resume_dir, model, opt, sched, step, extra())
        ckpt.save_weights(out_dir / "final.pt", model, {"step": step, "flops": flops, "tokens": tokens_total})
        (out_dir / "ckpts").mkdir(parents=True, exist_ok=True)
        for p in sorted(ckpt_dir.glob("step*.pt")):
            ckpt.publish(p, out_dir / "ckpts" / p.name)
        write_metrics(rows, out_dir / "metrics.csv")
        vals = [r for r in rows if "val_loss" in r]
        summary = {
            "steps": step, "flops": flops, "tokens": tokens_total, "n_params": n_params,
            "n_params_total": sum(p.numel() for p in model.parameters()),
            "train_regions": int(len(train_pool)), "val_regions": int(len(val_pool)),
            "final_val_loss": vals[-1]["val_loss"], "initial_val_loss": vals[0]["val_loss"],
            "final_pred_std": vals[-1]["pred_std"], "final_target_std": vals[-1]["target_std"],
            "wall_s": time.time() - t_start, "session_wall_s": time.time() - session_start,
            "world_size": world, "device": device, "dtype": tc.dtype,
            "mean_tokens_per_s": float(np.mean([r["tokens_per_s"] for r in rows if "tokens_per_s" in r] or [0])),
            "checkpoints": sorted(p.name for p in (out_dir / "ckpts").glob("step*.pt")),
        }
        (out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    if dist is not None:
        dist.barrier()
    return summary


def write_metrics(rows, path) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    with open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=METRIC_FIELDS)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in METRIC_FIELDS})
    os.replace(tmp, path)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def main(argv=None) -> int:
    """``python -m swejepa.student.train job.json`` — the torchrun entry point (one process
    per GPU); ``job.json`` holds cfg, latents, out_dir, resume_dir, seed, time_budget_s."""
    import sys

    from ..runtime import setup_logging
    from .data import load_student_data

    argv = sys.argv[1:] if argv is None else argv
    job = json.loads(Path(argv[0]).read_text())
    log = setup_logging(None, name=f"swejepa.student.rank{os.environ.get('RANK', '0')}")
    cfg = StudentSettings.from_dict(job["cfg"])
    data = load_student_data(job["latents"], cfg.mask, cfg.target_layer)
    try:
        train_student(cfg, data, job["out_dir"], resume_dir=job["resume_dir"], seed=int(job["seed"]),
                      time_budget_s=job.get("time_budget_s"), log=log)
    except Interrupted as e:
        return e.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
