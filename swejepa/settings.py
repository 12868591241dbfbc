"""Typed settings: one frozen dataclass per config section, and the *only* defaults.

Every key a config file may set is a field here, with its default, its constraints and a
one-line description. The JSON schema that validates config files
(``swejepa/schemas/config.schema.yaml``) is generated from these classes
(``python -m swejepa.settings schema``; ``tests/test_settings.py`` proves the committed file
is the generated one), so schema and code cannot disagree. ``config.yaml`` states only the
choices of the embedded default that differ from these defaults, each with its reason.

    from swejepa.settings import Settings
    s = Settings.from_config(config_dict)      # ConfigError naming every bad key
    s.student.train.lr, s.teacher("tinyfim").arch.layers

``python -m swejepa.settings show [--configfile a.yaml b.yaml]`` prints the resolved
configuration (every default filled in); ``schema`` prints the schema.

Library functions take these objects. Snakemake rules pass them to scripts as plain
dicts (``to_dict()``: Snakemake compares only builtin-typed params when it decides to
rerun a job) and the scripts rebuild them with ``from_dict``.
"""

from __future__ import annotations

import copy
import dataclasses
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Union

ConfigKey = str

LAYER_NAMES = ("first", "quarter", "half", "three_quarter", "last")
POOLS = ("mean", "last", "none")
CENTERS = ("raw", "centered")
MASKS = ("regex", "ast")
DEVICE_PATTERN = "^(auto|cpu|cuda(:[0-9]+)?)$"
NAME_PATTERN = "^[A-Za-z0-9_.-]+$"
TRANSFORMS = ("rename", "for_to_while", "while_to_for", "comp_to_loop", "loop_to_comp", "invert_if",
              "strip_docs", "reorder", "combined", "rename_all", "combined_all")
PHASE2_METRICS = ("hard_recall1", "hard_mrr", "probe_selectivity", "refactor_recall1", "refactor_mrr",
                  "spec_recall1", "spec_mrr", "probe_r2", "probe_acc", "probe_score")
# Count properties of the probes (swejepa.properties): non-negative, heavy right tails.
COUNT_PROPERTIES = ("cyclomatic", "n_branches", "n_loops", "n_external_calls", "loc")

Layer = Literal["first", "quarter", "half", "three_quarter", "last"]
Device = str
Dtype = Literal["auto", "fp32", "bf16"]


class ConfigError(ValueError):
    """A configuration value is missing, unknown, mistyped or impossible."""


def opt(default=dataclasses.MISSING, doc: str = "", *, factory=None, **schema):
    """A settings field: default, description and extra JSON-schema constraints
    (``minimum=1``, ``pattern=...``; ``items={...}`` for the items of a sequence)."""
    md = {"doc": doc, "schema": schema}
    if factory is not None:
        return field(default_factory=factory, metadata=md)
    return field(default=default, metadata=md)


class Section:
    """Base of every settings class: dict round trip and schema generation."""

    # ---- construction
    @classmethod
    def from_dict(cls, data: dict | None):
        """Build from a (schema-valid) mapping; missing keys take the field defaults.
        Lists become tuples, nested mappings nested sections, ints become floats where
        the field is a float."""
        data = dict(data or {})
        hints = typing.get_type_hints(cls)
        kw = {}
        for f in dataclasses.fields(cls):
            if f.name in data:
                kw[f.name] = _coerce(hints[f.name], data[f.name])
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ConfigError(f"{cls.__name__}: unknown keys {unknown}")
        return cls(**kw)

    def to_dict(self) -> dict:
        """Plain builtins (lists, dicts): YAML/JSON-ready, and what Snakemake params hold."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def without(self, *names):
        """A copy with the named fields back at their defaults: the view a job gets, so
        that a change of a field it does not read does not rerun it."""
        blank = {f.name: _field_default(f) for f in dataclasses.fields(self)}
        return dataclasses.replace(self, **{n: blank[n] for n in names})

    def with_overrides(self, overrides: dict):
        """A copy with a (nested) mapping of changes laid over it."""
        return type(self).from_dict(_merge(self.to_dict(), overrides))

    # ---- schema
    @classmethod
    def json_schema(cls) -> dict:
        hints = typing.get_type_hints(cls)
        props, required = {}, []
        for f in dataclasses.fields(cls):
            sch = _type_schema(hints[f.name])
            extra = dict(f.metadata.get("schema", {}))
            items = extra.pop("items", None)
            if items:
                sch.setdefault("items", {}).update(items)
            sch.update(extra)
            if f.metadata.get("doc"):
                sch["description"] = f.metadata["doc"]
            default = _field_default(f)
            if default is dataclasses.MISSING:
                required.append(f.name)
            else:
                sch["default"] = _plain(default)
            props[f.name] = sch
        out = {"type": "object", "additionalProperties": False, "properties": props}
        if required:
            out["required"] = required
        out.update(copy.deepcopy(getattr(cls, "_schema_extra", {})))
        return out

    @classmethod
    def defaults(cls) -> dict:
        """``{dotted key: default}`` of every field with a default (nested sections
        expanded): the one table of defaults, used by the tests."""
        out = {}
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            d = _field_default(f)
            sub = _section_type(hints[f.name])
            if sub is not None and (d is dataclasses.MISSING or dataclasses.is_dataclass(d)):
                for k, v in sub.defaults().items():
                    out[f"{f.name}.{k}"] = v
            elif d is not dataclasses.MISSING:
                out[f.name] = _plain(d)
        return out


def _field_default(f):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return dataclasses.MISSING


def _plain(v):
    if isinstance(v, Section):
        return v.to_dict()
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def _merge(base: dict, other: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in (other or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _args(tp):
    return typing.get_args(tp)


def _is_union(tp) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType)


def _section_type(tp):
    if _is_union(tp):
        subs = [a for a in _args(tp) if a is not type(None)]
        return _section_type(subs[0]) if len(subs) == 1 else None
    return tp if isinstance(tp, type) and issubclass(tp, Section) else None


def _coerce(tp, v):
    if v is None:
        return None
    if _is_union(tp):
        subs = [a for a in _args(tp) if a is not type(None)]
        return _coerce(subs[0], v) if len(subs) == 1 else v
    origin = typing.get_origin(tp)
    if origin is tuple:
        (item, *_rest) = _args(tp)
        return tuple(_coerce(item, x) for x in v)
    if isinstance(tp, type) and issubclass(tp, Section):
        return tp.from_dict(v) if isinstance(v, dict) else v
    if tp is float and isinstance(v, int) and not isinstance(v, bool):
        return float(v)
    return v


_JSON = {int: "integer", float: "number", bool: "boolean", str: "string"}


def _type_schema(tp) -> dict:
    if _is_union(tp):
        subs = [a for a in _args(tp) if a is not type(None)]
        nullable = len(subs) < len(_args(tp))
        base = _type_schema(subs[0]) if len(subs) == 1 else {"anyOf": [_type_schema(s) for s in subs]}
        if nullable:
            if set(base) <= {"type", "enum"} and isinstance(base.get("type"), str):
                base["type"] = [base["type"], "null"]
                if "enum" in base:
                    base["enum"] = list(base["enum"]) + [None]
            else:
                base = {"anyOf": [base, {"type": "null"}]}
        return base
    origin = typing.get_origin(tp)
    if origin is Literal:
        vals = list(_args(tp))
        return {"type": _JSON[type(vals[0])], "enum": vals}
    if origin is tuple:
        return {"type": "array", "items": _type_schema(_args(tp)[0])}
    if isinstance(tp, type) and issubclass(tp, Section):
        return tp.json_schema()
    if tp in _JSON:
        return {"type": _JSON[tp]}
    raise TypeError(f"no schema for type {tp!r}")


# =============================================================================== sections

@dataclass(frozen=True)
class NearDupSettings(Section):
    action: Literal["group", "drop", "off"] = opt(
        "group", "group: near-duplicate files are kept and never straddle two splits (the packages a cluster "
                 "spans are split as one unit) | drop: only each cluster's first file is kept, the others are "
                 "skipped as near_duplicate | off: no clustering (splits by package alone)")
    jaccard: float = opt(0.85, "estimated Jaccard similarity of token shingles at or above which two files are "
                               "near-duplicates: BigCode's near-deduplication threshold for The Stack (5-token "
                               "shingles, MinHash LSH)", exclusiveMinimum=0, maximum=1)
    num_perm: int = opt(128, "MinHash permutations (seeded by `seed`): the Jaccard estimate's standard error is "
                             "<= 0.5/sqrt(num_perm) = 0.044", minimum=16, maximum=1024)
    shingle_tokens: int = opt(5, "tokens (identifiers and numbers) per shingle", minimum=1)


@dataclass(frozen=True)
class HfColumns(Section):
    """Column names of an `hf` dataset, each a list of candidates: the first one the
    dataset has is used (The Stack's first, then the-stack-smol's and The Stack v2's)."""

    content: tuple[str, ...] = opt(("content", "text"), "the file's text", minItems=1)
    repo: tuple[str, ...] = opt(("max_stars_repo_name", "repository_name", "repo_name"),
                                "the repository: the split unit (`package`); none present: the path's first "
                                "component", minItems=1)
    path: tuple[str, ...] = opt(("max_stars_repo_path", "path"), "the file's path in its repository (none "
                                "present: the record number)", minItems=1)
    licenses: tuple[str, ...] = opt(("max_stars_repo_licenses", "licenses", "detected_licenses"),
                                    "the repository's licences, recorded per file", minItems=1)


@dataclass(frozen=True)
class CorpusSettings(Section):
    name: str = opt("stdlib", "used in paths: results/corpus/{name}/", pattern=NAME_PATTERN)
    source: Literal["stdlib", "site-packages", "dir", "jsonl", "hf"] = opt(
        "stdlib", "stdlib: this interpreter's standard library | site-packages: the .py files of the installed "
                  "distributions (importlib.metadata; package = distribution) | dir | jsonl | hf: a Hugging Face "
                  "dataset (hub id, or a local parquet/jsonl file or save_to_disk folder; package = repository)")
    path: Optional[str] = opt(None, "directory (dir), JSONL of {path, content} (jsonl), hub id or local "
                                    "file/folder (hf)")
    data_dir: Optional[str] = opt(None, "hf: the folder of the dataset (hub repository or local folder) whose data "
                                        "files are read, e.g. data/python (null: all of it)")
    hf_split: str = opt("train", "hf: the split read (of a save_to_disk DatasetDict or a hub dataset)")
    revision: Optional[str] = opt(None, "hf: hub revision (branch, tag or commit; null: the default branch)")
    hf_columns: HfColumns = opt(factory=HfColumns, doc="hf: which columns hold the text, repository, path, licences")
    exclude_distributions: tuple[str, ...] = opt(
        ("swejepa",), "site-packages: distributions whose files are listed as excluded_distribution (the project "
                      "itself: the workflow's own code is not its data)", uniqueItems=True)
    test_dirs: Literal["skip", "keep"] = opt(
        "skip", "files under a directory named test/, tests/, idle_test/ or unittests/ (any source: stdlib, "
                "site-packages, dir, and the record paths of jsonl/hf): skip = listed in skipped.csv as "
                "excluded_test_dir, keep = treated like every other file")
    max_files: Optional[int] = opt(None, "cap after sorting by path (hf: moreover only the first that many "
                                         "records of the dataset are read, in its order; null: all)", minimum=1)
    max_file_bytes: int = opt(1_000_000, "larger files are skipped and reported", minimum=1)
    val_fraction: float = opt(0.1, "held-out packages, by share of files", minimum=0, maximum=0.5)
    test_fraction: float = opt(0.1, "held-out packages, by share of files", minimum=0, maximum=0.5)
    near_duplicates: NearDupSettings = opt(factory=NearDupSettings,
                                           doc="MinHash near-duplicate clusters (near_duplicates.csv)")


@dataclass(frozen=True)
class MaskSettings(Section):
    strategies: tuple[Literal["regex", "ast"], ...] = opt(
        ("regex", "ast"), "the mask axis of the grid", minItems=1, uniqueItems=True)
    min_body_lines: int = opt(1, "regions with shorter bodies are dropped (counted)", minimum=1)


@dataclass(frozen=True)
class GridSettings(Section):
    layers: tuple[Layer, ...] = opt(
        LAYER_NAMES, "per teacher of depth L: first=1, quarter=L/4, half=L/2, three_quarter=3L/4, last=L",
        minItems=1, uniqueItems=True)
    pools: tuple[Literal["mean", "last", "none"], ...] = opt(
        POOLS, "none = per-token vectors", minItems=1, uniqueItems=True)
    centers: tuple[Literal["raw", "centered"], ...] = opt(
        CENTERS, "anisotropy axis of the Exp 0.1 statistics and Exp 0.2 retrieval cells: raw vectors, or centered "
                 "(minus the mean vector of the cell's sample / of the benchmark gallery); views of the stored "
                 "vectors, no extra forward pass", minItems=1, uniqueItems=True)


@dataclass(frozen=True)
class PaperSettings(Section):
    pdf: bool = opt(True, "rule all requests results/paper/main.pdf (false: everything but the PDF)")
    report_dpi: int = opt(150, "PNGs rendered for the report from figure PDFs without a PNG twin",
                          minimum=30, maximum=1200)


@dataclass(frozen=True)
class StatsSettings(Section):
    max_samples: int = opt(2000, "regions per cell (seeded sample): cosines over n(n-1)/2 pairs", minimum=2)
    max_tokens: int = opt(2000, "token vectors per cell for pool none", minimum=2)
    bootstrap: int = opt(1000, "bootstrap resamples of the regions (tokens for pool none) for the interval of the "
                               "mean pairwise cosine; 0: no interval", minimum=0)
    ci_level: float = opt(0.95, "two-sided level of the percentile bootstrap interval", exclusiveMinimum=0,
                          exclusiveMaximum=1)


@dataclass(frozen=True)
class BenchSettings(Section):
    heldout_split: Literal["train", "val", "test"] = opt("test", "functions of this split are rewritten")
    heldout_functions: int = opt(100, "seeded sample rewritten (refactoring invariance)", minimum=0)
    distractors: int = opt(200, "further held-out functions, gallery only", minimum=0)
    min_body_lines: int = opt(3, "", minimum=1)
    max_body_lines: int = opt(60, "", minimum=1)
    max_chars: int = opt(20000, "held-out functions with longer sources are not sampled (rewriting takes ~10 s "
                                "per 100K characters; the longest stdlib function of 3-60 body lines has 5.8K)",
                         minimum=1)
    humaneval_problems: Optional[int] = opt(None, "null: all 164", minimum=1, maximum=164)
    transforms: tuple[str, ...] = opt(TRANSFORMS, "execution-verified rewrites", minItems=1, uniqueItems=True,
                                      items={"enum": list(TRANSFORMS)})
    implementations: bool = opt(True, "the packaged independently written implementations of the same "
                                      "specifications (swejepa/phase0/equivalence/*.yaml), each verified against "
                                      "its specification's tests in the sandbox: hard queries")
    implementation_specs: Optional[int] = opt(None, "the first N specifications of that set (null: all)", minimum=1)
    verify_timeout_s: float = opt(10.0, "per HumanEval rewrite / implementation test run (sandbox)",
                                  exclusiveMinimum=0)
    verify_workers: int = opt(2, "sandboxed verification runs in parallel", minimum=1)
    verify_mem_mb: int = opt(1024, "address-space limit per verification run", minimum=64)


@dataclass(frozen=True)
class RetrievalSettings(Section):
    ks: tuple[int, ...] = opt((1, 5, 10), "recall@k", minItems=1, uniqueItems=True, items={"minimum": 1})
    index: Literal["flat", "ivf", "hnsw"] = opt("flat", "FAISS index, inner product on L2-normalised vectors")
    nlist: int = opt(100, "ivf", minimum=1)
    nprobe: int = opt(10, "ivf", minimum=1)
    hnsw_m: int = opt(32, "hnsw", minimum=4)
    report_queries: int = opt(8, "queries per task shown in results/phase0/retrieval/report_{teacher}.md", minimum=0)
    bootstrap: int = opt(1000, "bootstrap resamples of the queries (seeded, paired across methods) for the "
                               "intervals of recall@1 and MRR and of the headline gain; 0: no intervals", minimum=0)
    ci_level: float = opt(0.95, "two-sided level of the percentile bootstrap intervals", exclusiveMinimum=0,
                          exclusiveMaximum=1)
    bench: BenchSettings = opt(factory=BenchSettings, doc="results/bench/retrieval_items.jsonl, built before extraction")


@dataclass(frozen=True)
class ProbeSettings(Section):
    max_samples: int = opt(1000, "functions per (teacher, mask) (seeded; the same for every cell)", minimum=10)
    folds: int = opt(5, "outer CV, grouped by package", minimum=2)
    inner_folds: int = opt(3, "nested CV choosing the regularisation", minimum=2)
    alphas: tuple[float, ...] = opt((0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0, 100000.0, 1000000.0),
                                    "ridge (one eigendecomposition serves all)", minItems=1,
                                    items={"exclusiveMinimum": 0})
    classifier: Literal["ridge", "logistic"] = opt(
        "ridge", "categorical probes: ridge = least squares on one-hot targets, argmax (one eigendecomposition per "
                 "fold serves every alpha, like the count probes: ~50x cheaper than the logistic path, so the "
                 "probes can use 5,000+ functions and run at every student checkpoint) | logistic = "
                 "multinomial logistic regression over `Cs` (warm-started path)")
    Cs: tuple[float, ...] = opt((0.001, 0.01, 0.1, 1.0), "logistic regression (warm-started path)", minItems=1,
                                items={"exclusiveMinimum": 0})
    max_iter: int = opt(300, "", minimum=10)
    log_targets: tuple[str, ...] = opt(
        COUNT_PROPERTIES, "count properties fitted and scored as log1p(count): all five are right-skewed (stdlib "
                          "skewness 4-7 raw, 0.8-3 after log1p), so on the raw scale a handful of very long "
                          "functions dominate the variance and R2 measures them, not the typical function",
        uniqueItems=True, items={"enum": list(COUNT_PROPERTIES)})


@dataclass(frozen=True)
class StudentModel(Section):
    d_model: int = opt(128, "width 128 (the default's budget): bench_student.py at batch 32, 1 thread: 9,611 "
                            "tokens/s (MFU 0.36) against 6,105 at 192 (MFU 0.52), i.e. 1.6x the training tokens "
                            "per second", minimum=8)
    n_layers: int = opt(4, "", minimum=1)
    n_heads: int = opt(4, "", minimum=1)
    mlp_ratio: float = opt(4.0, "", exclusiveMinimum=0)
    dropout: float = opt(0.0, "", minimum=0, maximum=0.9)
    positions: Literal["abs", "rope"] = opt(
        "abs", "(a) abs: learned mask token + learned position embedding | rope: rotary like the teacher")
    predictor: Literal["transformer", "mlp"] = opt(
        "transformer", "(c) transformer: narrow I-JEPA-style predictor | mlp: per-position MLP")
    pred_d_model: int = opt(64, "half the encoder's width", minimum=8)
    pred_layers: int = opt(2, "", minimum=1)
    pred_heads: int = opt(4, "", minimum=1)


@dataclass(frozen=True)
class StudentTrain(Section):
    loss: Literal["l1", "l2", "smooth_l1", "cosine"] = opt(
        "l1", "per-token regression loss: l1 | l2 (mean squared error) | smooth_l1 (Huber, beta 1) | cosine "
              "(1 - cosine similarity)")
    contrastive_weight: float = opt(0.1, "InfoNCE(predictions, targets) over the batch's masked tokens; plain "
                                         "L1 collapsed (README, Phase 1)", minimum=0)
    contrastive_temperature: float = opt(0.1, "", exclusiveMinimum=0)
    contrastive_max_tokens: int = opt(256, "", minimum=2)
    variance_weight: float = opt(0.0, "hinge on the per-dimension std of predictions (collapse guard)", minimum=0)
    batch_size: int = opt(16, "", minimum=1)
    max_steps: int = opt(150, "", minimum=1)
    max_flops: Optional[float] = opt(None, "stop once 6*params*tokens reaches it (Phase 2 budgets)",
                                     exclusiveMinimum=0)
    lr: float = opt(0.001, "", exclusiveMinimum=0)
    min_lr_ratio: float = opt(0.1, "", minimum=0, maximum=1)
    weight_decay: float = opt(0.05, "", minimum=0)
    warmup_steps: int = opt(15, "", minimum=0)
    grad_clip: float = opt(1.0, "", minimum=0)
    eval_every: int = opt(25, "", minimum=1)
    eval_batches: int = opt(4, "", minimum=1)
    ckpt_every: int = opt(25, "Experiment 1.2 data points (plus step 0 and the last step)", minimum=1)
    resume_every: int = opt(25, "resume state every N steps (0: only on interruption)", minimum=0)
    dtype: Dtype = opt("auto", "auto: bf16 autocast on CUDA, fp32 on CPU (bf16 autocast trained this small "
                               "student 0.6-1.1x as fast as fp32 even with AMX)")
    device: Device = opt("auto", "", pattern=DEVICE_PATTERN)
    threads: Optional[int] = opt(None, "null: the rule's threads", minimum=1)


@dataclass(frozen=True)
class StudentEval(Section):
    n_candidates: int = opt(31, "success check: own target vs N random others", minimum=1)
    representation: Literal["encoder", "predictor"] = opt("encoder", "encoder: unmasked, mean over the span")
    val_regions: int = opt(256, "val regions for the success check and checkpoint losses", minimum=2)
    probe_max_samples: int = opt(600, "", minimum=10)


@dataclass(frozen=True)
class StudentAblation(Section):
    enabled: bool = opt(True, "one extra student per flipped design option")
    teacher: Optional[str] = opt(None, "null: the first student teacher")
    max_steps: Optional[int] = opt(80, "null: train.max_steps", minimum=1)
    collapse: bool = opt(True, "also the collapse ablation (why representations lose quality as the loss falls): "
                               "each other loss of `collapse_losses`, the target normalisation flipped, "
                               "`max_len_factor` x the context, `lr_factor` x the learning rate; one flip each")
    collapse_losses: tuple[Literal["l1", "l2", "smooth_l1", "cosine"], ...] = opt(
        ("l1", "smooth_l1", "cosine"), "losses compared (LLM-JEPA: plain L2 distance collapses, cosine and MSE "
                                      "do not; the main loss is skipped)", uniqueItems=True)
    max_len_factor: float = opt(2.0, "context-length variant: max_len x this", exclusiveMinimum=0)
    lr_factor: float = opt(0.3, "learning-rate variant: lr x this", exclusiveMinimum=0)


# Fields of StudentSettings that do not change what a training job computes.
STUDENT_JOB_FIELDS = ("teachers", "eval", "ablation", "runtime", "time_margin", "gpus")


@dataclass(frozen=True)
class StudentSettings(Section):
    teachers: Optional[tuple[str, ...]] = opt(None, "teachers to train a student for (null: every teacher)",
                                              uniqueItems=True, items={"pattern": NAME_PATTERN})
    mask: Literal["regex", "ast"] = opt("ast", "mask strategy whose per-token targets are predicted")
    target_layer: Layer = opt("last", "grid layer of the per-token targets")
    target_norm: Literal["layernorm", "none"] = opt("layernorm", "per-token layer norm without affine (V-JEPA)")
    context: Literal["signature", "file"] = opt(
        "signature", "(b) signature: sees signature + docstring | file: only the surrounding file")
    targets: Literal["precomputed", "online"] = opt(
        "precomputed", "precomputed: the per-token vectors stored by extraction (its seeded subset of regions) | "
                       "online: every region with a window; the frozen teacher computes each batch's targets (one "
                       "forward per batch, bf16 on CUDA), nothing per token stored for the student")
    max_len: int = opt(96, "tokens per example (context + predicted), cropped around the region", minimum=8)
    max_targets: int = opt(32, "predicted tokens per region (its first ones)", minimum=1)
    model: StudentModel = opt(factory=StudentModel)
    train: StudentTrain = opt(factory=StudentTrain)
    eval: StudentEval = opt(factory=StudentEval)
    ablation: StudentAblation = opt(factory=StudentAblation)
    runtime: int = opt(60, "minutes per training job (SLURM)", minimum=1)
    time_margin: int = opt(5, "checkpoint and exit non-zero this many minutes before the runtime", minimum=0)
    gpus: int = opt(0, ">1: torchrun / DDP inside the job", minimum=0)

    def recipe(self) -> "StudentSettings":
        """The settings with the job-only fields at their defaults: what a training job
        computes depends only on this (a change of eval settings reruns no training)."""
        return self.without(*STUDENT_JOB_FIELDS)

    @property
    def time_budget_s(self) -> int:
        """The rule's runtime minus the margin: checkpoint and exit before SLURM kills the job."""
        return max(60, 60 * (self.runtime - self.time_margin))


@dataclass(frozen=True)
class TokenizerSpec(Section):
    vocab_size: int = opt(8192, "byte-level BPE vocabulary", minimum=300, maximum=1000000)
    max_chars: Optional[int] = opt(4_000_000, "characters of the train split the BPE is fitted on",
                                   minimum=1000)
    min_frequency: int = opt(2, "", minimum=1)


@dataclass(frozen=True)
class ArchSpec(Section):
    hidden_size: int = opt(128, "", minimum=8)
    layers: int = opt(4, "", minimum=1)
    heads: int = opt(4, "", minimum=1)
    kv_heads: int = opt(4, "", minimum=1)
    intermediate_size: int = opt(512, "", minimum=8)
    context: int = opt(512, "max positions", minimum=16)


@dataclass(frozen=True)
class TrainingSpec(Section):
    steps: Optional[int] = opt(100, "optimizer steps x batch_size x seq_len tokens; null + flops_budget instead",
                               minimum=1)
    flops_budget: Optional[float] = opt(None, "6 * params * tokens", exclusiveMinimum=0)
    batch_size: int = opt(8, "", minimum=1)
    seq_len: int = opt(512, "", minimum=16)
    lr: float = opt(0.002, "", exclusiveMinimum=0)
    min_lr_ratio: float = opt(0.1, "", minimum=0, maximum=1)
    warmup: int = opt(10, "", minimum=0)
    weight_decay: float = opt(0.1, "", minimum=0)
    grad_clip: float = opt(1.0, "", minimum=0)
    fim_rate: float = opt(0.9, "share of FIM examples (the rest: plain left-to-right)", minimum=0, maximum=1)
    region_fraction: float = opt(0.5, "share of FIM middles that are masked regions (else random spans)",
                                 minimum=0, maximum=1)
    mask: Literal["regex", "ast"] = opt("ast", "mask strategy the region middles come from")
    checkpoint_every: int = opt(25, "resume state to results/teachers/{name}/_resume/ (declared by no rule)",
                                minimum=0)
    log_every: int = opt(5, "", minimum=1)
    dtype: Literal["auto", "float32", "bfloat16"] = opt(
        "auto", "auto: bf16 autocast only where faster and the loss matches fp32")
    device: Device = opt("auto", "", pattern=DEVICE_PATTERN)
    gradient_checkpointing: bool = opt(False, "large fine-tuned (hf) teachers")


@dataclass(frozen=True)
class TeacherSpec(Section):
    name: str = opt(doc="used in paths: results/teachers/{name}/, results/latents/{name}/", pattern=NAME_PATTERN)
    source: Literal["train", "package", "hf", "random"] = opt(
        doc="train: Stage 1, trained here | package: model dir inside an installed package | hf: Hugging Face "
            "id or local dir | random: architecture + tokenizer of `like`, initial weights")
    model: Optional[str] = opt(None, "hf: id or local dir; package: import name", minLength=1)
    path: Optional[str] = opt(None, "package: subdirectory holding config.json")
    revision: Optional[str] = opt(None, "hf only")
    like: Optional[str] = opt(None, "random: the train teacher whose architecture and tokenizer it copies")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = opt("auto", "load dtype (hf); auto: float32")
    max_length: Optional[int] = opt(None, "context cap for windows", minimum=8)
    tokenizer: TokenizerSpec = opt(factory=TokenizerSpec, doc="train teachers")
    arch: ArchSpec = opt(factory=ArchSpec, doc="train teachers (random ones copy their like's)")
    training: TrainingSpec = opt(factory=TrainingSpec,
                                 doc="Stage 1 (train), or the FIM fine-tuning recipe of Experiment 2.2 (hf)")

    _schema_extra = {"allOf": [
        {"if": {"properties": {"source": {"const": "random"}}}, "then": {"required": ["like"]}},
        {"if": {"properties": {"source": {"enum": ["hf", "package"]}}}, "then": {"required": ["model"]}},
    ]}

    @property
    def builds_here(self) -> bool:
        """Built by the workflow into results/teachers/{name}/model/ (train, random)."""
        return self.source in ("train", "random")

    @property
    def finetunes(self) -> bool:
        """A pretrained causal LM that Experiment 2.2 fine-tunes (hf, package)."""
        return self.source in ("hf", "package")


@dataclass(frozen=True)
class ExtractSettings(Section):
    device: Device = opt("auto", "auto: cuda when visible", pattern=DEVICE_PATTERN)
    dtype: Literal["auto", "float32", "bfloat16"] = opt(
        "auto", "auto: bf16 autocast where faster and cosine >= bf16_min_cosine")
    bf16_min_cosine: float = opt(0.999, "", minimum=0, maximum=1)
    window: int = opt(512, "max tokens per window (and at most the teacher's positions)", minimum=16)
    batch_tokens: int = opt(4096, "padded tokens per forward batch (8192 peaked ~10% higher, no faster)",
                            minimum=16)
    block_windows: int = opt(256, "windows per streamed block (bounds memory)", minimum=1)
    n_shards: int = opt(1, "one job per (teacher, shard)", minimum=1)
    token_max_regions: Optional[int] = opt(1000, "per-token vectors for at most this many seeded regions per mask "
                                                 "and shard (null: every region)", minimum=0)
    token_epochs: Optional[float] = opt(None, "size the per-token set to the main students' budget: enough regions "
                                              "that they see each train region at most this many times (steps x "
                                              "batch_size / epochs train regions; capped by token_max_regions); "
                                              "null: token_max_regions alone", exclusiveMinimum=0)
    token_layers: Optional[tuple[Layer, ...]] = opt(
        None, "grid layers whose per-token vectors are stored (null: every grid layer). The students read "
              "student.target_layer (it must be listed); Exp 0.1's pool-none cells of the other layers are then "
              "not measured (their rows say n = 0). Each layer costs the full per-token storage again",
        minItems=1, uniqueItems=True)
    token_storage_gb: float = opt(200.0, "limit of the per-token vectors' storage (regions x tokens x d x 2 bytes x "
                                         "grid layers, estimated before the forward pass); above it the job stops "
                                         "before any compute (student.targets: online needs no stored targets)",
                                  exclusiveMinimum=0)
    max_files: Optional[int] = opt(None, "seeded subset of the files with regions (null: all)", minimum=1)
    hf_offline: bool = opt(True, "HF_HUB_OFFLINE=1: hf teachers must be cached or local dirs")
    threads: int = opt(2, "", minimum=1)
    mem_mb: int = opt(6000, "", minimum=100)
    runtime: int = opt(60, "minutes per teacher-training and extraction job (SLURM)", minimum=1)
    time_margin: int = opt(5, "teacher training checkpoints and exits non-zero this many minutes before "
                              "the runtime (the retry resumes)", minimum=0)
    gpu: int = opt(0, "GPUs requested by teacher training and extraction jobs", minimum=0)

    def job(self) -> "ExtractSettings":
        """Without the scheduling fields (threads, memory, runtime, GPUs): what an
        extraction computes depends only on this."""
        return self.without("threads", "mem_mb", "runtime", "time_margin", "gpu")

    @property
    def time_budget_s(self) -> int:
        """Teacher training's wall-clock budget: the runtime minus the margin."""
        return max(60, 60 * (self.runtime - self.time_margin))


@dataclass(frozen=True)
class DecoderModel(Section):
    d_model: int = opt(128, "", minimum=1)
    n_layers: int = opt(3, "", minimum=1)
    n_heads: int = opt(4, "", minimum=1)
    d_ff: int = opt(512, "", minimum=1)
    latent_slots: int = opt(16, "student latents of the first body tokens, projected as a prefix", minimum=1)
    dropout: float = opt(0.0, "", minimum=0, exclusiveMaximum=1)


@dataclass(frozen=True)
class DecoderTrain(Section):
    batch_size: int = opt(16, "", minimum=1)
    max_steps: int = opt(100, "", minimum=1)
    lr: float = opt(0.002, "", exclusiveMinimum=0)
    min_lr_ratio: float = opt(0.1, "", minimum=0, maximum=1)
    weight_decay: float = opt(0.05, "", minimum=0)
    warmup_steps: int = opt(15, "", minimum=0)
    grad_clip: float = opt(1.0, "", exclusiveMinimum=0)
    dtype: Dtype = opt("auto", "auto: bf16 autocast on CUDA")
    device: Device = opt("auto", "", pattern=DEVICE_PATTERN)


@dataclass(frozen=True)
class DecoderGeneration(Section):
    temperature: float = opt(0.8, "", minimum=0)
    top_p: float = opt(0.95, "", exclusiveMinimum=0, maximum=1)
    max_new_tokens: int = opt(64, "", minimum=1)
    batch_size: int = opt(64, "", minimum=1)


@dataclass(frozen=True)
class DecoderHumanEval(Section):
    n_samples: int = opt(10, "samples per problem (n of the unbiased pass@k estimator)", minimum=1)
    ks: tuple[int, ...] = opt((1, 10), "", minItems=1, uniqueItems=True, items={"minimum": 1})
    problems: Optional[int] = opt(None, "null: all 164", minimum=1, maximum=164)
    timeout_s: float = opt(5.0, "wall clock per sample in the sandbox", exclusiveMinimum=0)
    workers: int = opt(2, "sandboxed runs in parallel", minimum=1)
    mem_mb: int = opt(1024, "address-space limit per sample", minimum=64)


@dataclass(frozen=True)
class DecoderSettings(Section):
    teacher: Optional[str] = opt(None, "student teacher whose student supplies the latents and whose "
                                       "tokenizer is used (null: the first `train` teacher)", pattern=NAME_PATTERN)
    student_variant: str = opt("main", "results/students/{teacher}/{student_variant}/final.pt",
                               pattern=NAME_PATTERN)
    variants: tuple[Literal["latent", "nolatent", "oracle"], ...] = opt(
        ("latent", "nolatent", "oracle"), "oracle: decoder on the teacher's own latents (held-out only)",
        minItems=1, uniqueItems=True)
    teacher_fim: bool = opt(True, "the teacher fills in bodies (when it is a causal LM with FIM sentinels)")
    gpu: int = opt(0, "GPUs requested by decoder_train / decoder_eval", minimum=0)
    runtime: int = opt(60, "minutes per decoder_train / decoder_eval job (SLURM)", minimum=1)
    threads: Optional[int] = opt(1, "torch threads (tiny models: 1 is as fast and robust to shared cores); "
                                    "null: the rule's threads", minimum=1)
    baseline_match: Literal["total", "decoder"] = opt(
        "total", "nolatent params = decoder + student (total, the seed's criterion) | decoder")
    prefix_tokens: int = opt(96, "context before the body (signature, docstring, file above)", minimum=1)
    suffix_tokens: int = opt(16, "context after the body", minimum=0)
    max_body_tokens: int = opt(64, "longer bodies are truncated (no EOS target)", minimum=1)
    max_train_regions: Optional[int] = opt(2000, "", minimum=1)
    max_eval_regions: Optional[int] = opt(200, "held-out (test split) regions", minimum=1)
    heldout_generations: int = opt(64, "held-out regions sampled once per system: syntax validity", minimum=0)
    model: DecoderModel = opt(factory=DecoderModel)
    train: DecoderTrain = opt(factory=DecoderTrain)
    generation: DecoderGeneration = opt(factory=DecoderGeneration)
    humaneval: DecoderHumanEval = opt(factory=DecoderHumanEval)

    @property
    def max_positions(self) -> int:
        return int(self.prefix_tokens + self.suffix_tokens + self.max_body_tokens + 4)


@dataclass(frozen=True)
class ComputeSettings(Section):
    teachers: Optional[tuple[str, ...]] = opt(
        None, "train teachers: Stage 1 from initial weights; hf/package causal LMs: FIM fine-tuning with their "
              "training block (null: the first `train` teacher)", minItems=1, uniqueItems=True,
        items={"pattern": NAME_PATTERN})
    total_flops: float = opt(3.0e12, "6*params*tokens, teacher + student training, per sweep point",
                             exclusiveMinimum=0)
    teacher_percent: tuple[int, ...] = opt((0, 25, 50, 75), "share of total_flops spent on the teacher (%)",
                                           minItems=1, uniqueItems=True, items={"minimum": 0, "maximum": 99})
    seeds: tuple[int, ...] = opt((0,), "", minItems=1, uniqueItems=True, items={"minimum": 0})
    max_regions: Optional[int] = opt(None, "per split (train, val) retargeted for the student (null: all)",
                                     minimum=1)
    snapshot_steps: tuple[int, ...] = opt((40,), "steps of the undertrained-teacher curve (0 and the end are added)",
                                          uniqueItems=True, items={"minimum": 1})


@dataclass(frozen=True)
class Phase2Settings(Section):
    teachers: Optional[tuple[str, ...]] = opt(None, "Experiment 2.1 grid (null: every teacher); plus the "
                                                    "untrained student", uniqueItems=True,
                                              items={"pattern": NAME_PATTERN, "not": {"const": "untrained"}})
    small_teacher: Optional[str] = opt(None, "2.1 criterion's smallest teacher (null: fewest parameters, "
                                             "random teachers excluded)")
    large_teacher: Optional[str] = opt(None, "2.1 criterion's largest teacher (null: most parameters)")
    floor_teacher: Optional[str] = opt(None, "tokenizer/windows of the untrained student (null: the first "
                                             "Stage-1 compute teacher)")
    seeds: tuple[int, ...] = opt((0,), "students per teacher; seed == `seed` reuses the student stage's",
                                 minItems=1, uniqueItems=True, items={"minimum": 0})
    metric: Literal[PHASE2_METRICS] = opt(  # type: ignore[valid-type]
        "probe_selectivity", "quality number of the 2.1/2.2 criteria and figures. probe_selectivity: student probe "
                             "R2 minus the body-length baseline's on the same functions and folds (measured on every "
                             "run); hard_mrr: retrieval on the lexically hard part of the benchmark (absent until "
                             "items are flagged hard). refactor_* and spec_* reward preserved token identity: the "
                             "untrained student wins them")
    table_metrics: tuple[str, ...] = opt(("hard_mrr", "probe_selectivity", "refactor_mrr"),
                                         "columns of exp21/exp22 (refactor_mrr: the lexical reference)", minItems=1,
                                         uniqueItems=True, items={"enum": list(PHASE2_METRICS)})
    compute: ComputeSettings = opt(factory=ComputeSettings, doc="Experiment 2.2")
    gpu: int = opt(0, "GPUs requested by the phase2 training rules (SLURM)", minimum=0)
    runtime: int = opt(60, "minutes per training job (SLURM)", minimum=1)


GPU_TYPES = ("h100", "h200", "a100", "a100-40gb", "l40s", "rtx4090")


@dataclass(frozen=True)
class PlanSettings(Section):
    gpu_type: Literal[GPU_TYPES] = opt(  # type: ignore[valid-type]
        "h100", "GPU the GPU jobs run on, for the cost plan (python -m swejepa.plan; swejepa/plan/hardware.py)")
    executor: Literal["slurm", "local"] = opt(
        "slurm", "slurm: only jobs that request a GPU get one | local (snakemake -cN on a GPU machine): every torch "
                 "job with device auto sees the GPU")
    max_epochs: float = opt(10.0, "the cost plan and the Snakefile (at parse time) warn when a student sees its distinct "
                                  "train target regions more often than this", exclusiveMinimum=0)


@dataclass(frozen=True)
class VerdictSettings(Section):
    """The seed's success criteria as tests with a direction and a CI (swejepa/verdicts.py,
    results/paper/verdicts.csv). A verdict is `met` when the whole CI lies on the success side
    of the threshold, `not_met` when it lies on the other side, `underpowered` when it straddles
    the threshold or the instrument's own sanity check fails."""

    resamples: int = opt(2000, "bootstrap resamples of every CI (seeded by `seed`); a few thousand items "
                               "resample in milliseconds", minimum=100)
    level: float = opt(0.95, "two-sided confidence level of every CI", exclusiveMinimum=0.5, exclusiveMaximum=1)
    min_units: int = opt(20, "fewer queries, functions, regions or problems than this: underpowered", minimum=2)
    max_mean_cosine: float = opt(0.9, "Exp 0.1: mean pairwise cosine (raw vectors) of the best-differentiated "
                                      "cell must be below this (the seed: 'not concentrated near 1.0'; 0.9 is the "
                                      "cut the stats table already reports as the share of pairs above 0.9)",
                                 minimum=-1, maximum=1)
    min_gain: float = opt(0.0, "Exp 0.2: the best teacher's MRR gain over the better of TF-IDF and the random-init "
                               "teacher, on the lexically hard part, must exceed this (the seed: semantically "
                               "related, not just syntactically similar)")
    min_selectivity: float = opt(0.0, "Exp 0.3: the best probe's selectivity (score minus the better of the "
                                      "surface baseline and the random-init teacher) must exceed this (the seed: "
                                      "properties 'linearly decodable'; beyond what length or an untrained network "
                                      "gives)")
    corr_r2: float = opt(0.8, "Exp 1.2: the seed's R2 > 0.8, applied to the rank correlation in the seed's direction: "
                              "Spearman rho(val loss, metric) < -sqrt(corr_r2) (lower loss, better metric)",
                         exclusiveMinimum=0, maximum=1)
    corr_metrics: tuple[str, ...] = opt(
        ("hard_mrr", "hard_recall1", "probe_selectivity"),
        "Exp 1.2: downstream metrics the criterion may be met on ('at least one'); those a run does not measure "
        "are skipped. Not refactor/spec retrieval: the untrained student wins those by preserving token identity",
        minItems=1, uniqueItems=True)
    min_checkpoints: int = opt(5, "Exp 1.2: fewer checkpoints after step 0 per student and the relation is "
                                  "underpowered (a rank correlation of 4 points is 1 by chance 1 time in 12)",
                               minimum=3)
    teacher_gap_ratio: float = opt(0.5, "Exp 2.1: |q(large) - q(small)| / (q(best) - q(untrained)) must be below "
                                        "this (the seed: 'small relative to'; below one half: the teacher's size "
                                        "matters less than half as much as having a teacher at all)",
                                   exclusiveMinimum=0)
    alloc_max_teacher_percent: float = opt(25.0, "Exp 2.2: the best allocation's teacher share (%) must be at most "
                                                 "this (the seed: 'overwhelmingly favors the student')",
                                           minimum=0, maximum=100)

    def ci(self) -> "VerdictSettings":
        """Only the CI fields (resamples, level): what a job that computes CIs but no verdict
        reads, so that a change of a threshold reruns no evaluation."""
        return self.without(*[f.name for f in dataclasses.fields(self) if f.name not in ("resamples", "level")])


@dataclass(frozen=True)
class Settings(Section):
    """The whole configuration (``config.yaml`` + overlays)."""

    teachers: tuple[TeacherSpec, ...] = opt(doc="a list: an overlay replaces it whole", minItems=1)
    seed: int = opt(0, "", minimum=0)
    corpus: CorpusSettings = opt(factory=CorpusSettings)
    masks: MaskSettings = opt(factory=MaskSettings)
    grid: GridSettings = opt(factory=GridSettings)
    paper: PaperSettings = opt(factory=PaperSettings)
    stats: StatsSettings = opt(factory=StatsSettings, doc="Experiment 0.1")
    retrieval: RetrievalSettings = opt(factory=RetrievalSettings, doc="Experiment 0.2")
    probes: ProbeSettings = opt(factory=ProbeSettings, doc="Experiment 0.3")
    student: StudentSettings = opt(factory=StudentSettings, doc="Phase 1 (Experiments 1.1, 1.2)")
    extract: ExtractSettings = opt(factory=ExtractSettings)
    decoder: DecoderSettings = opt(factory=DecoderSettings, doc="Phase 3 (Experiment 3.1)")
    phase2: Phase2Settings = opt(factory=Phase2Settings, doc="Phase 2 (Experiments 2.1, 2.2)")
    plan: PlanSettings = opt(factory=PlanSettings, doc="the cost plan (no job reads it)")
    verdicts: VerdictSettings = opt(factory=VerdictSettings, doc="results/paper/verdicts.csv: the seed's criteria")

    # ---- loading
    @classmethod
    def from_config(cls, config: dict) -> "Settings":
        """Validate a merged config mapping (schema, then cross-field rules) and build the
        settings; :class:`ConfigError` lists every problem with its dotted key."""
        errors = schema_errors(config)
        if not errors:
            s = cls.from_dict(config)
            errors = s.problems()
        if errors:
            raise ConfigError("invalid configuration:\n  " + "\n  ".join(errors))
        return s

    @classmethod
    def load(cls, *paths, overrides: dict | None = None) -> "Settings":
        """YAML files deep-merged the way Snakemake merges ``--configfile``s."""
        return cls.from_config(merge_files(*paths, overrides=overrides))

    # ---- lookups
    @property
    def teacher_names(self) -> list[str]:
        return [t.name for t in self.teachers]

    def teacher(self, name: str) -> TeacherSpec:
        for t in self.teachers:
            if t.name == name:
                return t
        raise KeyError(f"no teacher named {name!r} in config 'teachers' ({self.teacher_names})")

    def teacher_index(self, name: str) -> int:
        return self.teacher_names.index(name)

    def teacher_key(self, name: str) -> str:
        return f"teachers[{self.teacher_index(name)}]"

    @property
    def train_teachers(self) -> list[str]:
        return [t.name for t in self.teachers if t.source == "train"]

    @property
    def decoder_teacher(self) -> str | None:
        if self.decoder.teacher is not None:
            return self.decoder.teacher
        return (self.train_teachers or [None])[0]

    @property
    def compute_teachers(self) -> list[str]:
        if self.phase2.compute.teachers is not None:
            return list(self.phase2.compute.teachers)
        return self.train_teachers[:1]

    @property
    def student_teachers(self) -> list[str]:
        return list(self.student.teachers) if self.student.teachers is not None else self.teacher_names

    # ---- cross-field rules (JSON schema cannot say these)
    def problems(self) -> list[str]:
        out = []
        c = self.corpus
        if c.val_fraction + c.test_fraction >= 0.9:
            out.append("config key 'corpus.val_fraction' + 'corpus.test_fraction': must leave at least 10% "
                       "for training")
        if c.source in ("dir", "jsonl", "hf") and not c.path:
            out.append(f"config key 'corpus.path': required when corpus.source is '{c.source}'")
        names = self.teacher_names
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            out.append(f"config key 'teachers': duplicate teacher names {dup}")
        for i, t in enumerate(self.teachers):
            if t.source == "random" and t.like not in self.train_teachers:
                out.append(f"config key 'teachers[{i}].like': '{t.like}' must name a teacher with source 'train' "
                           "(the random teacher copies its architecture and tokenizer)")
        out += self._name_problems("student.teachers", self.student.teachers or ())
        if self.student.ablation.teacher is not None and self.student.ablation.teacher not in self.student_teachers:
            out.append(f"config key 'student.ablation.teacher': '{self.student.ablation.teacher}' is not a student "
                       f"teacher ({self.student_teachers})")
        if self.decoder.teacher is not None:
            out += self._name_problems("decoder.teacher", [self.decoder.teacher])
        tl = self.extract.token_layers
        if tl is not None and self.student.targets == "precomputed" and self.student.target_layer not in tl:
            out.append(f"config key 'extract.token_layers': {list(tl)} must include student.target_layer "
                       f"'{self.student.target_layer}' (the students' precomputed targets)")
        he = self.decoder.humaneval
        if max(he.ks) > he.n_samples:
            out.append(f"config key 'decoder.humaneval.ks': every k must be <= decoder.humaneval.n_samples "
                       f"({he.n_samples}); got {list(he.ks)}")
        return out + self._phase2_problems()

    def _name_problems(self, key: str, names) -> list[str]:
        bad = [n for n in names if n not in self.teacher_names]
        return [f"config key '{key}': no teacher named {bad} (teachers: {self.teacher_names})"] if bad else []

    def _phase2_problems(self) -> list[str]:
        p2 = self.phase2
        out = self._name_problems("phase2.teachers", p2.teachers or ())
        out += self._name_problems("phase2.compute.teachers", p2.compute.teachers or ())
        if out:
            return out
        grid = list(p2.teachers) if p2.teachers is not None else self.teacher_names
        for i, ct in enumerate(self.compute_teachers):
            t = self.teacher(ct)
            if t.source not in ("train", "hf", "package"):
                out.append(f"config key 'phase2.compute.teachers[{i}]': teacher {ct!r} has source {t.source!r}; "
                           "a compute teacher is trained (`train`) or fine-tuned (`hf`/`package` causal LM)")
            elif not t.training.steps:
                out.append(f"config key '{self.teacher_key(ct)}.training.steps' ({ct}): must be set for a "
                           "phase2.compute teacher (the run whose snapshots the undertrained-teacher curve replays)")
        if p2.floor_teacher is not None and p2.floor_teacher not in self.teacher_names:
            out.append(f"config key 'phase2.floor_teacher': no teacher named {p2.floor_teacher!r}")
        for k in ("small_teacher", "large_teacher"):
            v = getattr(p2, k)
            if v is not None and v not in grid:
                out.append(f"config key 'phase2.{k}': {v!r} is not in the 2.1 grid {grid}")
        return out


# =============================================================================== schema, files

def config_schema() -> dict:
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "description": "SWE-JEPA workflow configuration (generated from swejepa/settings.py: "
                           "python -m swejepa.settings schema)", **Settings.json_schema()}


SCHEMA_PATH = Path(__file__).parent / "schemas" / "config.schema.yaml"


def schema_yaml() -> str:
    import yaml

    head = ("# GENERATED from swejepa/settings.py by `python -m swejepa.settings schema --write`.\n"
            "# Do not edit: change the settings classes (tests/test_settings.py checks the two agree).\n")
    return head + yaml.safe_dump(config_schema(), sort_keys=False, width=110)


def _key(path) -> str:
    parts = []
    for p in path:
        parts.append(f"[{p}]" if isinstance(p, int) else ("." if parts else "") + str(p))
    return "".join(parts) or "<top level>"


def schema_errors(config: dict) -> list[str]:
    """Every schema violation as ``"config key 'x.y': message"`` (empty if valid)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(config_schema())
    out = []
    for err in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        key = _key(err.absolute_path)
        if err.validator == "additionalProperties":
            allowed = sorted(err.schema.get("properties", {}))
            extra = sorted(set(err.instance) - set(allowed)) if isinstance(err.instance, dict) else []
            for name in extra:
                full = f"{key}.{name}" if err.absolute_path else name
                out.append(f"config key '{full}': unknown key (allowed here: {', '.join(allowed)})")
            continue
        out.append(f"config key '{key}': {err.message}")
    return out


def merge_files(*paths, overrides: dict | None = None) -> dict:
    import yaml

    config: dict[str, Any] = {}
    for p in paths:
        with open(p) as fh:
            config = _merge(config, yaml.safe_load(fh) or {})
    return _merge(config, overrides or {})


def main(argv=None) -> int:
    import argparse
    import json

    import yaml

    ap = argparse.ArgumentParser(prog="python -m swejepa.settings", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sh = sub.add_parser("show", help="print the resolved configuration (every default filled in)")
    sh.add_argument("--configfile", nargs="*", default=None,
                    help="default: config.yaml of this repository; overlays follow it")
    sh.add_argument("--json", action="store_true")
    sc = sub.add_parser("schema", help="print (or --write) the generated JSON schema")
    sc.add_argument("--write", action="store_true", help=f"write {SCHEMA_PATH}")
    args = ap.parse_args(argv)
    if args.cmd == "schema":
        if args.write:
            SCHEMA_PATH.write_text(schema_yaml())
            print(f"wrote {SCHEMA_PATH}")
        else:
            sys.stdout.write(schema_yaml())
        return 0
    files = args.configfile
    repo_default = Path(__file__).resolve().parents[1] / "config.yaml"
    if not files or (files and Path(files[0]).resolve() != repo_default):
        files = [repo_default, *(files or [])]
    s = Settings.load(*files)
    d = s.to_dict()
    sys.stdout.write(json.dumps(d, indent=1) + "\n" if args.json else yaml.safe_dump(d, sort_keys=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
