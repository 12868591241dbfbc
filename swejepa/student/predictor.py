"""Predictor: encoder output + mask positions -> one teacher-sized latent per masked token.

Design question (c) of the seed is ``kind``:

- ``transformer`` — I-JEPA/V-JEPA style narrow transformer: the encoder's context
  tokens (projected to ``d_pred``) and one query token per masked position are
  processed jointly; the query outputs are mapped to the teacher's width.
- ``mlp`` — a per-position MLP: each masked position is predicted independently
  from its query, the mean of the context, and the encoder states of the two
  context tokens that border the masked region (no attention in the predictor).

Design question (a) is ``positions`` (shared with the encoder): a query is a learned
mask embedding plus the learned embedding of its target position (``abs``), or the
learned mask embedding with rotary positions in attention (``rope``; for the MLP the
query vector itself is rotated by its position, as RoPE rotates queries).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .encoder import Block, POSITIONS, apply_rope, init_weights, rope_cache

KINDS = ("transformer", "mlp")


class Predictor(nn.Module):
    def __init__(self, d_enc: int, d_out: int, max_positions: int, kind: str, positions: str, d_pred: int,
                 n_layers: int, n_heads: int, mlp_ratio: float, dropout: float):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"predictor must be one of {KINDS}, got {kind!r}")
        if positions not in POSITIONS:
            raise ValueError(f"positions must be one of {POSITIONS}, got {positions!r}")
        self.kind, self.positions, self.d_pred, self.n_heads = kind, positions, d_pred, n_heads
        self.max_positions = max_positions
        self.embed = nn.Linear(d_enc, d_pred)
        self.mask_token = nn.Parameter(torch.zeros(d_pred))
        self.pos = nn.Embedding(max_positions, d_pred) if positions == "abs" else None
        if kind == "transformer":
            self.blocks = nn.ModuleList(Block(d_pred, n_heads, mlp_ratio, dropout) for _ in range(n_layers))
            self.ln = nn.LayerNorm(d_pred)
            self.head = nn.Linear(d_pred, d_out)
        else:
            h = int(d_pred * mlp_ratio)
            layers: list[nn.Module] = [nn.LayerNorm(4 * d_pred), nn.Linear(4 * d_pred, h), nn.GELU()]
            for _ in range(max(0, n_layers - 1)):
                layers += [nn.Linear(h, h), nn.GELU()]
            layers.append(nn.Linear(h, d_out))
            self.mlp = nn.Sequential(*layers)
        init_weights(self, max(1, n_layers))
        nn.init.normal_(self.mask_token, 0.0, 0.02)

    def _pos(self, p):
        return self.pos(p.clamp(max=self.max_positions - 1))

    def forward(self, h, ctx_pos, ctx_mask, tgt_pos, tgt_mask):
        """``h [B,Lc,D]`` encoder output; returns ``[B, Lt, d_out]``."""
        B, Lt = tgt_pos.shape
        c = self.embed(h)
        q = self.mask_token.expand(B, Lt, -1)
        if self.kind == "transformer":
            if self.pos is not None:
                c = c + self._pos(ctx_pos)
                q = q + self._pos(tgt_pos)
                rope = None
            else:
                rope = rope_cache(torch.cat([ctx_pos, tgt_pos], 1), self.d_pred // self.n_heads)
            x = torch.cat([c, q], dim=1)
            m = torch.cat([ctx_mask, tgt_mask], dim=1)
            for blk in self.blocks:
                x = blk(x, m, rope)
            return self.head(self.ln(x[:, -Lt:]))
        # per-position MLP
        if self.pos is not None:
            q = q + self._pos(tgt_pos)
        else:
            cos, sin = rope_cache(tgt_pos, self.d_pred)
            q = apply_rope(q, cos[:, 0], sin[:, 0])
        mf = ctx_mask.unsqueeze(-1).to(c.dtype)
        mean = (c * mf).sum(1) / mf.sum(1).clamp(min=1.0)
        start = tgt_pos[:, :1]
        n_left = ((ctx_pos < start) & ctx_mask).sum(1)
        n_valid = ctx_mask.sum(1)
        left = (n_left - 1).clamp(min=0)
        right = torch.minimum(n_left, (n_valid - 1).clamp(min=0))
        idx = torch.arange(B, device=c.device)
        ctx_feat = torch.cat([mean, c[idx, left], c[idx, right]], dim=-1)  # [B, 3*d]
        feats = torch.cat([ctx_feat[:, None].expand(B, Lt, -1), q], dim=-1)
        return self.mlp(feats)
