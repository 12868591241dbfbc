"""How much data each job sees: files, bytes, tokens per teacher, regions per mask.

Two sources, and every number says which one it came from:

* **measured**: the workflow's own outputs when they exist — ``results/corpus/{c}/files.jsonl``
  (files and bytes), ``results/masks/{c}/{mask}.csv`` (regions and their lengths), and
  ``results/latents/{t}/report_shard*.json`` (tokens, windows, padding of an extraction);
* **estimated** before the corpus exists: a stat walk of the source (``stdlib``,
  ``site-packages``, ``dir``: file sizes, no reading), a size table for ``hf`` datasets,
  and the conversion factors of :data:`FACTORS` (regions per MB, body characters per
  region, bytes per token of each tokenizer family), measured on the stdlib corpus of the
  default run unless marked assumed.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..corpus import TEST_DIR_NAMES as TEST_DIRS
from ..layout import Layout
from ..settings import Settings
from .hardware import Rate

_M = "measured on the default run's stdlib corpus (729 files, 12.1 MB; 2026-12-01)"
FACTORS: dict[str, Rate] = {
    "regions_per_mb:ast": Rate(1628.0, "measured", _M + ": 19,730 ast regions"),
    "regions_per_mb:regex": Rate(1356.0, "measured", _M + ": 16,428 regex regions"),
    "body_chars:ast": Rate(308.0, "measured", _M + ": mean masked-body characters"),
    "body_chars:regex": Rate(356.0, "measured", _M),
    "ctx_chars": Rate(129.0, "measured", _M + ": signature + docstring characters before a body"),
    "files_with_regions": Rate(0.93, "measured", _M + ": 677 of 729 files hold an ast region"),
    "train_share": Rate(0.79, "measured", _M + ": share of ast regions in the train split"),
    "val_share": Rate(0.12, "measured", _M),
    # bytes per token of each tokenizer family on Python source
    "bpt:bpe8k": Rate(3.0, "measured", "the default tinyfim BPE (8192) on the default run's extracted files"),
    "bpt:bpe": Rate(3.0, "assumed", "a Stage-1 BPE of another size: as the 8K one (larger vocabularies "
                                    "compress more; an upper bound on tokens)"),
    "bpt:qwen": Rate(3.6, "assumed", "Qwen2.5/Qwen3 tokenizer (151K byte-level BPE) on Python: not measurable "
                                     "offline here (no tokenizer files); replace once measured"),
    "bpt:bert": Rate(2.6, "measured", "MiniLM WordPiece on the default run's extracted files"),
    "window_overhead": Rate(0.15, "assumed", "extra windows for regions that straddle a cut (0.24 at window 256 "
                                             "on the smoke run; fewer at larger windows)"),
    "padding_waste": Rate(0.07, "measured", "README, bench_extract.py: 6.8-7.1 %"),
    "bench_item_tokens": Rate(180.0, "assumed", "mean tokens of a Phase-0.2 benchmark item"),
}

# The Hugging Face datasets the configs name, for planning before download (estimates).
HF_DATASETS = {
    # Only the first corpus.max_files records are read; the file count only bounds that.
    "bigcode/the-stack-dedup": {"files": 10_000_000, "mb": 60_000.0,
                                "source": "assumed: data/python, order of 10M files at ~6 KB/file (as the-stack-smol)"},
    "bigcode/the-stack-smol": {"files": 10_000, "mb": 60.0,
                               "source": "assumed: the-stack-smol data/python, ~10K files (dataset card), ~6 KB/file"},
}



def factor(key: str) -> float:
    return float(FACTORS[key].value)


@dataclass
class CorpusSize:
    file_bytes: np.ndarray           # per kept file (sorted by path)
    status: str                      # "measured: ..." | "estimated: ..."
    regions: dict = field(default_factory=dict)        # mask -> n regions (whole corpus)
    region_status: str = "estimated"
    body_chars: dict = field(default_factory=dict)     # mask -> mean body characters
    train_share: float = 0.79
    val_share: float = 0.12

    @property
    def n_files(self) -> int:
        return int(len(self.file_bytes))

    @property
    def total_bytes(self) -> int:
        return int(self.file_bytes.sum())

    def to_dict(self) -> dict:
        return {"n_files": self.n_files, "mb": self.total_bytes / 1e6, "status": self.status,
                "regions": self.regions, "region_status": self.region_status,
                "body_chars": {k: round(v, 1) for k, v in self.body_chars.items()},
                "train_share": self.train_share}


# ------------------------------------------------------------------------ estimates
def _walk(root: Path, include_tests: bool, skip=("site-packages", "dist-packages", "__pycache__")) -> list[tuple]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        dirnames[:] = [d for d in dirnames if d not in skip and not d.startswith(".")
                       and (include_tests or d not in TEST_DIRS)]
        if not include_tests and any(p in TEST_DIRS for p in rel.parts):
            continue
        for f in filenames:
            if f.endswith(".py"):   # as swejepa.corpus: test directories only, not file names
                try:
                    out.append((str(rel / f), os.path.getsize(os.path.join(dirpath, f))))
                except OSError:
                    continue
    return sorted(out)


def _site_roots() -> list[Path]:
    """The corpus source's site directories (a venv's and, with --system-site-packages, the
    interpreter's too: :func:`swejepa.corpus.site_dirs`)."""
    from ..corpus import site_dirs

    return [Path(d) for d in site_dirs()]


def estimate_corpus(settings: Settings) -> CorpusSize:
    c = settings.corpus
    if c.source == "stdlib":
        root = Path(sysconfig.get_paths()["stdlib"])
        files = _walk(root, c.test_dirs == "keep")
        how = f"stat walk of this interpreter's stdlib {root} (Python {sys.version.split()[0]})"
    elif c.source == "site-packages":
        files = [f for r in _site_roots() for f in _walk(r, c.test_dirs == "keep", skip=("__pycache__",))]
        how = f"stat walk of {', '.join(map(str, _site_roots()))} (before near-duplicate removal)"
    elif c.source == "dir":
        files = _walk(Path(c.path), c.test_dirs == "keep", skip=("__pycache__",))
        how = f"stat walk of {c.path}"
    elif c.source == "jsonl":
        size = os.path.getsize(c.path) if c.path and os.path.exists(c.path) else 0
        n = max(1, int(size / 6000))
        files = [(str(i), size / n) for i in range(n)]
        how = f"size of {c.path} at ~6 KB per record (assumed)"
    else:  # hf
        ds = HF_DATASETS.get(c.path or "", {"files": 10_000, "mb": 60.0, "source": "assumed: 10K files, 6 KB each"})
        n = int(ds["files"])
        files = [(str(i), ds["mb"] * 1e6 / n) for i in range(n)]
        how = f"hf dataset {c.path}: {ds['source']}"
    sizes = np.array([s for _, s in files if 0 < s <= c.max_file_bytes], dtype=np.float64)
    if c.max_files:
        sizes = sizes[: c.max_files]
    cs = CorpusSize(sizes, f"estimated: {how}")
    mb = cs.total_bytes / 1e6
    for m in ("ast", "regex"):
        cs.regions[m] = int(round(mb * factor(f"regions_per_mb:{m}")))
        cs.body_chars[m] = factor(f"body_chars:{m}")
    cs.region_status = "estimated: regions per MB of the stdlib (FACTORS)"
    cs.train_share, cs.val_share = factor("train_share"), factor("val_share")
    return cs


# ------------------------------------------------------------------------ measured
def measured_corpus(layout: Layout) -> CorpusSize | None:
    files = Path(layout.corpus_files())
    if not files.exists():
        return None
    sizes = []
    with open(files) as fh:
        for line in fh:
            sizes.append(json.loads(line)["n_bytes"])
    cs = CorpusSize(np.array(sizes, dtype=np.float64), f"measured: {files}")
    have_all = True
    for m in ("ast", "regex"):
        p = Path(layout.mask_csv(m))
        if not p.exists():
            have_all = False
            cs.regions[m] = int(round(cs.total_bytes / 1e6 * factor(f"regions_per_mb:{m}")))
            cs.body_chars[m] = factor(f"body_chars:{m}")
            continue
        n, chars, train, val = 0, 0, 0, 0
        with open(p, newline="") as fh:
            for r in csv.DictReader(fh):
                n += 1
                chars += int(r["body_end_char"]) - int(r["body_start_char"])
                train += r["split"] == "train"
                val += r["split"] == "val"
        cs.regions[m] = n
        cs.body_chars[m] = chars / max(1, n)
        if m == "ast" and n:
            cs.train_share, cs.val_share = train / n, val / n
    cs.region_status = "measured: results/masks" if have_all else "partly estimated (a mask table is missing)"
    return cs


def corpus_size(settings: Settings, layout: Layout) -> CorpusSize:
    return measured_corpus(layout) or estimate_corpus(settings)


# ------------------------------------------------------------------------ tokens
def bytes_per_token(arch_model_type: str, teacher_source: str, vocab: int) -> tuple[float, str]:
    if teacher_source in ("train", "random"):
        key = "bpt:bpe8k" if vocab == 8192 else "bpt:bpe"
    elif arch_model_type in ("qwen2", "qwen3"):
        key = "bpt:qwen"
    elif arch_model_type in ("bert", "roberta", "mpnet", "distilbert"):
        key = "bpt:bert"
    else:
        key = "bpt:qwen"
    r = FACTORS[key]
    return float(r.value), f"{r.status}: {key}"


@dataclass
class ExtractSize:
    """What one teacher's extraction processes (all shards together)."""
    files: int
    corpus_tokens: float             # tokens of the extracted files
    tokens_forward: float            # incl. extra windows and the benchmark items
    tokens_padded: float
    n_windows: float
    mean_window: float               # tokens per window
    regions: dict                    # mask -> regions extracted
    token_regions: dict              # mask -> regions with per-token vectors
    token_rows: dict                 # mask -> per-token rows (tokens of those regions)
    bytes_per_token: float
    status: str

    def to_dict(self) -> dict:
        return {k: (round(v, 1) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def token_regions_planned(regions: float, st, student_examples: int, train_share: float) -> float:
    """Regions of one mask that get per-token vectors, all shards together, as
    :func:`swejepa.extract.inputs.token_region_count` chooses them per shard:
    ``token_max_regions`` per shard (None: all), and with ``token_epochs`` only as many as the
    main students need to see each train region at most that often."""
    n = max(1, st.n_shards)
    per = regions / n
    k = per if st.token_max_regions is None else min(per, float(st.token_max_regions))
    if st.token_epochs is not None and student_examples and per:
        need = math.ceil(student_examples / st.token_epochs / n / max(train_share, 1.0 / per))
        k = min(k, float(need))
    return k * n


def extract_window(settings: Settings, teacher: str, a) -> int:
    """The window of ``teacher``'s extraction: ``extract.window`` within its positions."""
    w = min(settings.extract.window, a.max_positions or settings.extract.window,
            settings.teacher(teacher).max_length or settings.extract.window)
    if not a.causal:
        w = min(w, a.max_positions - 2 if a.max_positions else w)
    return w


def extract_size(settings: Settings, layout: Layout, cs: CorpusSize, teacher: str, arch, n_bench_items: int,
                 window: int) -> ExtractSize:
    """Tokens, windows and regions of ``teacher``'s extraction: measured from its reports
    when they exist, else estimated from the corpus size."""
    st = settings.extract
    reports = [Path(layout.latents_report(teacher, i, st.n_shards)) for i in range(st.n_shards)]
    t = settings.teacher(teacher)
    bpt, bpt_how = bytes_per_token(arch.model_type, t.source, arch.vocab)
    if all(p.exists() for p in reports):
        rs = [json.loads(p.read_text()) for p in reports]
        masks = {m: sum(r["masks"][m]["n_regions"] for r in rs) for m in rs[0]["masks"]}
        return ExtractSize(
            files=sum(r["n_selected_files"] for r in rs), corpus_tokens=sum(r["corpus_tokens"] for r in rs),
            tokens_forward=sum(r["tokens_forward"] for r in rs), tokens_padded=sum(r["tokens_padded"] for r in rs),
            n_windows=sum(r["n_windows"] for r in rs),
            mean_window=sum(r["tokens_forward_corpus"] for r in rs) / max(1, sum(r["n_windows"] for r in rs)),
            regions=masks, token_regions={m: sum(r["masks"][m]["n_token_regions"] for r in rs) for m in masks},
            token_rows={m: sum(r["masks"][m]["n_token_rows"] for r in rs) for m in masks},
            bytes_per_token=bpt, status=f"measured: {reports[0].parent}/report_shard*.json")
    share = factor("files_with_regions") if cs.status.startswith("estimated") else 1.0
    n_with = max(1, int(round(cs.n_files * share)))
    files = min(n_with, st.max_files) if st.max_files else n_with
    frac = files / n_with
    sizes = cs.file_bytes
    if st.max_files and st.max_files < len(sizes):
        rng = np.random.default_rng(settings.seed)
        sizes = rng.choice(sizes, size=files, replace=False)
    toks = sizes / bpt
    corpus_tokens = float(toks.sum())
    base_windows = float(np.ceil(toks / window).sum())
    over = factor("window_overhead")
    n_windows = base_windows * (1 + over)
    bench_tokens = n_bench_items * factor("bench_item_tokens")
    forward = corpus_tokens * (1 + over) + bench_tokens
    regions = {m: cs.regions[m] * frac for m in cs.regions}
    examples = settings.student.train.max_steps * settings.student.train.batch_size
    token_regions = {m: token_regions_planned(regions[m], st, examples, cs.train_share) for m in regions}
    token_rows = {m: token_regions[m] * cs.body_chars[m] / bpt for m in regions}
    return ExtractSize(files=files, corpus_tokens=corpus_tokens, tokens_forward=forward,
                       tokens_padded=forward * (1 + factor("padding_waste")), n_windows=n_windows,
                       mean_window=corpus_tokens / max(1.0, base_windows), regions=regions,
                       token_regions=token_regions, token_rows=token_rows, bytes_per_token=bpt,
                       status=f"estimated from the corpus ({cs.status.split(':')[0]}), bytes/token {bpt} ({bpt_how})")


def student_regions(settings: Settings, cs: CorpusSize, e: ExtractSize) -> dict:
    """The regions a student of ``e``'s teacher trains on (``student.mask``): with
    ``student.targets: precomputed`` the ones with stored per-token vectors, with ``online``
    every region with a window; train/val by the corpus's split shares, their tokens."""
    st = settings.student
    stored = e.token_regions.get(st.mask, 0)
    mean_tok = (e.token_rows.get(st.mask, 0) / stored if stored
                else cs.body_chars.get(st.mask, 0.0) / max(1e-9, e.bytes_per_token))
    regions = e.regions.get(st.mask, 0) if st.targets == "online" else stored
    return {"regions": regions, "train": regions * cs.train_share, "val": regions * cs.val_share,
            "rows": regions * mean_tok, "tok_per_region": mean_tok}


def n_bench_items(settings: Settings, layout: Layout, cs: CorpusSize) -> tuple[int, str]:
    p = Path(layout.bench_items())
    if p.exists():
        with open(p) as fh:
            return sum(1 for _ in fh), f"measured: {p}"
    b = settings.retrieval.bench
    he = b.humaneval_problems or 164
    # originals + applicable rewrites of held-out functions, distractors, HumanEval solutions +
    # verified rewrites + prompts (default run: 3.0 rewrites per held-out function, 3.3 per problem)
    n = b.heldout_functions * 4.0 + b.distractors + he * 5.3
    return int(n), "estimated: 4 x heldout + distractors + 5.3 x HumanEval problems (rates of the default run)"


def humaneval_executed_share(settings: Settings, layout: Layout, teacher: str | None) -> tuple[float, str]:
    """Share of HumanEval samples that compile and so run in the sandbox (decoder_eval never
    runs a sample CPython cannot compile): measured from a finished run's ``humaneval.csv``,
    else 1 (every sample runs: the conservative plan for a real decoder)."""
    import csv

    p = Path(layout.decoder_eval("humaneval.csv", teacher)) if teacher else None
    if p is not None and p.exists():
        with open(p) as fh:
            status = [r.get("status", "") for r in csv.DictReader(fh)]
        if status:
            ran = sum(s != "syntax_error" for s in status)
            return ran / len(status), f"measured: {ran} of {len(status)} samples compiled ({p})"
    return 1.0, "assumed: every sample compiles and runs"


def ceil_div(a: float, b: float) -> int:
    return int(math.ceil(a / b)) if b else 0
