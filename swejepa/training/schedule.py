"""The learning-rate schedule of every loop: linear warm-up, then cosine decay."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class WarmupCosine:
    """``lr(step)`` for ``step`` = the number of updates already done: linear warm-up from
    ``peak/warmup`` to ``peak`` over the first ``warmup`` updates, then cosine decay to
    ``min_ratio · peak`` at update ``total`` (and constant after it).

    With ``peak=1.0`` it is the multiplier of the optimizer's learning rate for
    ``torch.optim.lr_scheduler.LambdaLR`` (student, decoder); the teacher sets
    ``WarmupCosine(training.lr, ...)(step)`` on its parameter groups directly. The two uses
    round the warm-up differently (``lr·((s+1)/w)`` vs ``(lr·(s+1))/w``), each as it always did."""

    peak: float
    warmup: int
    total: int
    min_ratio: float

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return self.peak * (step + 1) / max(1, self.warmup)
        prog = min(1.0, (step - self.warmup) / max(1, self.total - self.warmup))
        return self.peak * (self.min_ratio + (1 - self.min_ratio) * 0.5 * (1 + math.cos(math.pi * prog)))

    def scheduler(self, optimizer):
        """A ``LambdaLR`` scaling ``optimizer``'s learning rate by this schedule (``peak=1.0``)."""
        import torch

        return torch.optim.lr_scheduler.LambdaLR(optimizer, self)


def set_lr(optimizer, lr: float) -> None:
    for g in optimizer.param_groups:
        g["lr"] = lr
