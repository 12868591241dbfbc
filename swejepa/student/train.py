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

import hashlib
import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..settings import StudentSettings
from ..training import (Interrupted, InterruptGuard, WarmupCosine, autocast_for, fingerprint, load_resume,
                        save_resume, write_metrics as write_csv)
from . import checkpoint as ckpt
from .data import StudentData, make_batch
from .masking import plan_example
from .model import batch_tokens, build_student, train_flops

__all__ = ["Interrupted", "autocast_for", "train_student", "evaluate_loss", "normalise_targets", "to_device",
           "write_metrics"]

METRIC_FIELDS = ["step", "train_loss", "aux_loss", "lr", "grad_norm", "tokens", "tokens_per_s",
                 "flops", "elapsed_s", "val_loss", "pred_std", "target_std"]


# ----------------------------------------------------------------------------- pieces

def normalise_targets(t: torch.Tensor, how: str) -> torch.Tensor:
    if how == "layernorm":
        return F.layer_norm(t, t.shape[-1:])
    if how == "none":
        return t
    raise ValueError(f"target_norm must be 'layernorm' or 'none', got {how!r}")


LOSSES = ("l1", "l2", "smooth_l1", "cosine")


def token_loss(pred: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-token loss ``[...]`` over the latent dimension (broadcasts over leading dims):
    ``l1`` mean absolute error; ``l2`` mean squared error; ``smooth_l1`` Huber with beta 1
    (mean); ``cosine`` 1 - cosine similarity (scale-free: LLM-JEPA, arXiv 2509.14252, found
    it trains where a plain L2 distance collapses)."""
    d = pred - target
    if kind == "l1":
        return d.abs().mean(-1)
    if kind == "l2":
        return d.pow(2).mean(-1)
    if kind == "smooth_l1":
        a = d.abs()
        return torch.where(a < 1.0, 0.5 * a * a, a - 0.5).mean(-1)
    if kind == "cosine":
        return 1.0 - F.cosine_similarity(pred, target, dim=-1)
    raise ValueError(f"loss must be one of {LOSSES}, got {kind!r}")


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


# ----------------------------------------------------------------------------- one training job

@dataclass
class _Run:
    """A job's fixed parts, built once by :func:`_setup`."""
    cfg: StudentSettings
    data: StudentData
    device: str
    amp: object
    dist: object                 # torch.distributed when WORLD_SIZE > 1, else None
    rank: int
    world: int
    model: torch.nn.Module
    ddp_model: torch.nn.Module   # the model, or its DistributedDataParallel wrapper
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    n_params: int
    train_pool: np.ndarray
    val_pool: np.ndarray
    val_regions: np.ndarray
    max_steps: int
    max_flops: float | None
    total_steps: int             # of the learning-rate schedule
    out_dir: Path
    resume_dir: Path
    say: Callable
    fingerprint: str = ""

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def ckpt_dir(self) -> Path:
        return self.resume_dir / "ckpts"

    def done(self, step: int, flops: float) -> bool:
        return step >= self.max_steps or bool(self.max_flops and flops >= self.max_flops)


@dataclass
class _Progress:
    """What changes step by step, and what the resume state keeps of it (``extra``)."""
    t_start: float               # wall-clock origin, moved back by the time of earlier attempts
    step: int = 0
    flops: float = 0.0
    tokens: int = 0
    rows: list = field(default_factory=list)

    def extra(self) -> dict:
        return {"flops": self.flops, "tokens": self.tokens, "elapsed_s": time.time() - self.t_start,
                "rows": self.rows}


def train_student(cfg: StudentSettings, data: StudentData, out_dir, resume_dir=None, *, max_steps: int | None = None,
                  max_flops: float | None = None, time_budget_s: float | None = None, seed: int = 0,
                  log=None, handle_signals: bool = True, _stop_at_step: int | None = None) -> dict:
    """Train one student on ``data`` (train split), evaluating on the val split.

    ``cfg`` is the student's settings (:meth:`~swejepa.settings.StudentSettings.recipe`);
    ``max_steps``/``max_flops`` override ``cfg.train``. Returns the summary dict
    (also written to ``out_dir/summary.json``). Raises :class:`Interrupted` after saving
    resume state when a signal arrives or ``time_budget_s`` is spent."""
    prog = _Progress(t_start=time.time())
    run = _setup(cfg, data, out_dir, resume_dir, max_steps, max_flops, seed, log)
    tc, say = cfg.train, run.say
    _resume(run, prog)
    gen = torch.Generator().manual_seed(seed + 1)
    with InterruptGuard(time_budget_s, signals=handle_signals) as stop:
        if prog.step == 0 and not prog.rows:
            row = {"step": 0, "flops": 0.0, "tokens": 0, "lr": run.sched.get_last_lr()[0], "elapsed_s": 0.0}
            _evaluate(run, row)
            prog.rows.append(row)
            _save_eval_ckpt(run, prog)
            say(f"student: {run.n_params / 1e6:.2f}M non-embedding params, {len(run.train_pool)} train / "
                f"{len(run.val_pool)} val regions, device={run.device}, world={run.world}, steps={run.total_steps}")
        run.model.train()
        while not run.done(prog.step, prog.flops):
            row = _train_step(run, prog, gen, seed)
            last = run.done(prog.step, prog.flops)
            if prog.step % tc.eval_every == 0 or last:
                _evaluate(run, row)
                say(f"step {prog.step}: train {row['train_loss']:.4f} val {row.get('val_loss', float('nan')):.4f} "
                    f"pred_std {row.get('pred_std', float('nan')):.3f} tok/s {row['tokens_per_s']:.0f}")
            prog.rows.append(row)
            if prog.step % tc.ckpt_every == 0 or last:
                _save_eval_ckpt(run, prog)
            why = None if last else _agreed_stop(run, stop, prog.step == _stop_at_step)
            if why:
                _save_resume(run, prog)
                if run.dist is not None:
                    run.dist.barrier()
                say(f"interrupted ({why}) at step {prog.step}; resume state in {run.resume_dir}")
                raise Interrupted(f"{why} at step {prog.step}")
            if tc.resume_every and prog.step % tc.resume_every == 0 and not last:
                _save_resume(run, prog)
    return _finish(run, prog, stop.started)


def _setup(cfg: StudentSettings, data: StudentData, out_dir, resume_dir, max_steps, max_flops, seed, log) -> _Run:
    tc = cfg.train
    max_steps = int(max_steps if max_steps is not None else tc.max_steps)
    max_flops = max_flops if max_flops is not None else tc.max_flops
    dist, rank, world = _dist()
    say = log.info if (log is not None and rank == 0) else (lambda *a: None)  # only rank 0 logs and writes
    if tc.threads:
        torch.set_num_threads(int(tc.threads))

    from ..runtime import pick_device
    device = pick_device(tc.device)
    if device == "cuda" and world > 1:
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
        torch.cuda.set_device(device)
    out_dir = Path(out_dir)
    resume_dir = Path(resume_dir) if resume_dir is not None else out_dir / "_resume"

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
    opt = _optimizer(model, tc, device)
    tok_per_ex = estimate_tokens_per_example(data, train_pool, cfg)
    if max_flops:
        est = math.ceil(max_flops / train_flops(n_params, tok_per_ex * tc.batch_size))
        total_steps = max(1, min(max_steps, est)) if max_steps else max(1, est)
        max_steps = max_steps or 10 ** 9
    else:
        total_steps = max_steps
    sched = WarmupCosine(1.0, tc.warmup_steps, total_steps, tc.min_lr_ratio).scheduler(opt)
    ddp_model = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP
        ddp_model = DDP(model, device_ids=[device] if device.startswith("cuda") else None)
    fp = fingerprint({"cfg": cfg.replace(train=tc.without("threads")).to_dict(), "seed": seed,
                      "max_steps": max_steps, "max_flops": max_flops, "data": _data_digest(data)})
    return _Run(cfg, data, device, autocast_for(device, tc.dtype), dist, rank, world, model, ddp_model, opt,
                sched, n_params, train_pool, val_pool, val_regions, max_steps, max_flops, total_steps, out_dir,
                resume_dir, say, fp)


def _optimizer(model, tc, device: str) -> torch.optim.Optimizer:
    """AdamW; no weight decay on biases, norms and the token/position embeddings."""
    def decays(name, p):
        return p.dim() >= 2 and "tok." not in name and "pos." not in name
    decay = [p for n, p in model.named_parameters() if decays(n, p)]
    no_decay = [p for n, p in model.named_parameters() if not decays(n, p)]
    return torch.optim.AdamW([{"params": decay, "weight_decay": tc.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=tc.lr, betas=(0.9, 0.95),
                             fused=True if device == "cpu" else None)


def _data_digest(data: StudentData) -> str:
    """Shapes and a strided sample of the inputs and targets (online targets: the teacher
    and layer they come from): other latents, other digest."""
    h = hashlib.sha256(repr((data.input_ids.shape, data.targets.shape, data.vocab_size)).encode())
    stored = isinstance(data.targets, np.ndarray)
    for a in (data.input_ids, data.offsets) + ((data.targets,) if stored else ()):
        h.update(np.ascontiguousarray(a[:: max(1, len(a) // 1024)]).tobytes())
    if not stored:
        h.update(str(getattr(data.targets, "digest", type(data.targets).__name__)).encode())
    return h.hexdigest()[:16]


def target_budget(data: StudentData, train_pool: np.ndarray, cfg: StudentSettings, steps: int) -> dict:
    """How often the student saw its training targets: the distinct train regions and
    target tokens (each example predicts a region's first ``max_targets`` tokens) and the
    epochs over them (steps x batch size / regions) — a student that sees each region
    hundreds of times can memorise its targets."""
    n_tok = np.diff(data.offsets)[train_pool] if len(train_pool) else np.zeros(0, np.int64)
    n_regions = int(len(train_pool))
    return {"targets": "stored" if isinstance(data.targets, np.ndarray) else "online",
            "target_regions": n_regions, "target_tokens": int(np.minimum(n_tok, cfg.max_targets).sum()),
            "epochs": float(steps * cfg.train.batch_size / n_regions) if n_regions else float("nan")}


def _resume(run: _Run, prog: _Progress) -> None:
    """Continue from the resume state, if there is one written under the same settings."""
    state = load_resume(run.resume_dir, run.model, run.opt, scheduler=run.sched, fingerprint=run.fingerprint,
                        log=run.say)
    if state is None:
        if run.is_main and run.ckpt_dir.exists():  # interval checkpoints of another run (or none at all)
            shutil.rmtree(run.ckpt_dir)
        return
    extra = state["extra"]
    prog.step = state["step"]
    prog.flops = float(extra.get("flops", 0.0))
    prog.tokens = int(extra.get("tokens", 0))
    prog.t_start -= float(extra.get("elapsed_s", 0.0))  # elapsed counts all attempts
    prog.rows = [r for r in extra.get("rows", []) if r["step"] <= prog.step]
    run.say(f"resumed from {run.resume_dir} at step {prog.step}")


def _train_step(run: _Run, prog: _Progress, gen: torch.Generator, seed: int) -> dict:
    """One optimizer step on the global batch of step ``prog.step`` (this rank's share of it);
    advances ``prog`` and returns the step's metric row."""
    cfg, tc = run.cfg, run.cfg.train
    t0 = time.time()
    regions = batch_regions(seed, run.train_pool, prog.step, tc.batch_size)
    batch = to_device(make_batch(run.data, regions[run.rank::run.world], cfg.max_len, cfg.max_targets, cfg.context),
                      run.device)
    gen.manual_seed(seed * 1_000_003 + prog.step)
    main_sum, aux, n_tok, _, _ = masked_losses(run.ddp_model, batch, cfg, run.device, run.amp, gen)
    counts = torch.tensor([float(n_tok), float(batch_tokens(batch)), float(main_sum.detach())], dtype=torch.float64)
    if run.dist is not None:
        run.dist.all_reduce(counts)
    n_glob = max(1.0, counts[0].item())
    loss = main_sum / n_glob * run.world + aux  # DDP averages gradients over ranks: x world
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    gnorm = torch.nn.utils.clip_grad_norm_(run.model.parameters(), tc.grad_clip) if tc.grad_clip > 0 \
        else torch.tensor(0.0)
    run.opt.step()
    run.sched.step()
    prog.step += 1
    step_tokens = int(counts[1].item())
    prog.tokens += step_tokens
    prog.flops += train_flops(run.n_params, step_tokens)
    dt = max(1e-9, time.time() - t0)
    return {"step": prog.step, "train_loss": counts[2].item() / n_glob, "aux_loss": float(aux.detach()),
            "lr": run.opt.param_groups[0]["lr"], "grad_norm": float(gnorm), "tokens": prog.tokens,
            "tokens_per_s": step_tokens / dt, "flops": prog.flops, "elapsed_s": time.time() - prog.t_start}


def _evaluate(run: _Run, row: dict) -> None:
    if run.is_main:
        row.update(evaluate_loss(run.model, run.data, run.val_regions, run.cfg, run.device, run.amp))


def _save_eval_ckpt(run: _Run, prog: _Progress) -> None:
    if run.is_main:
        ckpt.save_weights(run.ckpt_dir / f"step{prog.step:06d}.pt", run.model,
                          {"step": prog.step, "flops": prog.flops, "tokens": prog.tokens})


def _save_resume(run: _Run, prog: _Progress) -> None:
    if run.is_main:
        save_resume(run.resume_dir, run.model, run.opt, prog.step, scheduler=run.sched, extra=prog.extra(),
                    fingerprint=run.fingerprint)


def _agreed_stop(run: _Run, stop: InterruptGuard, test_stop: bool) -> str | None:
    """Why to stop after this step, agreed across ranks (a signal may reach only some)."""
    flag = torch.tensor([1.0 if stop.signal else 0.0, 1.0 if stop.budget_spent() else 0.0,
                         1.0 if test_stop else 0.0])
    if run.dist is not None:
        run.dist.all_reduce(flag)
    if flag.sum() == 0:
        return None
    return stop.signal or ("signal" if flag[0] > 0 else "time budget" if flag[1] > 0 else "test stop")


def _finish(run: _Run, prog: _Progress, session_start: float) -> dict:
    """Final weights, published interval checkpoints, metrics.csv and summary.json (rank 0)."""
    summary = {}
    if run.is_main:
        out_dir, rows = run.out_dir, prog.rows
        out_dir.mkdir(parents=True, exist_ok=True)
        _save_resume(run, prog)
        ckpt.save_weights(out_dir / "final.pt", run.model, {"step": prog.step, "flops": prog.flops,
                                                            "tokens": prog.tokens})
        (out_dir / "ckpts").mkdir(parents=True, exist_ok=True)
        for p in sorted(run.ckpt_dir.glob("step*.pt")):
            ckpt.publish(p, out_dir / "ckpts" / p.name)
        write_metrics(rows, out_dir / "metrics.csv")
        vals = [r for r in rows if "val_loss" in r]
        summary = {
            "steps": prog.step, "flops": prog.flops, "tokens": prog.tokens, "n_params": run.n_params,
            "n_params_total": sum(p.numel() for p in run.model.parameters()),
            "train_regions": int(len(run.train_pool)), "val_regions": int(len(run.val_pool)),
            "final_val_loss": vals[-1]["val_loss"], "initial_val_loss": vals[0]["val_loss"],
            "final_pred_std": vals[-1]["pred_std"], "final_target_std": vals[-1]["target_std"],
            "wall_s": time.time() - prog.t_start, "session_wall_s": time.time() - session_start,
            "world_size": run.world, "device": run.device, "dtype": run.cfg.train.dtype,
            "mean_tokens_per_s": float(np.mean([r["tokens_per_s"] for r in rows if "tokens_per_s" in r] or [0])),
            "checkpoints": sorted(p.name for p in (out_dir / "ckpts").glob("step*.pt")),
            **target_budget(run.data, run.train_pool, run.cfg, prog.step),
        }
        (out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    if run.dist is not None:
        run.dist.barrier()
    return summary


def write_metrics(rows, path) -> None:
    write_csv(rows, path, METRIC_FIELDS)


def main(argv=None) -> int:
    """``python -m swejepa.student.train job.json`` — the torchrun entry point (one process
    per GPU); ``job.json`` holds cfg, latents, out_dir, resume_dir, seed, time_budget_s."""
    import sys

    from ..layout import Layout
    from ..runtime import setup_logging
    from ..settings import TeacherSpec
    from .targets import load_targets_data

    argv = sys.argv[1:] if argv is None else argv
    job = json.loads(Path(argv[0]).read_text())
    log = setup_logging(None, name=f"swejepa.student.rank{os.environ.get('RANK', '0')}")
    cfg = StudentSettings.from_dict(job["cfg"])
    online = cfg.targets == "online"  # the teacher that computes the targets comes with the job then
    data = load_targets_data(cfg, job["latents"], teacher=TeacherSpec.from_dict(job["teacher"]) if online else None,
                             layout=Layout(**job["layout"]) if online else "results",
                             index=int(job["index"]) if online else None)
    try:
        train_student(cfg, data, job["out_dir"], resume_dir=job["resume_dir"], seed=int(job["seed"]),
                      time_budget_s=job.get("time_budget_s"), log=log)
    except Interrupted as e:
        return e.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
