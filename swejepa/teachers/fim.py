"""Fill-in-the-middle (FIM) training examples, PSM order (Bavarian et al., 2022).

A chunk of a tokenised file ``c`` and a middle span ``[a, b)`` become::

    <fim_prefix> c[:a] <fim_suffix> c[b:] <fim_middle> c[a:b] <eos>

The middle is either a masked region of the file (a function/method body or handler
from the masks table, when one fits in the chunk) or a random span. With probability
``1 - fim_rate`` the chunk is used as plain left-to-right text instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class FimExample:
    input_ids: list[int]
    kind: str  # "region" | "random" | "plain"
    middle: tuple[int, int] | None  # token span [a, b) inside the chunk


def make_fim_example(chunk: list[int] | np.ndarray, a: int, b: int, ids: dict[str, int]) -> list[int]:
    """PSM layout of ``chunk`` with middle ``chunk[a:b]``; ``ids`` from ``sentinel_ids``."""
    chunk = list(map(int, chunk))
    if not (0 <= a <= b <= len(chunk)):
        raise ValueError(f"middle span [{a}, {b}) outside a chunk of {len(chunk)} tokens")
    return ([ids["prefix"]] + chunk[:a] + [ids["suffix"]] + chunk[b:] + [ids["middle"]] + chunk[a:b]
            + [ids["eos"]])


def split_fim_example(example: list[int], ids: dict[str, int]) -> tuple[list[int], list[int], list[int]]:
    """Inverse of :func:`make_fim_example`: (prefix, middle, suffix)."""
    if example[0] != ids["prefix"] or example[-1] != ids["eos"]:
        raise ValueError("not a PSM FIM example")
    s = example.index(ids["suffix"])
    m = example.index(ids["middle"], s)
    return example[1:s], example[m + 1:-1], example[s + 1:m]


def token_span(offsets: np.ndarray, start_char: int, end_char: int) -> tuple[int, int]:
    """Tokens ``[a, b)`` whose character offsets overlap ``[start_char, end_char)``.

    ``offsets`` is the ``[n, 2]`` offset mapping (char start, end) of a tokenisation
    without special tokens, in order. Empty span -> ``a == b``."""
    ends = offsets[:, 1]
    starts = offsets[:, 0]
    a = int(np.searchsorted(ends, start_char, side="right"))
    if end_char <= start_char:
        return a, a
    b = int(np.searchsorted(starts, end_char, side="left"))
    return a, max(a, b)


def sample_fim_example(rng: np.random.Generator, ids_arr: np.ndarray, region_spans: np.ndarray,
                       seq_len: int, sent: dict[str, int], fim_rate: float,
                       region_fraction: float) -> FimExample:
    """One training example of at most ``seq_len`` tokens from a tokenised file.

    ``region_spans`` is ``[k, 2]`` token spans of the file's masked regions."""
    n = len(ids_arr)
    plain = rng.random() >= fim_rate
    cap = seq_len - (1 if plain else 4)  # sentinels + eos
    if cap < 2:
        raise ValueError(f"seq_len {seq_len} too short for FIM")
    use_region = (not plain) and len(region_spans) > 0 and rng.random() < region_fraction
    if use_region:
        lens = region_spans[:, 1] - region_spans[:, 0]
        ok = np.flatnonzero((lens > 0) & (lens <= cap - 1) & (region_spans[:, 1] <= n))
        if len(ok):
            ra, rb = region_spans[int(rng.choice(ok))]
            # Any chunk start that keeps the region whole.
            s = int(rng.integers(max(0, rb - cap), ra + 1))
            chunk = ids_arr[s:s + cap]
            a, b = int(ra - s), int(min(rb - s, len(chunk)))
            return FimExample(make_fim_example(chunk, a, b, sent), "region", (a, b))
    s = int(rng.integers(0, n - cap + 1)) if n > cap else 0
    chunk = ids_arr[s:s + cap]
    if plain:
        return FimExample(list(map(int, chunk)) + [sent["eos"]], "plain", None)
    m = len(chunk)
    a, b = sorted(int(x) for x in rng.integers(0, m + 1, size=2))
    return FimExample(make_fim_example(chunk, a, b, sent), "random", (a, b))


def collate(examples: list[list[int]], seq_len: int, pad_id: int):
    """Right-pad to ``seq_len``; labels are -100 on padding (HF shifts internally)."""
    import torch

    x = torch.full((len(examples), seq_len), pad_id, dtype=torch.long)
    att = torch.zeros((len(examples), seq_len), dtype=torch.long)
    for i, ex in enumerate(examples):
        ex = ex[:seq_len]
        x[i, :len(ex)] = torch.tensor(ex, dtype=torch.long)
        att[i, :len(ex)] = 1
    labels = x.masked_fill(att == 0, -100)
    return x, att, labels
