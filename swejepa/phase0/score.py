"""Score your own equivalence set with a configured teacher (Experiment 0.2's code path).

    python -m swejepa.phase0.score --items my_set.jsonl --teacher minilm --layer half --pool mean [--center]

``--items``: a JSONL file, one object per line, ``{"item_id": ..., "group_id": ..., "text": ...}``
(optional ``"role": "spec"`` marks a query-only text, e.g. a docstring; every other item is
code). Items of one ``group_id`` are functionally equivalent. Each code item is a query
whose relevant items are the other code items of its group (itself excluded); the gallery
is every code item (singleton groups act as distractors). A ``spec`` item is a query whose
relevant items are the code items of its group.

The texts are embedded by the workflow's own extraction code (:func:`swejepa.extract.bench.embed_bench`:
the teacher loaded, framed, windowed, precision-checked and pooled exactly as for the
benchmark items of ``results/phase0/retrieval/items.jsonl``, vectors stored in float16), then
ranked with :func:`swejepa.phase0.retrieval.bench_ranks` (FAISS, ``retrieval`` settings,
``--center``: minus the gallery's mean vector) and scored with
:func:`swejepa.phase0.retrieval.rank_metrics` (Recall@k at ``retrieval.ks``, MRR, percentile
bootstrap intervals over the queries at ``retrieval.bootstrap`` / ``retrieval.ci_level``).
The TF-IDF baseline (:func:`swejepa.phase0.lexical.lexical_bench_ranks`) is scored on the
same queries. Teachers, layers, pools and the settings come from the workflow config
(``--configfile``, default ``config.yaml`` of the current directory when present, as
Snakemake reads it); trained teachers are read from ``--results`` (default ``results``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ..settings import CENTERS, LAYER_NAMES, Settings
from .grid import VECTOR_POOLS

TASK_NAMES = {"hard": "code->code", "spec": "spec->code"}


def read_user_items(path) -> pd.DataFrame:
    """The user's JSONL as benchmark items (the columns :func:`~swejepa.phase0.retrieval.bench_tasks`
    reads; ``item_id`` becomes the row number, the user's id is kept as ``user_id``): code items get role ``implementation`` and ``hard`` (their task is the one the
    workflow runs on the lexically hard part), ``spec`` items role ``spec``."""
    rows = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            rec = json.loads(line)
            missing = [k for k in ("item_id", "group_id", "text") if k not in rec]
            if missing:
                raise ValueError(f"{path}:{n}: missing {missing} (need item_id, group_id, text)")
            role = str(rec.get("role", "code"))
            if role not in ("code", "spec"):
                raise ValueError(f"{path}:{n}: role must be code or spec, got {role!r}")
            text = str(rec["text"])
            rows.append({"item_id": len(rows), "user_id": rec["item_id"], "group_id": str(rec["group_id"]),
                         "role": "spec" if role == "spec" else "implementation", "origin": "user",
                         "transform": "spec" if role == "spec" else "implementation", "text": text,
                         "span_start_char": 0, "span_end_char": len(text), "source_key": str(rec["item_id"]),
                         "hard": role != "spec"})
    if not rows:
        raise ValueError(f"{path}: no items")
    df = pd.DataFrame(rows)
    dup = df["user_id"].astype(str).duplicated()
    if dup.any():
        raise ValueError(f"{path}: duplicate item_id {df.loc[dup, 'user_id'].iloc[0]!r}")
    return df


class _MemoryWriter:
    """The ``/bench`` part of :class:`swejepa.extract.writer.LatentWriter`, in memory."""

    storage = "float16"  # as LatentWriter's default (swejepa.storage); scores use float32 copies

    def __init__(self, layers, hidden_size: int):
        self.layers, self.d = list(layers), int(hidden_size)
        self.vectors: dict = {}

    def begin_bench(self, item_ids) -> None:
        n = len(item_ids)
        self.vectors = {(ln, p): np.zeros((n, self.d), np.float16) for ln in self.layers for p in VECTOR_POOLS}

    def put_bench(self, i0: int, vectors: dict) -> None:
        for ln in self.layers:
            mean, last = vectors[ln]
            self.vectors[ln, "mean"][i0:i0 + len(mean)] = mean
            self.vectors[ln, "last"][i0:i0 + len(last)] = last

    def end_bench(self, n_tokens, truncated) -> None:
        self.n_tokens, self.truncated = np.asarray(n_tokens), np.asarray(truncated)


def embed_items(items: pd.DataFrame, settings: Settings, teacher: str, layers, results: str = "results",
                device: str | None = None, log=lambda m: None) -> dict:
    """``{(layer, pool): float32 [n_items, d]}`` for ``layers`` x (mean, last), embedded as
    the extract job embeds the benchmark items."""
    from ..extract import teacher as teachers
    from ..extract.bench import embed_bench
    from ..extract.forward import Forward
    from ..extract.precision import decide_precision
    from ..layout import Layout
    from ..runtime import pick_device

    spec, index, st = settings.teacher(teacher), settings.teacher_index(teacher), settings.extract
    dev = pick_device(device or st.device)
    layers = list(layers)
    loaded = teachers.load(spec, Layout(results, settings.corpus.name), index, dev, st, layers)
    precision = decide_precision(loaded, st, dev, {"content": str(items["text"].iloc[0])})
    log(f"teacher {teacher}: L={loaded.n_layers} d={loaded.hidden_size} window={loaded.window} device={dev} "
        f"precision={precision.record.get('used')}")
    fwd = Forward(loaded.model, device=dev, bf16=precision.bf16, pad_id=loaded.pad_id, width=loaded.window,
                  layers=loaded.grid, batch_tokens=st.batch_tokens)
    w = _MemoryWriter(layers, loaded.hidden_size)
    embed_bench(items.to_dict("records"), loaded, fwd, w, st.block_windows)
    if w.truncated.any():
        log(f"{int(w.truncated.sum())} items longer than a window ({loaded.cap} tokens): truncated")
    return {k: v.astype(np.float32) for k, v in w.vectors.items()}


def score_items(items: pd.DataFrame, vectors: dict | None, settings: Settings, centers=("raw",), seed=None):
    """Metrics of every (layer, pool, center) in ``vectors`` and of TF-IDF, one frame:
    ``method, layer, pool, center, task, recall@k..., mrr, n_queries, recall@1_lo/_hi, mrr_lo/_hi``."""
    from .lexical import lexical_bench_ranks
    from .retrieval import bench_ranks, rank_metrics

    r = settings.retrieval
    seed = settings.seed if seed is None else seed

    def metrics(ranks, **cell):
        m = rank_metrics(ranks, r.ks, n_boot=r.bootstrap, seed=seed, level=r.ci_level)
        m = m[m["origin"] == "all"].drop(columns="origin")
        for i, (k, v) in enumerate(cell.items()):
            m.insert(i, k, v)
        return m

    frames = [metrics(lexical_bench_ranks(items), method="tfidf", layer="-", pool="-", center="-")]
    for (layer, pool), V in (vectors or {}).items():
        for c in centers:
            frames.append(metrics(bench_ranks(items, V, r, c), method="teacher", layer=layer, pool=pool, center=c))
    out = pd.concat(frames, ignore_index=True)
    out["task"] = out["task"].map(lambda t: TASK_NAMES.get(t, t))
    return out


def format_table(df: pd.DataFrame, teacher: str) -> str:
    ks = [c for c in df.columns if c.startswith("recall@") and not c.endswith(("_lo", "_hi"))]
    lines = []
    for d in df.to_dict("records"):
        name = "TF-IDF identifiers" if d["method"] == "tfidf" else f"{teacher} {d['layer']}/{d['pool']}/{d['center']}"
        vals = "  ".join(f"R@{k.split('@')[1]}={d[k]:.3f}" for k in ks)
        ci = ""
        if "mrr_lo" in d and np.isfinite(d["mrr_lo"]):
            ci = f"  (R@1 [{d['recall@1_lo']:.3f}, {d['recall@1_hi']:.3f}], MRR [{d['mrr_lo']:.3f}, {d['mrr_hi']:.3f}])"
        lines.append(f"{d['task']:<11} {name:<36} {vals}  MRR={d['mrr']:.3f}  n={d['n_queries']}{ci}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m swejepa.phase0.score", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", required=True, help="JSONL of {item_id, group_id, text[, role: code|spec]}")
    ap.add_argument("--teacher", required=True, help="a teacher name of the config")
    ap.add_argument("--layer", nargs="+", default=None, choices=LAYER_NAMES,
                    help="grid layer(s) (default: the config's grid.layers)")
    ap.add_argument("--pool", nargs="+", default=["mean"], choices=VECTOR_POOLS, help="pool(s); default mean")
    ap.add_argument("--center", action="store_true", help="mean-centre the vectors (minus the gallery's mean)")
    ap.add_argument("--both-centers", action="store_true", help="score raw and centered side by side")
    ap.add_argument("--configfile", nargs="+", default=None,
                    help="workflow config file(s), merged as Snakemake does (default: ./config.yaml if present)")
    ap.add_argument("--results", default="results", help="the workflow's results directory (trained teachers)")
    ap.add_argument("--device", default=None, help="cpu | cuda[:i] | auto (default: extract.device)")
    ap.add_argument("--json", default=None, help="also write the metrics as JSON records here")
    a = ap.parse_args(argv)

    cfg = a.configfile if a.configfile is not None else ([p for p in ["config.yaml"] if Path(p).exists()])
    if not cfg:
        ap.error("no config: pass --configfile (the workflow's config.yaml names the teachers)")
    settings = Settings.load(*cfg)
    if a.teacher not in settings.teacher_names:
        ap.error(f"no teacher {a.teacher!r} in the config (teachers: {settings.teacher_names})")
    layers = a.layer or list(settings.grid.layers)
    centers = list(CENTERS) if a.both_centers else (["centered"] if a.center else ["raw"])
    items = read_user_items(a.items)
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    V = embed_items(items, settings, a.teacher, layers, a.results, a.device, log)
    V = {(ln, p): v for (ln, p), v in V.items() if p in a.pool}
    out = score_items(items, V, settings, centers)
    n_groups = items.loc[items["role"] != "spec", "group_id"].nunique()
    print(f"{len(items)} items, {n_groups} groups; Recall@k and MRR, {100 * settings.retrieval.ci_level:g}% "
          f"percentile bootstrap intervals over the queries ({settings.retrieval.bootstrap} resamples)")
    print(format_table(out, a.teacher))
    if a.json:
        Path(a.json).write_text(json.dumps(out.to_dict("records"), indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
