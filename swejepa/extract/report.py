"""What a job records: the root attributes of the HDF5 file (provenance: teacher, layers,
precision, tokenizer, corpus manifest, code version, shard) and the report
(``latents/{teacher}/report_shard{i}of{n}.json``: windows, tokens, padding waste, window
overhead, truncated/empty regions per mask, precision check, tokens/s)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..settings import ExtractSettings, TeacherSpec
from .blocks import Block
from .precision import Precision
from .teacher import Teacher


def hashed_sources() -> list[Path]:
    """The files :func:`code_version` hashes: this package and ``swejepa/teachers``."""
    here = Path(__file__).parent
    return sorted([*here.glob("*.py"), *(here.parent / "teachers").glob("*.py")])


def code_version() -> str:
    h = hashlib.sha256()
    root = Path(__file__).parent.parent
    for p in hashed_sources():
        h.update(p.relative_to(root).as_posix().encode())
        h.update(p.read_bytes())
    try:
        from importlib.metadata import version

        v = version("swejepa")
    except Exception:  # noqa: BLE001
        v = "0"
    return f"swejepa-{v}+src.{h.hexdigest()[:12]}"


@dataclass
class Tally:
    """Counts of the streamed corpus, block by block (the forward counts its own)."""
    masks: list[str]
    n_files: int = 0
    n_windows: int = 0
    n_base_windows: int = 0
    corpus_tokens: int = 0
    per_mask: dict = field(init=False)   # mask -> n_truncated, n_empty, n_token_regions, n_token_rows

    def __post_init__(self):
        self.per_mask = {m: {"n_truncated": 0, "n_empty": 0, "n_token_regions": 0, "n_token_rows": 0}
                         for m in self.masks}

    def add(self, block: Block) -> None:
        self.n_files += block.n_files
        self.n_windows += len(block.rows)
        self.n_base_windows += block.n_base_windows
        self.corpus_tokens += block.corpus_tokens
        for m, ro in block.regions.items():
            c = self.per_mask[m]
            ntok = {x[0]: x[1] for x in ro}
            c["n_truncated"] += int(sum(x[3] for x in ro))
            c["n_empty"] += int(sum(x[1] == 0 for x in ro))
            c["n_token_regions"] += len(block.tokens[m])
            c["n_token_rows"] += sum(ntok[p] for p in block.tokens[m])


def root_attributes(spec: TeacherSpec, teacher: Teacher, precision: Precision, *, manifest_path, shard: int,
                    n_shards: int, masks: list[str], settings: ExtractSettings, seed: int,
                    storage: str = "float16", storage_reason: str = "", max_abs: dict | None = None) -> dict:
    """The file's root attributes (README data contract), in the writer's order."""
    manifest_sha = ""
    if manifest_path and Path(manifest_path).exists():
        manifest_sha = json.loads(Path(manifest_path).read_text()).get("manifest_sha256", "")
    info, st = teacher.info, settings
    return {
        "teacher": spec.name, "source": spec.source, "model": info["model"],
        "revision": info["revision"], "n_layers": teacher.n_layers, "hidden_size": teacher.hidden_size,
        "layer_indices": json.dumps(teacher.layer_index), "dtype": storage, "compute_dtype": precision.used,
        "precision_check": json.dumps(precision.record), "tokenizer": json.dumps(teacher.tokenizer_description()),
        "corpus_manifest_sha256": manifest_sha, "code_version": code_version(), "shard": shard,
        "n_shards": n_shards, "window": teacher.window, "is_causal": teacher.causal, "masks": json.dumps(masks),
        "max_files": -1 if st.max_files is None else int(st.max_files), "seed": seed,
        "token_max_regions": -1 if st.token_max_regions is None else int(st.token_max_regions),
        "storage_reason": storage_reason, "max_abs_per_layer": json.dumps(max_abs or {}),
    }


def build_report(*, spec: TeacherSpec, teacher: Teacher, device: str, precision: Precision, tally: Tally,
                 forward, tokens_forward_corpus: int, stream_s: float, elapsed_s: float, n_bench: int,
                 regions, shard: int, n_shards: int, settings: ExtractSettings) -> dict:
    """The job's report (``forward``: the :class:`~.forward.Forward` that ran every batch)."""
    counters = {"n_files": tally.n_files, "n_windows": tally.n_windows, "n_base_windows": tally.n_base_windows,
                "tokens_forward": forward.tokens_forward, "tokens_padded": forward.tokens_padded,
                "corpus_tokens": tally.corpus_tokens, "batches": forward.batches, "forward_s": forward.seconds,
                "stream_s": stream_s, "tokens_forward_corpus": tokens_forward_corpus}
    n_specials = len(teacher.prefix) + len(teacher.suffix)
    tok = counters["tokens_forward"]
    return {
        "teacher": spec.name, "shard": shard, "n_shards": n_shards, "window": teacher.window, "device": device,
        "compute_dtype": precision.used, "precision_check": precision.record, **counters,
        "padding_waste": 1 - tok / max(1, counters["tokens_padded"]),
        # extra tokens of overlapping windows (corpus only; bench items excluded)
        "window_overhead": tokens_forward_corpus / max(1, tally.corpus_tokens + tally.n_windows * n_specials) - 1
        if tally.corpus_tokens else 0.0,
        "tokens_per_s": tok / max(1e-9, elapsed_s),
        "forward_tokens_per_s": tok / max(1e-9, forward.seconds),
        "elapsed_s": elapsed_s, "n_bench_items": n_bench,
        # streaming phase (tokenise, plan, forward, pool, write) vs the forward alone
        "stream_tokens_per_s": tok / max(1e-9, stream_s),
        "forward_share_of_stream": forward.seconds / max(1e-9, stream_s),
        "masks": {m: {"n_regions_in_table": regions.n_in_table[m], "n_regions": int(len(regions.tables[m])),
                      **tally.per_mask[m]} for m in regions.masks},
        "max_files": settings.max_files, "n_selected_files": len(regions.files),
    }
