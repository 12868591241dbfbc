"""``extract``: one teacher over (a shard of) the corpus, the parts in the order they run."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

from ..layout import Layout
from ..settings import LAYER_NAMES, ExtractSettings, TeacherSpec
from ..teachers.registry import resolve_source
from . import teacher as teachers
from .bench import embed_bench
from .blocks import BlockBuffers, corpus_blocks, plan_block, write_block
from .forward import Forward
from .inputs import Regions, first_record, iter_jsonl
from .precision import decide_precision, storage_probe
from .report import Tally, build_report, root_attributes
from .teacher import Teacher
from .writer import LatentWriter


def extract(*, teacher: TeacherSpec, index: int | None, files_path, mask_paths: dict, out_h5, report_path=None,
            manifest_path=None, bench_path=None, layout: Layout | str = "results", layers=LAYER_NAMES,
            settings: ExtractSettings = ExtractSettings(), seed: int = 0, shard: int = 0,
            n_shards: int, student_examples: int = 0, log: Callable[[str], None] | None = None,
            forward: Callable[..., Forward] = Forward) -> dict:
    """Run one teacher over (a shard of) the corpus; write ``out_h5`` atomically.

    ``student_examples``: the main students' steps x batch size, which sizes the per-token
    set when ``settings.token_epochs`` is set. Stops before any forward when the per-token
    vectors' estimated storage exceeds ``settings.token_storage_gb``.

    Returns the report dict (also written to ``report_path``, after ``out_h5`` is complete).
    ``forward`` builds the batch runner (:class:`Forward` or a subclass, called with its
    keyword arguments): tests and benchmarks inject one that records or interrupts."""
    from ..runtime import bound_cpu_memory, pick_device, release_free_memory, write_text_atomic

    st, log = settings, log or (lambda m: None)
    if st.hf_offline:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    # 1. Fail before any compute when the teacher is not there.
    resolve_source(teacher, layout, index)
    t_start = time.perf_counter()
    # 2. Regions of every mask, restricted to this shard's files; the seeded token subset.
    regions = Regions.read(mask_paths, shard=shard, n_shards=n_shards, settings=st, seed=seed,
                           student_examples=student_examples)
    device = pick_device(st.device)
    if device == "cpu":
        log(f"cpu memory settings: {bound_cpu_memory()}")
    loaded = teachers.load(teacher, layout, index, device, st, layers)
    log(f"teacher {teacher.name}: L={loaded.n_layers} d={loaded.hidden_size} layers={loaded.layer_index} "
        f"causal={loaded.causal} window={loaded.window} (cap {loaded.cap}) specials={loaded.prefix}/{loaded.suffix} "
        f"device={device} files={len(regions.files)}")
    token_layers = [ln for ln in layers if st.token_layers is None or ln in st.token_layers]
    token_bytes = regions.token_storage_bytes(loaded.hidden_size, len(token_layers))
    n_tok_regions = {m: len(s) for m, s in regions.token_subset.items()}
    log(f"per-token vectors for {n_tok_regions} regions: ~{token_bytes / 1e9:.2f} GB (limit "
        f"extract.token_storage_gb = {st.token_storage_gb})")
    if token_bytes > st.token_storage_gb * 1e9:
        raise TokenStorageError(
            f"per-token vectors of {n_tok_regions} regions x {len(token_layers)} layers x d={loaded.hidden_size} "
            f"would take ~{token_bytes / 1e9:.1f} GB > extract.token_storage_gb = {st.token_storage_gb}: lower "
            "extract.token_max_regions (or extract.token_epochs), and let the students compute their targets "
            "with the teacher (student.targets: online), or raise the limit")
    # 3. Precision: bf16 autocast only where faster and faithful; record the check.
    precision = decide_precision(loaded, st, device, first_record(files_path, regions.files))
    log(f"precision check: {precision.record}")
    # 3b. Storage dtype: float16 unless the probe's max |h| would overflow it (swejepa.storage).
    from ..storage import buffer_dtype, storage_dtype

    max_abs = storage_probe(loaded, device, first_record(files_path, regions.files), precision.bf16)
    storage, storage_reason = storage_dtype(max_abs, "float16")
    log(f"storage dtype {storage}: {storage_reason}")
    fwd = forward(loaded.model, device=device, bf16=precision.bf16, pad_id=loaded.pad_id,
                  width=loaded.window, layers=loaded.grid, batch_tokens=st.batch_tokens)
    tally = Tally(regions.masks)
    region_index = {m: regions.tables[m]["row"].to_numpy(np.int64) for m in regions.masks}
    with _sigterm_raises():
        with LatentWriter.create(out_h5, region_index=region_index, layers=layers, token_layers=token_layers,
                                 hidden_size=loaded.hidden_size, window=loaded.window,
                                 pad_id=loaded.pad_id, storage=storage) as writer:
            # 4. The corpus, block by block; then the benchmark items, same model and settings.
            t_stream = time.perf_counter()
            for recs in corpus_blocks(files_path, regions.files, loaded.cap, st.block_windows):
                _extract_block(recs, loaded, regions, fwd, writer, tally, buffer_dtype(storage))
                release_free_memory()
            tokens_forward_corpus = fwd.tokens_forward
            items = list(iter_jsonl(bench_path)) if bench_path and Path(bench_path).exists() else None
            if items is not None:
                embed_bench(items, loaded, fwd, writer, st.block_windows)
            stream_s = time.perf_counter() - t_stream
            writer.write_attributes(root_attributes(teacher, loaded, precision, manifest_path=manifest_path,
                                                    shard=shard, n_shards=n_shards, masks=regions.masks,
                                                    settings=st, seed=seed, storage=storage,
                                                    storage_reason=storage_reason, max_abs=max_abs))
        report = build_report(spec=teacher, teacher=loaded, device=device, precision=precision, tally=tally,
                              forward=fwd, tokens_forward_corpus=tokens_forward_corpus, stream_s=stream_s,
                              elapsed_s=time.perf_counter() - t_start, n_bench=len(items or []), regions=regions,
                              shard=shard, n_shards=n_shards, settings=st)
        report["token_storage_gb_estimate"] = token_bytes / 1e9
        report["storage"] = {"dtype": storage, "reason": storage_reason, "max_abs_per_layer": max_abs}
        for m, c in tally.per_mask.items():
            if c["n_truncated"]:
                log(f"{m}: {c['n_truncated']} regions longer than a window: truncated (flag /{m}/truncated)")
        # The HDF5 file is complete and renamed; the report comes last.
        if report_path:
            write_text_atomic(report_path, json.dumps(report, indent=2, default=float))
    summary = ("n_windows", "tokens_forward", "tokens_per_s", "padding_waste", "elapsed_s")
    log(f"done: {json.dumps({k: report[k] for k in summary})}")
    return report


def _extract_block(recs: list[dict], loaded: Teacher, regions: Regions, fwd: Forward, writer: LatentWriter,
                   tally: Tally, dtype=np.float16) -> None:
    """Tokenise and plan one block, write its windows, forward them into the block's
    buffers, write its regions."""
    block = plan_block(recs, loaded, regions, writer.n_windows)
    tally.add(block)
    if not block.rows:
        return
    writer.append_windows(block.rows, block.files)
    buffers = BlockBuffers(block, loaded.grid, loaded.hidden_size, dtype)
    fwd(block.rows, block.jobs, buffers.sink)
    write_block(writer, block, buffers, loaded.layer_index)


class TokenStorageError(RuntimeError):
    """The per-token vectors would exceed ``extract.token_storage_gb`` (nothing computed)."""


class Interrupted(BaseException):
    """SIGTERM during extraction (the temporary file is removed; nothing is renamed)."""


def _raise_on_term(signum, frame):  # noqa: ARG001
    raise Interrupted(f"signal {signum}")


@contextlib.contextmanager
def _sigterm_raises():
    """SIGTERM raises :class:`Interrupted` (so the temporary file is cleaned up); the
    previous handler is restored after. Only in the main thread (signals need it)."""
    old = signal.signal(signal.SIGTERM, _raise_on_term) if threading.current_thread() is threading.main_thread() \
        else None
    try:
        yield
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)
