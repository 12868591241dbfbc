"""Latent extraction: ONE forward pass of a frozen teacher over the corpus, written to HDF5.

Layers, pools and mask strategies are views of that single pass: every file is tokenised
once, cut into windows of the teacher's context, each window goes through the model once
with ``output_hidden_states``, and every region of every mask strategy is pooled (mean and
last token) at every grid layer from the window that holds it with the most context.
The layout is the README's data contract (``latents/{teacher}/shard{i}of{n}.h5``).

Windowing (:func:`plan_windows`): files that fit are one window. Longer files are cut into
consecutive windows whose cut points are chosen, among region starts/ends in the second
half of the window, to split as few regions as possible; a region that still straddles a
cut gets an extra window placed around it (ending at the region for causal teachers, so
it sees the most left context; centred for bidirectional ones). A region longer than a
window is *truncated*: its window starts at its signature (or its body when the signature
is far) and its vectors use the part that fitted; it is flagged and counted in the report.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .layout import Layout
from .settings import LAYER_NAMES, ExtractSettings, TeacherSpec
from .teachers.fim import token_span
from .teachers.registry import layer_indices, load_teacher, resolve_source


# --------------------------------------------------------------------------- windows
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
    if n <= cap:
        windows = [(0, n)]
    else:
        fit = (b - c) <= cap
        cands = np.unique(np.concatenate([c, b, [n]]))
        windows, s = [], 0
        while s < n:
            e = min(s + cap, n)
            if e < n:
                ok = cands[(cands > s + cap // 2) & (cands <= e)]
                if len(ok):
                    # straddle count per candidate cut (only regions that could fit a window)
                    cc, bb = c[fit][:, None], b[fit][:, None]
                    cost = ((cc < ok[None, :]) & (ok[None, :] < bb)).sum(0) if fit.any() else np.zeros(len(ok))
                    best = np.flatnonzero(cost == cost.min())[-1]
                    e = int(ok[best])
            windows.append((s, e))
            s = e
    n_base = len(windows)
    assign = np.full(k, -1, dtype=np.int64)
    trunc = np.zeros(k, dtype=bool)
    for i in range(k):
        ci, ai, bi = int(c[i]), int(a[i]), int(b[i])
        ws = np.array([w[0] for w in windows])
        we = np.array([w[1] for w in windows])
        if bi - ai <= cap:
            inside = (ws <= ai) & (bi <= we)
            if inside.any():
                if causal:
                    score = (ai - ws) + 0 * we
                else:
                    score = np.minimum(ai - ws, we - bi)
                score = np.where(inside, score, -1)
                assign[i] = int(np.argmax(score))
                # An extra window is worth it only if the region lacks its signature here.
                if ws[assign[i]] <= ci or (bi - ci) > cap:
                    continue
            if causal:
                s0 = max(0, bi - cap)
            else:
                room = cap - (bi - ai)
                s0 = max(0, min(ai - room // 2, n - cap))
            e0 = min(n, s0 + cap)
            if assign[i] >= 0 and (ai - ws[assign[i]]) >= (ai - s0):
                continue
            windows.append((s0, e0))
            assign[i] = len(windows) - 1
        else:
            trunc[i] = True
            s0 = ci if (ai - ci) <= cap // 4 else ai
            e0 = min(n, s0 + cap)
            hit = np.flatnonzero((ws == s0) & (we == e0))
            if len(hit):
                assign[i] = int(hit[0])
            else:
                windows.append((s0, e0))
                assign[i] = len(windows) - 1
    return Plan(windows, assign, trunc, n_base)


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


def special_layout(tokenizer) -> tuple[list[int], list[int]]:
    """Special tokens the teacher expects around a sequence (BERT: [CLS] ... [SEP]; Qwen: none)."""
    probe = "x = 1"
    bare = tokenizer(probe, add_special_tokens=False)["input_ids"]
    full = tokenizer(probe, add_special_tokens=True)["input_ids"]
    for k in range(len(full) - len(bare) + 1):
        if full[k:k + len(bare)] == bare:
            return list(full[:k]), list(full[k + len(bare):])
    return [], []


def pad_id_of(tokenizer) -> int:
    for cand in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0):
        if cand is not None:
            return int(cand)
    return 0


# --------------------------------------------------------------------------- precision
def precision_check(model, batch: dict, layer_idx: list[int], device: str) -> dict:
    """Cosine between fp32 and bf16-autocast hidden states at the grid layers, per position."""
    import torch

    from .teachers.train import autocast_ctx

    with torch.no_grad():
        h32 = model(**batch, output_hidden_states=True).hidden_states
        with autocast_ctx(device, True):
            h16 = model(**batch, output_hidden_states=True).hidden_states
    m = batch["attention_mask"].bool()
    out = {}
    for li in sorted(set(layer_idx)):
        a = h32[li].float()[m]
        b = h16[li].float()[m]
        cos = torch.nn.functional.cosine_similarity(a, b, dim=-1)
        out[str(li)] = {"min": float(cos.min()), "mean": float(cos.mean())}
    out["min"] = min(v["min"] for v in out.values())
    return out


def forward_speedup(model, batch: dict, device: str, reps: int = 2) -> dict:
    """Time this teacher's own forward on ``batch`` in fp32 and under bf16 autocast (after
    one warm-up each): a bf16 matmul can be faster on the machine (AMX) while a small
    model's forward is not (cast overheads dominate narrow layers)."""
    import time

    import torch

    from .teachers.train import autocast_ctx

    out = {}
    with torch.no_grad():
        for name, bf16 in (("fp32", False), ("bf16", True)):
            with autocast_ctx(device, bf16):
                model(**batch)
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                for _ in range(reps):
                    model(**batch)
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
            out[f"forward_{name}_s"] = (time.perf_counter() - t0) / reps
    out["forward_speedup"] = out["forward_fp32_s"] / max(1e-12, out["forward_bf16_s"])
    return out


def code_version() -> str:
    h = hashlib.sha256()
    root = Path(__file__).parent
    for p in sorted([root / "extract.py", *(root / "teachers").glob("*.py")]):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    try:
        from importlib.metadata import version

        v = version("swejepa")
    except Exception:  # noqa: BLE001
        v = "0"
    return f"swejepa-{v}+src.{h.hexdigest()[:12]}"


# --------------------------------------------------------------------------- inputs
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


# --------------------------------------------------------------------------- main
class _Interrupted(BaseException):
    pass


def _raise_on_term(signum, frame):  # noqa: ARG001
    raise _Interrupted(f"signal {signum}")


def extract(*, teacher: TeacherSpec, index: int | None, files_path, mask_paths: dict, out_h5, report_path=None,
            manifest_path=None, bench_path=None, layout: Layout | str = "results", layers=LAYER_NAMES,
            settings: ExtractSettings = ExtractSettings(), seed: int = 0, shard: int = 0,
            n_shards: int, log: Callable[[str], None] | None = None, stop_after_batches: int | None = None,
            forward_timer: list | None = None) -> dict:
    """Run one teacher over (a shard of) the corpus; write ``out_h5`` atomically.

    Returns the report dict (also written to ``report_path``). ``stop_after_batches``
    raises after that many forward batches (tests: an interrupted job leaves no output).
    ``forward_timer`` (a list) receives the seconds spent in ``model(...)`` per batch."""
    import h5py
    import pandas as pd
    import torch

    from .runtime import atomic_path, pick_device, write_text_atomic

    st = settings
    log = log or (lambda m: None)
    if st.hf_offline:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    # 1. Fail before any compute when the teacher is not there.
    resolve_source(teacher, layout, index)
    t_start = time.perf_counter()

    # 2. Regions of every mask, restricted to this shard's files.
    tables = {}
    for m, p in mask_paths.items():
        t = pd.read_csv(p, usecols=["file_id", "split", "sig_start_char", "body_start_char", "body_end_char"],
                        keep_default_na=False)
        t["row"] = np.arange(len(t), dtype=np.int64)
        tables[m] = t
    keep_files = select_files(tables, shard, n_shards, st.max_files, seed)
    for m in tables:
        t = tables[m]
        tables[m] = t[t["file_id"].astype(int).isin(keep_files)].reset_index(drop=True)
    n_regions_total = {m: int(len(pd.read_csv(p, usecols=["file_id"]))) for m, p in mask_paths.items()}

    device = pick_device(st.device)
    from .runtime import bound_cpu_memory, release_free_memory

    if device == "cpu":
        log(f"cpu memory settings: {bound_cpu_memory()}")
    # Weights in the entry's dtype (cluster: bfloat16 for the Qwen models), else fp32 and
    # bf16 autocast decided below.
    load_dtype = teacher.dtype if teacher.dtype != "auto" else "float32"
    model, tok, info = load_teacher(teacher, layout, index, device=device, dtype=load_dtype)
    L, d = info["n_layers"], info["hidden_size"]
    lidx = layer_indices(L, layers)
    uniq = sorted(set(lidx.values()))
    causal = bool(info["is_causal"])
    pre, suf = special_layout(tok)
    pad = pad_id_of(tok)
    maxpos = info["max_positions"] or st.window
    W = int(min(st.window, maxpos))
    cap = W - len(pre) - len(suf)
    backend = tok.backend_tokenizer
    log(f"teacher {teacher.name}: L={L} d={d} layers={lidx} causal={causal} window={W} (cap {cap}) "
        f"specials={pre}/{suf} device={device} files={len(keep_files)}")

    def to_batch(rows: list[list[int]]):
        # Lengths rounded up to a multiple of 16 (at most W): few distinct batch shapes, so
        # the allocator and oneDNN's primitive cache reuse their buffers and memory stays
        # flat over a long corpus (bf16 on CPU grew ~1 GB with every length distinct).
        mx = max(len(r) for r in rows)
        mx = max(mx, min(W, -(-mx // 16) * 16))
        x = np.full((len(rows), mx), pad, dtype=np.int64)
        att = np.zeros((len(rows), mx), dtype=np.int64)
        for i, r in enumerate(rows):
            x[i, :len(r)] = r
            att[i, :len(r)] = 1
        return {"input_ids": torch.from_numpy(x).to(device), "attention_mask": torch.from_numpy(att).to(device)}

    # 3. Precision: bf16 autocast only where faster and faithful; record the check.
    from .teachers.train import bf16_is_faster

    first = next((r for r in iter_jsonl(files_path) if int(r["file_id"]) in keep_files), None)
    probe_ids = backend.encode((first or {"content": "def f(x):\n    return x\n"})["content"][:2000],
                               add_special_tokens=False).ids[:max(8, min(48, cap))]
    if load_dtype != "float32":
        check = {"min": float("nan"), "skipped": f"weights loaded in {load_dtype} ({teacher.name}.dtype)"}
    elif st.dtype == "float32":
        check = {"min": float("nan"), "skipped": "extract.dtype is float32"}
    else:
        check = precision_check(model, to_batch([pre + probe_ids + suf]), uniq, device)
    faster, rates = bf16_is_faster(device) if st.dtype == "auto" else (st.dtype == "bfloat16", {})
    if st.dtype == "auto" and faster and load_dtype == "float32" and not device.startswith("cuda"):
        # Recorded, not decided on: this teacher's own forward speed-up on full windows. A
        # decision on a timing this close to 1 (narrow models) would flip between runs on a
        # loaded machine and break byte-identical reruns; the matmul check has a wide margin.
        long_ids = backend.encode((first or {"content": "def f(x):\n    return x\n" * 200})["content"],
                                  add_special_tokens=False).ids
        row = pre + (long_ids * (1 + cap // max(1, len(long_ids))))[:cap] + suf
        k = max(1, min(8, int(st.batch_tokens) // max(1, len(row))))
        rates.update(forward_speedup(model, to_batch([row] * k), device))
    use_bf16 = load_dtype == "float32" and ((st.dtype == "bfloat16") or (
        st.dtype == "auto" and faster and check["min"] >= st.bf16_min_cosine))
    check.update({"requested": st.dtype, "bf16_faster": bool(faster), **rates,
                  "threshold": st.bf16_min_cosine,
                  "used": "bfloat16" if use_bf16 else load_dtype})
    log(f"precision check: {check}")
    from .teachers.train import autocast_ctx

    # 4. Token-level subset: seeded, teacher-independent.
    sel = {}
    for m, t in tables.items():
        rng = np.random.default_rng([seed, 104729, sorted(mask_paths).index(m)])
        k = min(int(st.token_max_regions), len(t))
        sel[m] = set(np.sort(rng.choice(len(t), size=k, replace=False)).tolist()) if k else set()

    masks = sorted(tables)
    # positions of each file's regions per mask
    by_file = {m: {fid: g.index.to_numpy() for fid, g in tables[m].groupby(tables[m]["file_id"].astype(int))}
               for m in masks}
    cols = {m: tuple(tables[m][c].to_numpy(np.int64) for c in ("body_start_char", "body_end_char", "sig_start_char"))
            for m in masks}
    counters = {"n_files": 0, "n_windows": 0, "n_base_windows": 0, "tokens_forward": 0, "tokens_padded": 0,
                "corpus_tokens": 0, "batches": 0, "forward_s": 0.0, "stream_s": 0.0}

    old_term = signal.signal(signal.SIGTERM, _raise_on_term) if _main_thread() else None
    try:
        with atomic_path(out_h5) as tmp:
            # No HDF5 chunk cache: every write covers whole blocks of rows, and 1 MB caches on
            # ~50 datasets filled up block by block (memory grew with the corpus).
            with h5py.File(tmp, "w", rdcc_nbytes=0) as h5:
                dsets = {}
                for m in masks:
                    n = len(tables[m])
                    g = h5.create_group(m)
                    g.create_dataset("region_index", data=tables[m]["row"].to_numpy(np.int64))
                    dsets[m, "n_tokens"] = g.create_dataset("n_tokens", shape=(n,), dtype=np.int32)
                    dsets[m, "n_tokens_full"] = g.create_dataset("n_tokens_full", shape=(n,), dtype=np.int32)
                    dsets[m, "truncated"] = g.create_dataset("truncated", shape=(n,), dtype=bool)
                    for ln in layers:
                        for pool in ("mean", "last"):
                            dsets[m, ln, pool] = g.create_dataset(
                                f"{ln}/{pool}", shape=(n, d), dtype=np.float16,
                                chunks=(max(1, min(n, 256)), d) if n else None)
                    tg = g.create_group("tokens")
                    for name, dt in (("region_sel", np.int64), ("window", np.int32), ("pos_start", np.int32),
                                     ("ctx_start", np.int32)):
                        dsets[m, "tok", name] = tg.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dt,
                                                                  chunks=(4096,))
                    dsets[m, "tok", "offsets"] = tg.create_dataset("offsets", data=np.zeros(1, np.int64),
                                                                   maxshape=(None,), chunks=(4096,))
                    for ln in layers:
                        dsets[m, "tok", ln] = tg.create_dataset(ln, shape=(0, d), maxshape=(None, d),
                                                                dtype=np.float16, chunks=(1024, d))
                wg = h5.create_group("windows")
                w_ids = wg.create_dataset("input_ids", shape=(0, W), maxshape=(None, W), dtype=np.int32,
                                          chunks=(64, W))
                w_len = wg.create_dataset("length", shape=(0,), maxshape=(None,), dtype=np.int32, chunks=(4096,))
                w_fid = wg.create_dataset("file_id", shape=(0,), maxshape=(None,), dtype=np.int32, chunks=(4096,))
                w_split = wg.create_dataset("split", shape=(0,), maxshape=(None,), dtype="S5", chunks=(4096,))

                def append(ds, arr):
                    n0 = ds.shape[0]
                    ds.resize(n0 + len(arr), axis=0)
                    ds[n0:] = arr

                def put(ds, pos, arr):
                    """``ds[pos] = arr`` for increasing ``pos``; one hyperslab when contiguous."""
                    if len(pos) and pos[-1] - pos[0] + 1 == len(pos):
                        ds[int(pos[0]):int(pos[-1]) + 1] = arr
                    else:
                        ds[pos] = arr

                def run_batches(win_rows: list[list[int]], jobs: list[list[tuple]], sink):
                    """Forward windows in length buckets; ``jobs[w]`` = (key, p0, p1) to pool in window w."""
                    for idx in length_buckets([len(r) for r in win_rows], int(st.batch_tokens)):
                        batch = to_batch([win_rows[j] for j in idx])
                        t0 = time.perf_counter()
                        with torch.no_grad(), autocast_ctx(device, use_bf16):
                            hs = model(**batch, output_hidden_states=True).hidden_states
                        if device.startswith("cuda"):
                            torch.cuda.synchronize()
                        dt = time.perf_counter() - t0
                        counters["forward_s"] += dt
                        if forward_timer is not None:
                            forward_timer.append(dt)
                        counters["batches"] += 1
                        counters["tokens_forward"] += int(batch["attention_mask"].sum())
                        counters["tokens_padded"] += int(batch["attention_mask"].numel())
                        # gather pooling requests of this batch
                        reqs = [(bi, key, p0, p1) for bi, wj in enumerate(idx) for key, p0, p1 in jobs[wj]]
                        if reqs:
                            rows_t = torch.tensor([r[0] for r in reqs], device=device)
                            p0_t = torch.tensor([r[2] for r in reqs], device=device)
                            p1_t = torch.tensor([max(r[3], r[2] + 1) for r in reqs], device=device)
                            empty = torch.tensor([r[3] <= r[2] for r in reqs], device=device)
                            pooled = {}
                            for li in uniq:
                                h = hs[li].float()
                                cs = torch.cumsum(h, dim=1)
                                hi = cs[rows_t, p1_t - 1]
                                lo = torch.where((p0_t > 0)[:, None], cs[rows_t, (p0_t - 1).clamp(min=0)],
                                                 torch.zeros_like(hi))
                                mean = (hi - lo) / (p1_t - p0_t)[:, None].float()
                                last = h[rows_t, p1_t - 1]
                                mean[empty] = 0
                                last[empty] = 0
                                pooled[li] = (mean.half().cpu().numpy(), last.half().cpu().numpy(), h)
                            sink(reqs, pooled)
                        if stop_after_batches is not None and counters["batches"] >= stop_after_batches:
                            raise _Interrupted("stop_after_batches (test hook)")
                        del hs

                # ---- stream the corpus in blocks of files
                win_base = 0
                tok_written = {m: 0 for m in masks}
                sel_order = {m: [] for m in masks}
                trunc_count = {m: 0 for m in masks}
                empty_count = {m: 0 for m in masks}

                def process_block(recs):
                    nonlocal win_base
                    encs = backend.encode_batch([r["content"] for r in recs], add_special_tokens=False)
                    win_rows, win_meta, jobs = [], [], []
                    region_out = {m: [] for m in masks}   # (pos, n_tok, n_full, trunc)
                    tok_meta = {m: {} for m in masks}      # pos -> (global window, pos_start, ctx_start)
                    for r, enc in zip(recs, encs):
                        fid = int(r["file_id"])
                        ids = np.asarray(enc.ids, dtype=np.int32)
                        offs = np.asarray(enc.offsets, dtype=np.int64).reshape(-1, 2)
                        counters["corpus_tokens"] += len(ids)
                        keys, spans = [], []
                        for m in masks:
                            pos = by_file[m].get(fid)
                            if pos is None:
                                continue
                            bs_, be_, ss_ = cols[m]
                            for p_ in pos:
                                a, b = token_span(offs, int(bs_[p_]), int(be_[p_]))
                                sc = int(ss_[p_])
                                c = token_span(offs, sc, sc + 1)[0] if sc >= 0 else a
                                keys.append((m, int(p_)))
                                spans.append((min(c, a), a, b))
                        if not keys:
                            continue
                        counters["n_files"] += 1
                        plan = plan_windows(len(ids), np.asarray(spans), cap, causal)
                        counters["n_base_windows"] += plan.n_base
                        local0 = len(win_rows)
                        for (s, e) in plan.windows:
                            win_rows.append(pre + ids[s:e].tolist() + suf)
                            win_meta.append((fid, r.get("split", "")))
                            jobs.append([])
                        for (key, (c, a, b), wi, tr) in zip(keys, spans, plan.assign, plan.truncated):
                            s, e = plan.windows[wi]
                            p0 = a - s + len(pre)
                            p1 = min(b, e) - s + len(pre)
                            m, p_ = key
                            jobs[local0 + wi].append((key, p0, p1))
                            region_out[m].append((p_, max(0, p1 - p0), b - a, bool(tr)))
                            if p_ in sel[m]:
                                tok_meta[m][p_] = (win_base + local0 + wi, p0, max(c, s) - s + len(pre))
                    if not win_rows:
                        return
                    # windows dataset
                    arr = np.full((len(win_rows), W), pad, dtype=np.int32)
                    for i, row in enumerate(win_rows):
                        arr[i, :len(row)] = row
                    append(w_ids, arr)
                    append(w_len, np.array([len(x) for x in win_rows], dtype=np.int32))
                    append(w_fid, np.array([x[0] for x in win_meta], dtype=np.int32))
                    append(w_split, np.array([str(x[1]).encode() for x in win_meta], dtype="S5"))
                    win_base += len(win_rows)
                    counters["n_windows"] += len(win_rows)

                    # Block buffers, allocated once before this block's forwards: each batch's
                    # pooled and per-token vectors are copied in and its tensors freed, so nothing
                    # allocated between two forwards outlives its batch. (Thousands of small
                    # per-region arrays kept until the block's end sat between the forward's large
                    # tensors in the heap, which then could not be reused or trimmed: the peak
                    # grew with the number of blocks, i.e. with the corpus.)
                    U = len(uniq)
                    slot, pool_buf, tok_slot, tok_buf = {}, {}, {}, {}
                    for m in masks:
                        region_out[m].sort()
                        slot[m] = {x[0]: i for i, x in enumerate(region_out[m])}
                        pool_buf[m] = np.zeros((U, 2, len(region_out[m]), d), np.float16)
                        ntok = {x[0]: x[1] for x in region_out[m]}
                        tok_slot[m], o = {}, 0
                        for p_ in sorted(tok_meta[m]):
                            tok_slot[m][p_] = (o, ntok[p_])
                            o += ntok[p_]
                        tok_buf[m] = np.zeros((U, o, d), np.float16)

                    def sink(reqs, pooled):
                        for m in masks:
                            ris = [ri for ri, r in enumerate(reqs) if r[1][0] == m]
                            if not ris:
                                continue
                            rows = [slot[m][reqs[ri][1][1]] for ri in ris]
                            for u, li in enumerate(uniq):
                                pool_buf[m][u, 0, rows] = pooled[li][0][ris]
                                pool_buf[m][u, 1, rows] = pooled[li][1][ris]
                        for bi, (m, p_), p0, _ in reqs:
                            ts = tok_slot[m].get(p_)
                            if ts and ts[1]:
                                o, n = ts
                                for u, li in enumerate(uniq):
                                    torch.from_numpy(tok_buf[m][u, o:o + n]).copy_(pooled[li][2][bi, p0:p0 + n])

                    run_batches(win_rows, jobs, sink)
                    for m in masks:
                        ro = region_out[m]
                        if not ro:
                            continue
                        pos = np.array([x[0] for x in ro], dtype=np.int64)
                        put(dsets[m, "n_tokens"], pos, np.array([x[1] for x in ro], dtype=np.int32))
                        put(dsets[m, "n_tokens_full"], pos, np.array([x[2] for x in ro], dtype=np.int32))
                        put(dsets[m, "truncated"], pos, np.array([x[3] for x in ro], dtype=bool))
                        trunc_count[m] += int(sum(x[3] for x in ro))
                        empty_count[m] += int(sum(x[1] == 0 for x in ro))
                        for ln, li in lidx.items():
                            put(dsets[m, ln, "mean"], pos, pool_buf[m][uniq.index(li), 0])
                            put(dsets[m, ln, "last"], pos, pool_buf[m][uniq.index(li), 1])
                        tpos = sorted(tok_slot[m])
                        if tpos:
                            lens = np.array([tok_slot[m][p][1] for p in tpos], dtype=np.int64)
                            append(dsets[m, "tok", "region_sel"], np.array(tpos, dtype=np.int64))
                            append(dsets[m, "tok", "window"], np.array([tok_meta[m][p][0] for p in tpos], np.int32))
                            append(dsets[m, "tok", "pos_start"], np.array([tok_meta[m][p][1] for p in tpos], np.int32))
                            append(dsets[m, "tok", "ctx_start"], np.array([tok_meta[m][p][2] for p in tpos], np.int32))
                            append(dsets[m, "tok", "offsets"], tok_written[m] + np.cumsum(lens))
                            tok_written[m] += int(lens.sum())
                            for ln, li in lidx.items():
                                append(dsets[m, "tok", ln], tok_buf[m][uniq.index(li)])
                            sel_order[m].extend(tpos)

                block, nwin_est = [], 0
                t_stream = time.perf_counter()
                for r in iter_jsonl(files_path):
                    if int(r["file_id"]) not in keep_files:
                        continue
                    block.append(r)
                    nwin_est += 1 + len(r["content"]) // (3 * cap)
                    if nwin_est >= int(st.block_windows):
                        process_block(block)
                        block, nwin_est = [], 0
                        release_free_memory()
                if block:
                    process_block(block)

                # ---- benchmark items (retrieval), same model, same pass settings
                counters["tokens_forward_corpus"] = counters["tokens_forward"]
                n_bench = 0
                if bench_path and Path(bench_path).exists():
                    items = list(iter_jsonl(bench_path))
                    n_bench = len(items)
                    bg = h5.create_group("bench")
                    bg.create_dataset("item_id", data=np.array([int(it["item_id"]) for it in items], np.int64))
                    bvec = {(ln, pool): bg.create_dataset(f"{ln}/{pool}", shape=(n_bench, d), dtype=np.float16)
                            for ln in layers for pool in ("mean", "last")}
                    b_ntok = np.zeros(n_bench, np.int32)
                    b_trunc = np.zeros(n_bench, bool)
                    for i0 in range(0, n_bench, int(st.block_windows)):
                        chunk = items[i0:i0 + int(st.block_windows)]
                        encs = backend.encode_batch([it["text"] for it in chunk], add_special_tokens=False)
                        rows, jobs = [], []
                        for j, (it, enc) in enumerate(zip(chunk, encs)):
                            offs = np.asarray(enc.offsets, dtype=np.int64).reshape(-1, 2)
                            a, b = token_span(offs, int(it["span_start_char"]), int(it["span_end_char"]))
                            plan = plan_windows(len(enc.ids), np.array([[0 if causal else a, a, b]]), cap, causal)
                            s, e = plan.windows[plan.assign[0]]
                            rows.append(pre + list(enc.ids[s:e]) + suf)
                            p0, p1 = a - s + len(pre), min(b, e) - s + len(pre)
                            jobs.append([(("bench", i0 + j), p0, p1)])
                            b_ntok[i0 + j] = max(0, p1 - p0)
                            b_trunc[i0 + j] = bool(plan.truncated[0])
                        bbuf = np.zeros((len(uniq), 2, len(chunk), d), np.float16)

                        def bsink(reqs, pooled, bbuf=bbuf, i0=i0):
                            at = [key[1] - i0 for _, key, _, _ in reqs]
                            for u, li in enumerate(uniq):
                                bbuf[u, 0, at] = pooled[li][0]
                                bbuf[u, 1, at] = pooled[li][1]

                        run_batches(rows, jobs, bsink)
                        for ln, li in lidx.items():
                            bvec[ln, "mean"][i0:i0 + len(chunk)] = bbuf[uniq.index(li), 0]
                            bvec[ln, "last"][i0:i0 + len(chunk)] = bbuf[uniq.index(li), 1]
                    bg.create_dataset("n_tokens", data=b_ntok)
                    bg.create_dataset("truncated", data=b_trunc)

                counters["stream_s"] = time.perf_counter() - t_stream
                manifest_sha = ""
                if manifest_path and Path(manifest_path).exists():
                    manifest_sha = json.loads(Path(manifest_path).read_text()).get("manifest_sha256", "")
                tok_desc = {"class": type(tok).__name__, "name_or_path": str(getattr(tok, "name_or_path", "")),
                            "vocab_size": len(tok), "pad_id": pad, "prefix_special": pre, "suffix_special": suf}
                attrs = {
                    "teacher": teacher.name, "source": teacher.source, "model": info["model"],
                    "revision": info["revision"], "n_layers": L, "hidden_size": d,
                    "layer_indices": json.dumps(lidx), "dtype": "float16", "compute_dtype": check["used"],
                    "precision_check": json.dumps(check), "tokenizer": json.dumps(tok_desc),
                    "corpus_manifest_sha256": manifest_sha, "code_version": code_version(), "shard": shard,
                    "n_shards": n_shards, "window": W, "is_causal": causal, "masks": json.dumps(masks),
                    "max_files": -1 if st.max_files is None else int(st.max_files), "seed": seed,
                    "token_max_regions": int(st.token_max_regions),
                }
                for k, v in attrs.items():
                    h5.attrs[k] = v
            elapsed = time.perf_counter() - t_start
            report = {
                "teacher": teacher.name, "shard": shard, "n_shards": n_shards, "window": W, "device": device,
                "compute_dtype": check["used"], "precision_check": check, **counters,
                "padding_waste": 1 - counters["tokens_forward"] / max(1, counters["tokens_padded"]),
                # extra tokens of overlapping windows (corpus only; bench items excluded)
                "window_overhead": counters["tokens_forward_corpus"] / max(1, counters["corpus_tokens"] + counters["n_windows"] * (len(pre) + len(suf))) - 1
                if counters["corpus_tokens"] else 0.0,
                "tokens_per_s": counters["tokens_forward"] / max(1e-9, elapsed),
                "forward_tokens_per_s": counters["tokens_forward"] / max(1e-9, counters["forward_s"]),
                "elapsed_s": elapsed, "n_bench_items": n_bench,
                # streaming phase (tokenise, plan, forward, pool, write) vs the forward alone
                "stream_tokens_per_s": counters["tokens_forward"] / max(1e-9, counters["stream_s"]),
                "forward_share_of_stream": counters["forward_s"] / max(1e-9, counters["stream_s"]),
                "masks": {m: {"n_regions_in_table": n_regions_total[m], "n_regions": int(len(tables[m])),
                              "n_truncated": trunc_count[m], "n_empty": empty_count[m],
                              "n_token_regions": len(sel_order[m]), "n_token_rows": tok_written[m]}
                          for m in masks},
                "max_files": st.max_files, "n_selected_files": len(keep_files),
            }
            for m in masks:
                if trunc_count[m]:
                    log(f"{m}: {trunc_count[m]} regions longer than a window: truncated (flag /{m}/truncated)")
        # The HDF5 file is complete and renamed; the report comes last.
        if report_path:
            write_text_atomic(report_path, json.dumps(report, indent=2, default=float))
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
    log(f"done: {json.dumps({k: report[k] for k in ('n_windows', 'tokens_forward', 'tokens_per_s', 'padding_waste', 'elapsed_s')})}")
    return report


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
