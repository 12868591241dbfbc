"""Context encoder: a bidirectional pre-LN transformer over the *unmasked* tokens.

Masked tokens are removed from the input sequence (see :mod:`.masking`); each
context token keeps its original position, encoded either as a learned absolute
position embedding (``positions="abs"``) or, like the Qwen teachers, as rotary
position embeddings applied to queries and keys (``positions="rope"``) — design
question (a) of the seed. The building blocks here are shared with the predictor.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

POSITIONS = ("abs", "rope")


def rope_cache(positions: torch.Tensor, head_dim: int, base: float = 10000.0):
    """cos/sin ``[B, 1, L, head_dim]`` for integer ``positions [B, L]`` (GPT-NeoX/Qwen layout)."""
    inv = 1.0 / (base ** (torch.arange(0, head_dim, 2, device=positions.device, dtype=torch.float32) / head_dim))
    ang = positions.float()[..., None] * inv  # [B, L, hd/2]
    ang = torch.cat([ang, ang], dim=-1)
    return ang.cos()[:, None], ang.sin()[:, None]


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    rot = torch.cat([-x2, x1], dim=-1)
    return (x * cos + rot * sin).to(x.dtype)


class Attention(nn.Module):
    def __init__(self, d: int, n_heads: int, dropout: float):
        super().__init__()
        if d % n_heads:
            raise ValueError(f"d_model {d} not divisible by n_heads {n_heads}")
        self.n_heads, self.head_dim = n_heads, d // n_heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.dropout = dropout

    def forward(self, x, key_mask, rope=None):
        B, L, D = x.shape
        q, k, v = self.qkv(x).view(B, L, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        attn_mask = key_mask[:, None, None, :]  # [B,1,1,L] True = may attend
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(B, L, D))


class Block(nn.Module):
    def __init__(self, d: int, n_heads: int, mlp_ratio: float, dropout: float):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = Attention(d, n_heads, dropout)
        self.ln2 = nn.LayerNorm(d)
        h = int(d * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(d, h), nn.GELU(), nn.Linear(h, d))
        self.drop = nn.Dropout(dropout)

    def forward(self, x, key_mask, rope=None):
        x = x + self.drop(self.attn(self.ln1(x), key_mask, rope))
        return x + self.drop(self.mlp(self.ln2(x)))


def init_weights(module: nn.Module, n_layers: int) -> None:
    """GPT-2 style init: N(0, 0.02), residual projections scaled by 1/sqrt(2·layers)."""
    for name, p in module.named_parameters():
        if p.dim() >= 2:
            std = 0.02 / math.sqrt(2 * n_layers) if name.endswith(("proj.weight", "mlp.2.weight")) else 0.02
            nn.init.normal_(p, 0.0, std)
        elif name.endswith("bias"):
            nn.init.zeros_(p)


class Encoder(nn.Module):
    """``forward(ids [B,L], pos [B,L], mask [B,L]) -> [B, L, d_model]`` (padding rows are junk)."""

    def __init__(self, vocab_size: int, max_positions: int, d_model: int, n_layers: int,
                 n_heads: int, mlp_ratio: float, dropout: float, positions: str):
        super().__init__()
        if positions not in POSITIONS:
            raise ValueError(f"positions must be one of {POSITIONS}, got {positions!r}")
        self.positions, self.d_model, self.n_heads = positions, d_model, n_heads
        self.max_positions = max_positions
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(max_positions, d_model) if positions == "abs" else None
        self.blocks = nn.ModuleList(Block(d_model, n_heads, mlp_ratio, dropout) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        init_weights(self, n_layers)

    def forward(self, ids: torch.Tensor, pos: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.tok(ids)
        rope = None
        if self.pos is not None:
            x = x + self.pos(pos.clamp(max=self.max_positions - 1))
        else:
            rope = rope_cache(pos, self.d_model // self.n_heads)
        for blk in self.blocks:
            x = blk(x, mask, rope)
        return self.ln_f(x)
