"""The student: context encoder + predictor, built from its :class:`~swejepa.settings.StudentModel`."""

from __future__ import annotations

import torch
import torch.nn as nn

from ..settings import StudentModel
from .encoder import Encoder
from .predictor import Predictor


class Student(nn.Module):
    def __init__(self, vocab_size: int, max_positions: int, d_target: int, model: StudentModel):
        super().__init__()
        c = model
        # plain dict: saved in checkpoints (rebuilt with StudentModel.from_dict)
        self.cfg = dict(c.to_dict(), vocab_size=vocab_size, max_positions=max_positions, d_target=d_target)
        self.encoder = Encoder(vocab_size + 1, max_positions, c.d_model, c.n_layers, c.n_heads,
                               c.mlp_ratio, c.dropout, c.positions)
        self.predictor = Predictor(c.d_model, d_target, max_positions, c.predictor, c.positions,
                                   c.pred_d_model, c.pred_layers, c.pred_heads, c.mlp_ratio, c.dropout)
        self.unk_id = vocab_size  # ids >= vocab_size (unseen by the teacher's windows)

    def clip_ids(self, ids: torch.Tensor) -> torch.Tensor:
        return torch.where(ids >= self.unk_id, torch.full_like(ids, self.unk_id), ids)

    def encode(self, ids, pos, mask):
        return self.encoder(self.clip_ids(ids), pos, mask)

    def forward(self, batch):
        h = self.encode(batch["ctx_ids"], batch["ctx_pos"], batch["ctx_mask"])
        return self.predictor(h, batch["ctx_pos"], batch["ctx_mask"], batch["tgt_pos"], batch["tgt_mask"])

    def n_params(self, non_embedding: bool = True) -> int:
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.encoder.tok.weight.numel()
            for emb in (self.encoder.pos, self.predictor.pos):
                if emb is not None:
                    n -= emb.weight.numel()
        return int(n)


def build_student(model: StudentModel, vocab_size: int, max_positions: int, d_target: int) -> Student:
    return Student(vocab_size, max_positions, d_target, model)


def batch_tokens(batch) -> int:
    """Tokens processed by one forward: context tokens (encoder) + queries (predictor)."""
    return int(batch["ctx_mask"].sum()) + int(batch["tgt_mask"].sum())


def train_flops(n_params: int, tokens: int) -> float:
    """Training FLOPs, the usual 6 · params · tokens (forward + backward)."""
    return 6.0 * n_params * tokens
