"""Window planning: which windows of a file go through the teacher, and which window
holds each region (pure numpy; no model).

Files that fit are one window. Longer files are cut into consecutive windows whose cut
points are chosen, among region starts/ends in the second half of the window, to split as
few regions as possible; a region that still straddles a cut gets an extra window placed
around it (ending at the region for causal teachers, so it sees the most left context;
centred for bidirectional ones). A region longer than a window is *truncated*: its window
starts at its signature (or its body when the signature is far) and its vectors use the
part that fitted; it is flagged and counted in the report.

Windows are then run in length buckets (:func:`length_buckets`): batches of similar
lengths, longest first, so that little of a batch is padding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Plan:
    windows: list[tuple[int, int]]          # token [s, e) of the file
    assign: np.ndarray                       # [k] window index per span
    truncated: np.ndarray                    # [k] bool
    n_base: int                              # windows before the extra ones


def plan_windows(n: int, spans: np.ndarray, cap: int, causal: bool = True) -> Plan:
    """Cover a file of ``n`` tokens with windows of at most ``cap`` tokens.

    ``spans`` is ``[k, 3]`` token indices ``(ctx_start, start, end)`` per region
    (``ctx_start <= start <= end``). Returns the windows and, per region, the window
    that holds it with the most context (see module docstring)."""
    spans = np.asarray(spans, dtype=np.int64).reshape(-1, 3)
    k = len(spans)
    if cap < 1:
        raise ValueError("window capacity must be >= 1")
    c, a, b = spans[:, 0], spans[:, 1], spans[:, 2]
    windows = _base_windows(n, c, b, cap)
    n_base = len(windows)
    assign = np.full(k, -1, dtype=np.int64)
    trunc = np.zeros(k, dtype=bool)
    for i in range(k):
        assign[i], trunc[i] = _place(windows, n, int(c[i]), int(a[i]), int(b[i]), cap, causal)
    return Plan(windows, assign, trunc, n_base)


def _base_windows(n: int, c: np.ndarray, b: np.ndarray, cap: int) -> list[tuple[int, int]]:
    """Consecutive windows tiling ``[0, n)``, each cut where it splits fewest regions."""
    if n <= cap:
        return [(0, n)]
    fit = (b - c) <= cap  # only regions that could fit a window count as split
    cands = np.unique(np.concatenate([c, b, [n]]))
    windows, s = [], 0
    while s < n:
        e = _cut(s, n, cap, cands, c[fit], b[fit])
        windows.append((s, e))
        s = e
    return windows


def _cut(s: int, n: int, cap: int, cands: np.ndarray, c: np.ndarray, b: np.ndarray) -> int:
    """End of the window starting at ``s``: the candidate cut in its second half that
    splits fewest of the regions ``[c, b)`` (the last such), else ``s + cap``."""
    e = min(s + cap, n)
    if e >= n:
        return e
    ok = cands[(cands > s + cap // 2) & (cands <= e)]
    if not len(ok):
        return e
    # straddle count per candidate cut
    cost = ((c[:, None] < ok[None, :]) & (ok[None, :] < b[:, None])).sum(0) if len(c) else np.zeros(len(ok))
    best = np.flatnonzero(cost == cost.min())[-1]
    return int(ok[best])


def _place(windows: list, n: int, c: int, a: int, b: int, cap: int, causal: bool) -> tuple[int, bool]:
    """The window of region ``(c, a, b)`` and whether it is truncated; appends an extra
    window to ``windows`` when none holds the region (with its signature) well."""
    ws = np.array([w[0] for w in windows])
    we = np.array([w[1] for w in windows])
    if b - a > cap:
        return _place_truncated(windows, ws, we, n, c, a, cap), True
    best = -1
    inside = (ws <= a) & (b <= we)
    if inside.any():
        score = (a - ws) if causal else np.minimum(a - ws, we - b)
        best = int(np.argmax(np.where(inside, score, -1)))
        # An extra window is worth it only if the region lacks its signature here.
        if ws[best] <= c or (b - c) > cap:
            return best, False
    if causal:
        s0 = max(0, b - cap)
    else:
        room = cap - (b - a)
        s0 = max(0, min(a - room // 2, n - cap))
    if best >= 0 and (a - ws[best]) >= (a - s0):
        return best, False
    windows.append((s0, min(n, s0 + cap)))
    return len(windows) - 1, False


def _place_truncated(windows: list, ws: np.ndarray, we: np.ndarray, n: int, c: int, a: int, cap: int) -> int:
    """A region longer than a window: the window from its signature (or its body, when
    the signature is more than a quarter window before it)."""
    s0 = c if (a - c) <= cap // 4 else a
    e0 = min(n, s0 + cap)
    hit = np.flatnonzero((ws == s0) & (we == e0))
    if len(hit):
        return int(hit[0])
    windows.append((s0, e0))
    return len(windows) - 1


def length_buckets(lengths, batch_tokens: int, min_fill: float = 0.85) -> list[np.ndarray]:
    """Batches of window indices, longest first, at most ``batch_tokens`` padded tokens
    each; a batch closes early rather than pad a window shorter than ``min_fill`` × its
    longest (bounds padding waste)."""
    lengths = np.asarray(lengths)
    order = np.argsort(-lengths, kind="stable")
    out, i = [], 0
    while i < len(order):
        mx = int(lengths[order[i]])
        bs = max(1, batch_tokens // max(1, mx))
        j = i + 1
        while j < len(order) and j - i < bs and lengths[order[j]] >= min_fill * mx:
            j += 1
        out.append(order[i:j])
        i = j
    return out
