"""Pooling of region spans from a batch's hidden states: mean and last token of each
span ``[p0, p1)`` of a window, at every grid layer, from cumulative sums (one cumsum per
layer serves every region of the batch)."""

from __future__ import annotations

from typing import NamedTuple


class Pooled(NamedTuple):
    mean: object    # numpy fp32 [r, d]: mean over each span (zeros for an empty span)
    last: object    # numpy fp32 [r, d]: the span's last token (zeros for an empty span)
    hidden: object  # torch float32 [B, T, d]: the layer's hidden states (per-token vectors)


def pool_spans(hidden_states, layers: list[int], rows: list[int], starts: list[int], ends: list[int],
               device: str) -> dict[int, Pooled]:
    """``{layer: Pooled}`` for spans ``[starts[r], ends[r])`` of batch rows ``rows[r]``."""
    import torch

    rows_t = torch.tensor(rows, device=device)
    p0_t = torch.tensor(starts, device=device)
    p1_t = torch.tensor([max(e, s + 1) for s, e in zip(starts, ends)], device=device)
    empty = torch.tensor([e <= s for s, e in zip(starts, ends)], device=device)
    pooled = {}
    for li in layers:
        h = hidden_states[li].float()
        cs = torch.cumsum(h, dim=1)
        hi = cs[rows_t, p1_t - 1]
        lo = torch.where((p0_t > 0)[:, None], cs[rows_t, (p0_t - 1).clamp(min=0)], torch.zeros_like(hi))
        mean = (hi - lo) / (p1_t - p0_t)[:, None].float()
        last = h[rows_t, p1_t - 1]
        mean[empty] = 0
        last[empty] = 0
        pooled[li] = Pooled(mean.cpu().numpy(), last.cpu().numpy(), h)
    return pooled
