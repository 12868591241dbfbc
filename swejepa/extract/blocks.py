"""The corpus streamed in blocks of files (memory does not grow with the corpus): each
block is tokenised and planned into windows (:func:`plan_block`), forwarded once into
buffers allocated for it (:class:`BlockBuffers`), and written (:func:`write_block`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .inputs import Regions, iter_jsonl
from .teacher import Teacher
from .windows import plan_windows


def corpus_blocks(files_path, files: set, cap: int, block_windows: int):
    """This shard's corpus records in blocks of about ``block_windows`` windows (estimated
    from the text length, before tokenising)."""
    block, nwin_est = [], 0
    for r in iter_jsonl(files_path):
        if int(r["file_id"]) not in files:
            continue
        block.append(r)
        nwin_est += 1 + len(r["content"]) // (3 * cap)
        if nwin_est >= int(block_windows):
            yield block
            block, nwin_est = [], 0
    if block:
        yield block


@dataclass
class Block:
    """The windows of a block of files and the regions they hold, per mask."""
    masks: list[str]
    rows: list = field(default_factory=list)      # window token rows, specials included
    files: list = field(default_factory=list)     # (file_id, split) per window
    jobs: list = field(default_factory=list)      # per window: ((mask, position), p0, p1) to pool
    regions: dict = field(init=False)             # mask -> [(position, n_tokens, n_tokens_full, truncated,
    #                                               row of /windows/input_ids, pos_start, ctx_start)]
    tokens: dict = field(init=False)              # mask -> {position: (row of /windows/input_ids, pos_start,
    #                                               ctx_start)} of the regions with per-token vectors
    n_files: int = 0                              # files with regions
    n_base_windows: int = 0
    corpus_tokens: int = 0                        # tokens of every file of the block

    def __post_init__(self):
        self.regions = {m: [] for m in self.masks}
        self.tokens = {m: {} for m in self.masks}

    def add_file(self, rec: dict, ids: np.ndarray, keys: list, spans: list, teacher: Teacher, subset: dict,
                 win_base: int) -> None:
        """Windows of one file, and per region its span in its window (``win_base``: rows of
        ``/windows/input_ids`` before this block)."""
        fid = int(rec["file_id"])
        self.n_files += 1
        plan = plan_windows(len(ids), np.asarray(spans), teacher.cap, teacher.causal)
        self.n_base_windows += plan.n_base
        local0, npre = len(self.rows), len(teacher.prefix)
        for (s, e) in plan.windows:
            self.rows.append(teacher.frame(ids[s:e].tolist()))
            self.files.append((fid, rec.get("split", "")))
            self.jobs.append([])
        for key, (c, a, b), wi, tr in zip(keys, spans, plan.assign, plan.truncated):
            s, e = plan.windows[wi]
            p0 = a - s + npre
            p1 = min(b, e) - s + npre
            m, p = key
            self.jobs[local0 + wi].append((key, p0, p1))
            place = (win_base + local0 + wi, p0, max(c, s) - s + npre)
            self.regions[m].append((p, max(0, p1 - p0), b - a, bool(tr), *place))
            if p in subset[m]:
                self.tokens[m][p] = place


def plan_block(recs: list[dict], teacher: Teacher, regions: Regions, win_base: int) -> Block:
    """Tokenise a block of records and plan its windows."""
    encs = teacher.backend.encode_batch([r["content"] for r in recs], add_special_tokens=False)
    block = Block(regions.masks)
    for r, enc in zip(recs, encs):
        ids = np.asarray(enc.ids, dtype=np.int32)
        offs = np.asarray(enc.offsets, dtype=np.int64).reshape(-1, 2)
        block.corpus_tokens += len(ids)
        keys, spans = regions.token_spans(int(r["file_id"]), offs)
        if keys:
            block.add_file(r, ids, keys, spans, teacher, regions.token_subset, win_base)
    for ro in block.regions.values():
        ro.sort()
    return block


class BlockBuffers:
    """Where one block's forwards put their vectors: per mask, pooled ``[U, 2, k, d]``
    (grid layer, mean/last, region) and per-token ``[U, T, d]`` arrays of ``dtype`` (float16,
    or float32 when the storage dtype is not float16: :func:`swejepa.storage.buffer_dtype`).

    Block buffers, allocated once before this block's forwards: each batch's pooled and
    per-token vectors are copied in and its tensors freed, so nothing allocated between
    two forwards outlives its batch. (Thousands of small per-region arrays kept until the
    block's end sat between the forward's large tensors in the heap, which then could not
    be reused or trimmed: the peak grew with the number of blocks, i.e. with the corpus.)"""

    def __init__(self, block: Block, grid: list[int], d: int, dtype=np.float16):
        self.grid = grid
        self.slot, self.pooled, self.tok_slot, self.tokens = {}, {}, {}, {}
        for m, ro in block.regions.items():
            self.slot[m] = {x[0]: i for i, x in enumerate(ro)}
            self.pooled[m] = np.zeros((len(grid), 2, len(ro), d), dtype)
            ntok = {x[0]: x[1] for x in ro}
            self.tok_slot[m], o = {}, 0
            for p in sorted(block.tokens[m]):
                self.tok_slot[m][p] = (o, ntok[p])
                o += ntok[p]
            self.tokens[m] = np.zeros((len(grid), o, d), dtype)

    def sink(self, reqs: list, pooled: dict) -> None:
        """Copy one batch's pooled vectors and per-token vectors in (a :class:`Forward` sink)."""
        import torch

        for m in self.slot:
            ris = [ri for ri, r in enumerate(reqs) if r[1][0] == m]
            if not ris:
                continue
            rows = [self.slot[m][reqs[ri][1][1]] for ri in ris]
            for u, li in enumerate(self.grid):
                self.pooled[m][u, 0, rows] = pooled[li].mean[ris]
                self.pooled[m][u, 1, rows] = pooled[li].last[ris]
        for bi, (m, p), p0, _ in reqs:
            ts = self.tok_slot[m].get(p)
            if ts and ts[1]:
                o, n = ts
                for u, li in enumerate(self.grid):
                    torch.from_numpy(self.tokens[m][u, o:o + n]).copy_(pooled[li].hidden[bi, p0:p0 + n])


def write_block(writer, block: Block, buffers: BlockBuffers, layer_index: dict[str, int]) -> None:
    """Put the block's regions (counts, flags, pooled vectors) and append its per-token vectors."""
    for m, ro in block.regions.items():
        if not ro:
            continue
        slot = {ln: buffers.grid.index(li) for ln, li in layer_index.items()}
        writer.put_regions(m, np.array([x[0] for x in ro], dtype=np.int64),
                           n_tokens=[x[1] for x in ro], n_tokens_full=[x[2] for x in ro],
                           truncated=[x[3] for x in ro], window=[x[4] for x in ro], pos_start=[x[5] for x in ro],
                           ctx_start=[x[6] for x in ro],
                           vectors={ln: (buffers.pooled[m][u, 0], buffers.pooled[m][u, 1]) for ln, u in slot.items()})
        tpos = sorted(buffers.tok_slot[m])
        if tpos:
            meta = block.tokens[m]
            writer.append_tokens(m, region_sel=tpos, window=[meta[p][0] for p in tpos],
                                 pos_start=[meta[p][1] for p in tpos], ctx_start=[meta[p][2] for p in tpos],
                                 lengths=[buffers.tok_slot[m][p][1] for p in tpos],
                                 vectors={ln: buffers.tokens[m][u] for ln, u in slot.items()})
