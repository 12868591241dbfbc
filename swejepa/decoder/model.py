"""The latent-conditioned decoder: a GPT-style causal transformer (pre-LN, learned
absolute positions, tied input/output embeddings) with a KV cache for sampling.

Conditioning (Experiment 3.1):

(a) the student's predicted latents for the masked body enter as a **prefix**: each of
    up to ``latent_slots`` latent vectors (the student's predictions at the first body
    positions, in order) is layer-normalised and linearly projected into the decoder's
    embedding space, plus a learned slot embedding; absent slots (bodies shorter than
    ``latent_slots`` tokens) are masked out as keys. Prefix projection was chosen over
    cross-attention because it adds only ``d_latent * d_model`` parameters, keeps the
    decoder a plain causal LM (so the no-latent baseline is the same network with the
    prefix removed) and costs ``latent_slots`` extra positions per sample.
(b), (c) the signature + docstring and the surrounding file enter as text in
    fill-in-the-middle order (suffix first): ``<SUF> suffix <PRE> prefix <MID> body <EOS>``,
    the prefix ending with the signature, docstring and the body's indentation.

The token vocabulary is the teacher tokenizer's (the same ids as the latents' windows)
plus four specials appended at ``vocab_size + {0,1,2,3}``: PRE, SUF, MID, EOS.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

N_SPECIAL = 4
ARCH_KEYS = ("d_model", "n_layers", "n_heads", "d_ff", "max_positions", "latent_slots", "dropout")


def special_ids(vocab_size: int) -> dict:
    return {"PRE": vocab_size, "SUF": vocab_size + 1, "MID": vocab_size + 2, "EOS": vocab_size + 3}


class CausalSelfAttention(nn.Module):
    def __init__(self, d: int, n_heads: int, dropout: float):
        super().__init__()
        if d % n_heads:
            raise ValueError(f"d_model {d} not divisible by n_heads {n_heads}")
        self.h, self.hd = n_heads, d // n_heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.dropout = dropout

    def forward(self, x, attn_mask, cache=None):
        B, L, D = x.shape
        q, k, v = self.qkv(x).view(B, L, 3, self.h, self.hd).permute(2, 0, 3, 1, 4)
        if cache is not None:
            if cache.get("k") is not None:
                k = torch.cat([cache["k"], k], dim=2)
                v = torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(B, L, D))


class Block(nn.Module):
    def __init__(self, d: int, n_heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = CausalSelfAttention(d, n_heads, dropout)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, d_ff), nn.GELU(), nn.Linear(d_ff, d))
        self.drop = nn.Dropout(dropout)

    def forward(self, x, attn_mask, cache=None):
        x = x + self.drop(self.attn(self.ln1(x), attn_mask, cache))
        return x + self.drop(self.mlp(self.ln2(x)))


class Decoder(nn.Module):
    """``d_latent=0`` builds the no-latent baseline (no prefix, no projection). The
    architecture ``arch`` has the keys :data:`ARCH_KEYS` (see :func:`arch_of`)."""

    def __init__(self, vocab_size: int, d_latent: int = 0, **arch):
        super().__init__()
        missing = [k for k in ARCH_KEYS if k not in arch]
        if missing:
            raise TypeError(f"Decoder: architecture keys missing: {missing}")
        c = {k: arch[k] for k in ARCH_KEYS}
        if d_latent == 0:
            c["latent_slots"] = 0
        self.cfg = dict(c, vocab_size=vocab_size, d_latent=d_latent)
        self.vocab_size = vocab_size
        self.n_vocab = vocab_size + N_SPECIAL
        self.special = special_ids(vocab_size)
        d = c["d_model"]
        self.d_model = d
        self.slots = int(c["latent_slots"])
        self.max_positions = int(c["max_positions"])
        self.tok = nn.Embedding(self.n_vocab, d)
        self.pos = nn.Embedding(self.max_positions, d)
        if d_latent > 0:
            self.lat_ln = nn.LayerNorm(d_latent)
            self.lat_proj = nn.Linear(d_latent, d)
            self.lat_slot = nn.Embedding(self.slots, d)
        self.blocks = nn.ModuleList(Block(d, c["n_heads"], c["d_ff"], c["dropout"]) for _ in range(c["n_layers"]))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, self.n_vocab, bias=False)
        self.head.weight = self.tok.weight  # tied
        self._init(c["n_layers"])

    def _init(self, n_layers):
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * n_layers) if name.endswith(("proj.weight", "mlp.2.weight")) else 0.02
                nn.init.normal_(p, 0.0, std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    @property
    def uses_latent(self) -> bool:
        return self.slots > 0

    def n_params(self) -> int:
        return int(sum(p.numel() for p in self.parameters()))

    def n_params_non_embedding(self) -> int:
        return self.n_params() - self.tok.weight.numel() - self.pos.weight.numel()

    # ------------------------------------------------------------------ forward
    def _prefix(self, latents, latent_mask):
        B = latents.shape[0]
        x = self.lat_proj(self.lat_ln(latents[:, :self.slots].float()))
        x = x + self.lat_slot.weight[None, : x.shape[1]]
        m = latent_mask[:, :self.slots]
        return x.expand(B, -1, -1), m

    def embed(self, ids, tok_mask, latents=None, latent_mask=None):
        """Embeddings ``[B, S, d]``, key-validity ``[B, S]`` and positions of the full
        sequence (latent prefix, if any, then tokens). Token positions count valid
        tokens only, so left padding does not shift them."""
        pos = (torch.cumsum(tok_mask.long(), 1) - 1).clamp(min=0)
        x = self.tok(ids)
        if self.uses_latent:
            if latents is None:
                raise ValueError("this decoder is latent-conditioned: pass latents")
            pre, pm = self._prefix(latents, latent_mask)
            pos = pos + pre.shape[1]
            x = x + self.pos(pos.clamp(max=self.max_positions - 1))
            return torch.cat([pre, x], 1), torch.cat([pm, tok_mask], 1)
        x = x + self.pos(pos.clamp(max=self.max_positions - 1))
        return x, tok_mask

    def forward(self, ids, tok_mask, latents=None, latent_mask=None):
        """Logits ``[B, L, n_vocab]`` for the token positions (prefix outputs dropped)."""
        x, valid = self.embed(ids, tok_mask, latents, latent_mask)
        S = x.shape[1]
        causal = torch.ones(S, S, dtype=torch.bool, device=x.device).tril()
        am = causal[None, None] & valid[:, None, None, :]
        am = am | torch.eye(S, dtype=torch.bool, device=x.device)[None, None]  # no empty rows
        for blk in self.blocks:
            x = blk(x, am)
        x = self.ln_f(x)
        return self.head(x[:, S - ids.shape[1]:])

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def generate(self, ids, tok_mask, latents=None, latent_mask=None, *, max_new_tokens: int,
                 temperature: float, top_p: float, generator: torch.Generator | None = None, stop_ids=None):
        """Sample continuations of left-padded prompts ``ids [B, L]``. Returns a list of
        generated id lists (stopping at EOS / ``stop_ids``, which are not included) and
        the number of forward token-positions processed per sequence (for FLOPs)."""
        stop = set(stop_ids or []) | {self.special["EOS"]}
        B = ids.shape[0]
        x, valid = self.embed(ids, tok_mask, latents, latent_mask)
        S = x.shape[1]
        caches = [dict() for _ in self.blocks]
        causal = torch.ones(S, S, dtype=torch.bool, device=x.device).tril()
        am = (causal[None, None] & valid[:, None, None, :]) | torch.eye(S, dtype=torch.bool, device=x.device)
        h = x
        for blk, c in zip(self.blocks, caches):
            h = blk(h, am, c)
        logits = self.head(self.ln_f(h[:, -1]))
        next_pos = tok_mask.long().sum(1) + (self.slots if self.uses_latent else 0)
        out = [[] for _ in range(B)]
        done_l = [False] * B
        key_valid = valid
        steps = 0
        for _ in range(max_new_tokens):
            tok = sample(logits, temperature, top_p, generator)
            steps += 1
            tok_cpu = tok.tolist()  # one device sync per step
            for i in range(B):
                if not done_l[i]:
                    t = tok_cpu[i]
                    if t in stop:
                        done_l[i] = True
                    else:
                        out[i].append(t)
            if all(done_l) or steps == max_new_tokens:
                break
            e = self.tok(tok)[:, None] + self.pos(next_pos.clamp(max=self.max_positions - 1))[:, None]
            next_pos = next_pos + 1
            key_valid = torch.cat([key_valid, torch.ones(B, 1, dtype=torch.bool, device=x.device)], 1)
            am1 = key_valid[:, None, None, :]
            h = e
            for blk, c in zip(self.blocks, caches):
                h = blk(h, am1, c)
            logits = self.head(self.ln_f(h[:, -1]))
        return out, S + steps


def sample(logits, temperature: float, top_p: float, generator=None):
    """Temperature + nucleus sampling; ``temperature == 0`` is greedy.

    Exact nucleus sampling (the smallest set of most probable tokens whose mass reaches
    ``top_p``, renormalised), drawn by inverse CDF from one uniform per row of ``generator``.
    On CPU the sort is numpy's (SIMD quicksort, ~5x torch's) and the draw a ``searchsorted``
    instead of ``torch.multinomial``: sampling was 3/4 of HumanEval generation time on CPU."""
    logits = logits.float()
    if temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits / temperature, -1)
    if top_p < 1.0:
        if probs.device.type == "cpu":   # numpy's SIMD sort; on an accelerator its own sort
            order = torch.from_numpy(np.argsort(-probs.numpy(), axis=-1))
        else:
            order = probs.argsort(-1, descending=True)
        sp = probs.gather(-1, order)
        sp = sp * ((sp.cumsum(-1) - sp) < top_p)
    else:
        order, sp = None, probs
    cdf = sp.cumsum(-1)
    u = torch.rand(cdf.shape[0], 1, generator=generator, device=cdf.device, dtype=cdf.dtype) * cdf[:, -1:]
    j = torch.searchsorted(cdf, u, right=True).clamp(max=cdf.shape[-1] - 1)
    return (order.gather(-1, j) if order is not None else j).squeeze(-1)


def arch_of(model, max_positions: int) -> dict:
    """The decoder architecture of a :class:`~swejepa.settings.DecoderModel` and a context length."""
    return {**model.to_dict(), "max_positions": int(max_positions)}


def count_params(cfg: dict, vocab_size: int, d_latent: int = 0) -> int:
    """Parameter count of :class:`Decoder` for architecture ``cfg`` without building it."""
    c = cfg
    d, f, L = c["d_model"], c["d_ff"], c["n_layers"]
    per_layer = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * f + f) + (f * d + d)
    n = (vocab_size + N_SPECIAL) * d + c["max_positions"] * d + L * per_layer + 2 * d
    if d_latent > 0 and c["latent_slots"] > 0:
        n += 2 * d_latent + d_latent * d + d + c["latent_slots"] * d
    return int(n)


def match_params(target: int, model_cfg: dict, vocab_size: int) -> dict:
    """A no-latent decoder config with ``target`` total parameters: the parameters are
    re-allocated to depth and width, keeping the base config's depth:width ratio and
    MLP ratio as nearly as possible (``d_model`` a multiple of ``n_heads``), then the MLP
    width ``d_ff`` is solved exactly (the count is linear in it)."""
    c = dict(model_cfg)
    c["latent_slots"] = 0
    h, d0, L0 = c["n_heads"], c["d_model"], c["n_layers"]
    ratio = c["d_ff"] / d0
    best = None
    for L in range(max(1, L0), 8 * L0 + 1):
        for d in range(h, 8 * d0 + 1, h):
            cand = {**c, "n_layers": L, "d_model": d, "d_ff": max(1, int(round(ratio * d)))}
            n = count_params(cand, vocab_size)
            if n > target * 1.05:
                break
            if n < target * 0.85:
                continue
            score = abs(math.log((L / d) / (L0 / d0)))
            if best is None or score < best[0]:
                best = (score, cand)
    out = best[1] if best else dict(c)
    base = count_params({**out, "d_ff": 0}, vocab_size)
    slope = count_params({**out, "d_ff": 1}, vocab_size) - base
    out["d_ff"] = max(1, int(round((target - base) / slope)))
    return out


def flops_per_token(n_params_non_embedding: int, n_layers: int, d_model: int, context: int) -> float:
    """Forward FLOPs per token: 2 · non-embedding params + the output projection is
    counted separately by the caller; attention scores add 2 · n_layers · context · d."""
    return 2.0 * n_params_non_embedding + 2.0 * n_layers * context * d_model
