"""Inputs of one extraction job: the corpus records, the regions of every mask strategy
that this shard extracts, and the seeded subset of regions that get per-token vectors.

Both selections are teacher-independent (they depend on the seed and the tables only), so
every teacher's file holds the same regions and the same token subset."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from ..teachers.fim import token_span

REGION_COLUMNS = ["file_id", "split", "sig_start_char", "body_start_char", "body_end_char"]


def iter_jsonl(path):
    with open(path) as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def select_files(mask_tables: dict, shard: int, n_shards: int, max_files: int | None, seed: int) -> set[int]:
    """Files this shard extracts: those with regions, in the seeded ``max_files`` subset
    (chosen over all shards, teacher-independent), and ``file_id % n_shards == shard``."""
    ids = sorted(set().union(*[set(t["file_id"].astype(int).tolist()) for t in mask_tables.values()]))
    ids = np.asarray(ids, dtype=np.int64)
    if max_files is not None and len(ids) > max_files:
        rng = np.random.default_rng([seed, 7919])
        ids = np.sort(rng.permutation(ids)[:max_files])
    return {int(i) for i in ids if int(i) % n_shards == shard}


def token_region_count(table, settings, student_examples: int, n_shards: int) -> int:
    """How many regions of one shard's mask table get per-token vectors: every one, at most
    ``extract.token_max_regions``, and — with ``extract.token_epochs`` — only as many as the
    main students need to see each train region at most that often (``student_examples`` =
    their steps x batch size, spread over the shards; the train share of the table scales
    the train regions to all regions)."""
    n = len(table)
    k = n if settings.token_max_regions is None else min(n, int(settings.token_max_regions))
    if settings.token_epochs is None or not student_examples or not n:
        return k
    share = max(float((table["split"] == "train").mean()), 1.0 / n)
    need = math.ceil(student_examples / settings.token_epochs / n_shards / share)
    return min(k, need)


def token_subset(n_regions: int, k: int, seed: int, mask_rank: int) -> set[int]:
    """Positions (into a mask's shard table) of the ``k`` regions that get per-token vectors."""
    rng = np.random.default_rng([seed, 104729, mask_rank])
    k = min(int(k), n_regions)
    return set(np.sort(rng.choice(n_regions, size=k, replace=False)).tolist()) if k else set()


def read_mask_tables(mask_paths: dict) -> dict:
    """``{mask: table}`` with the columns extraction reads and ``row`` (row in the CSV)."""
    import pandas as pd

    tables = {}
    for m, p in mask_paths.items():
        t = pd.read_csv(p, usecols=REGION_COLUMNS, keep_default_na=False)
        t["row"] = np.arange(len(t), dtype=np.int64)
        tables[m] = t
    return tables


@dataclass
class Regions:
    """The regions of every mask that one shard extracts; positions index ``tables[m]``."""
    tables: dict              # mask -> table restricted to ``files`` (``row``: row in the CSV)
    n_in_table: dict          # mask -> rows of the whole CSV
    files: set                # file ids of this shard
    token_subset: dict        # mask -> positions with per-token vectors
    by_file: dict             # mask -> {file_id: positions}
    chars: dict               # mask -> (body_start, body_end, sig_start) char arrays

    @property
    def masks(self) -> list[str]:
        return sorted(self.tables)

    @classmethod
    def read(cls, mask_paths: dict, *, shard: int, n_shards: int, settings, seed: int,
             student_examples: int = 0) -> "Regions":
        """``settings``: the :class:`~swejepa.settings.ExtractSettings` (max_files and the
        per-token set's size, :func:`token_region_count`)."""
        import pandas as pd

        tables = read_mask_tables(mask_paths)
        files = select_files(tables, shard, n_shards, settings.max_files, seed)
        for m, t in tables.items():
            tables[m] = t[t["file_id"].astype(int).isin(files)].reset_index(drop=True)
        n_in_table = {m: int(len(pd.read_csv(p, usecols=["file_id"]))) for m, p in mask_paths.items()}
        subset = {m: token_subset(len(t), token_region_count(t, settings, student_examples, n_shards), seed,
                                  sorted(mask_paths).index(m))
                  for m, t in tables.items()}
        masks = sorted(tables)
        by_file = {m: {fid: g.index.to_numpy() for fid, g in tables[m].groupby(tables[m]["file_id"].astype(int))}
                   for m in masks}
        chars = {m: tuple(tables[m][c].to_numpy(np.int64) for c in ("body_start_char", "body_end_char",
                                                                     "sig_start_char"))
                 for m in masks}
        return cls(tables, n_in_table, files, subset, by_file, chars)

    def token_storage_bytes(self, hidden_size: int, n_layers: int, chars_per_token: float = 3.0) -> int:
        """Estimated bytes of the per-token vectors (fp16, every grid layer) before any
        tokenisation: body characters / ``chars_per_token`` tokens per region (3 is on
        the high side for code and byte-level BPE, so the estimate errs large)."""
        n_tok = 0
        for m, pos in self.token_subset.items():
            start, end, _ = self.chars[m]
            idx = np.fromiter(pos, dtype=np.int64, count=len(pos))
            n_tok += int(np.ceil((end[idx] - start[idx]) / chars_per_token).sum()) if len(idx) else 0
        return int(n_tok) * int(hidden_size) * 2 * int(n_layers)

    def token_spans(self, file_id: int, offsets: np.ndarray) -> tuple[list, list]:
        """Keys ``(mask, position)`` and token spans ``(ctx_start, start, end)`` of the
        regions of one file, given its tokens' character ``offsets``."""
        keys, spans = [], []
        for m in self.masks:
            pos = self.by_file[m].get(file_id)
            if pos is None:
                continue
            body_start, body_end, sig_start = self.chars[m]
            for p in pos:
                a, b = token_span(offsets, int(body_start[p]), int(body_end[p]))
                sc = int(sig_start[p])
                c = token_span(offsets, sc, sc + 1)[0] if sc >= 0 else a
                keys.append((m, int(p)))
                spans.append((min(c, a), a, b))
        return keys, spans


def first_record(files_path, files: set):
    """The first corpus record of this shard (the precision probe's text), or None."""
    return next((r for r in iter_jsonl(files_path) if int(r["file_id"]) in files), None)
