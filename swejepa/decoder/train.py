"""Teacher-forced training of a decoder (latent-conditioned or not) on the train split.

Cross-entropy on body tokens and EOS only; AdamW, linear warm-up and cosine decay,
gradient clipping, bf16 autocast on CUDA (``dtype: auto``), seeded batch order. Schedule,
autocast and the metrics CSV are the shared ones of :mod:`swejepa.training`. No resume
state: decoder jobs are short, a failed one reruns.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext

import numpy as np
import torch
import torch.nn.functional as F

from ..settings import DecoderTrain
from ..training import WarmupCosine, autocast_for
from ..training import write_metrics as write_csv
from .data import collate_train


def batch_loss(model, batch, amp):
    lat = batch.get("latents")
    with amp:
        logits = model(batch["ids"], batch["tok_mask"], lat, batch.get("latent_mask"))
    m = batch["loss_mask"]
    ce = F.cross_entropy(logits.float()[m], batch["targets"][m], reduction="none")
    return ce, logits


def train_decoder(model, examples, latents, tc: DecoderTrain, *, seed: int = 0, device: str = "cpu", log=None):
    """Train ``model`` in place on ``examples`` (``latents``: list aligned with them, or
    None for the no-latent decoder). Returns per-step metric rows."""
    torch.manual_seed(seed)
    model.to(device).train()
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": tc.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=tc.lr, betas=(0.9, 0.95))
    total = int(tc.max_steps)
    sched = WarmupCosine(1.0, tc.warmup_steps, total, tc.min_lr_ratio).scheduler(opt)
    amp = autocast_for(device, tc.dtype)
    rng = np.random.default_rng(seed)
    order = np.array([], dtype=np.int64)
    rows = []
    t0 = time.time()
    n_tok = 0
    V = model.vocab_size
    slots = model.slots
    for step in range(total):
        if len(order) < tc.batch_size:
            order = np.concatenate([order, rng.permutation(len(examples))])
        idx, order = order[:tc.batch_size], order[tc.batch_size:]
        batch = collate_train([examples[i] for i in idx], V,
                              [latents[i] for i in idx] if latents is not None else None, slots)
        batch = {k: v.to(device) for k, v in batch.items()}
        ce, _ = batch_loss(model, batch, amp)
        loss = ce.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
        opt.step()
        sched.step()
        n_tok += int(batch["tok_mask"].sum())
        rows.append({"step": step + 1, "loss": float(loss.detach()), "lr": sched.get_last_lr()[0], "grad_norm": float(gn),
                     "tokens": n_tok, "elapsed_s": time.time() - t0})
        if log and (step % 25 == 0 or step == total - 1):
            log.info("step %d/%d loss %.4f lr %.2e tok/s %.0f", step + 1, total, float(loss),
                     sched.get_last_lr()[0], n_tok / max(1e-9, time.time() - t0))
    model.eval()
    return rows


def write_metrics(rows: list[dict], path) -> None:
    """Per-step rows (step, loss, lr, grad_norm, tokens, elapsed_s), written atomically."""
    write_csv(rows, path)


@torch.no_grad()
def teacher_forced_metrics(model, examples, latents, *, batch_size: int = 32, device: str = "cpu") -> dict:
    """Body perplexity (exp of mean CE over body tokens and EOS) and next-token accuracy;
    ``per_example``: ``[(ce_sum, n_tokens)]`` of every example, in order (the units of the
    paired bootstrap of Experiment 3.1's verdict)."""
    model.eval()
    tot, n, correct = 0.0, 0, 0
    per = []
    for i in range(0, len(examples), batch_size):
        ex = examples[i:i + batch_size]
        lat = latents[i:i + batch_size] if latents is not None else None
        batch = {k: v.to(device) for k, v in collate_train(ex, model.vocab_size, lat, model.slots).items()}
        ce, logits = batch_loss(model, batch, nullcontext())
        m = batch["loss_mask"]
        tot += float(ce.sum())
        n += int(m.sum())
        correct += int((logits[m].argmax(-1) == batch["targets"][m]).sum())
        counts = m.sum(1).tolist()  # ce is row-major over the mask: each row's tokens are contiguous
        for part, c in zip(torch.split(ce.double(), counts), counts):
            per.append((float(part.sum()), int(c)))
    mean = tot / max(1, n)
    return {"ce": mean, "ppl": float(math.exp(min(mean, 50.0))), "token_acc": correct / max(1, n), "n_tokens": n,
            "per_example": per}
