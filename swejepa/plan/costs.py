"""Per-job cost model: FLOPs, wall time, GPU/CPU hours, peak GPU memory, epochs.

The jobs are the DAG's (:class:`swejepa.dag.Plan`): one row per job of every rule. A job's
time is a start-up cost plus its *parts*; a part is either FLOP-bound (FLOPs of a kind,
divided by the device's peak rate in the part's dtype × the kind's MFU from
:mod:`swejepa.plan.hardware`) or counted work (sandboxed runs, megabytes parsed, probe
fits, plots) × measured seconds per unit. How each rule is modelled:

* ``corpus``, ``mask``, ``mask_agreement``, ``properties``, ``teacher_tokenizer``: megabytes
  scanned/parsed, regions, characters fitted by the BPE, × measured seconds per unit;
* ``teacher_train``: ``steps × batch × seq_len`` tokens × (6·N + 6·V·d + attention) FLOPs;
* ``extract``: padded tokens × (2·N + attention) FLOPs, model load and the HDF5 written;
  memory: weights + every layer's hidden states of one batch + one layer's working set;
* ``phase0_retrieval_items``: HumanEval rewrites verified in the sandbox (runs × seconds
  / workers); ``phase0_stats``: pairwise cosines (pairs × width); ``phase0_probes``: probe
  fits (samples × width × folds × (inner folds + 1) × properties); ``phase0_retrieval``:
  reading the latents;
* ``student_train`` / ``phase2_teachers_train`` / the student parts of the Phase-2 rules:
  ``steps × batch × tokens per example`` × (6·N + attention) (N: non-embedding); epochs =
  steps × batch / distinct train target regions (issue #20);
* ``student_eval`` / ``phase2_eval``: forwards of the checkpoints over val regions, the
  benchmark items and the probe samples, plus the probe fits;
* ``decoder_*``: student forwards (prepare), decoder training (as students), sampling
  (generated tokens × forward FLOPs, memory-bound kind) + sandboxed HumanEval runs;
* ``phase2_compute_point``/``snapshots``/``curve``: the teacher's share (Stage-1 training
  or fine-tuning), the retargeting forward, the student's share;
* reports, combines, macros, figures and paper jobs: start-up + a measured constant.
"""

from __future__ import annotations

import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..dag import Plan
from ..settings import Settings
from . import hardware as hw
from .arch import Arch, teacher_arch
from .memory import act_bytes_per_token_layer, forward_memory, gb, train_memory
from .sizes import (CorpusSize, ExtractSize, corpus_size, extract_size, extract_window, factor,
                    humaneval_executed_share, n_bench_items, student_regions)

PHASE_OF = {
    "corpus": "phase0", "mask": "phase0", "mask_agreement": "phase0", "properties": "phase0",
    "teacher_tokenizer": "phase0", "teacher_train": "phase0", "teacher_random": "phase0",
    "teacher_loss_figure": "phase0", "extract": "phase0",
    "student_train": "phase1", "student_eval": "phase1", "student_report": "phase1",
    "decoder_prepare": "phase3", "decoder_train": "phase3", "decoder_eval": "phase3", "decoder_report": "phase3",
}
PHASE_NAMES = {"phase0": "Phase 0: teachers, extraction, analyses", "phase1": "Phase 1: students",
               "phase2": "Phase 2: teacher ablation, compute allocation", "phase3": "Phase 3: decoder",
               "paper": "paper (CPU)"}

# Rules whose scripts run torch on `device: auto` (CUDA when visible): on a local executor
# with a GPU they use it whether or not the rule requests one.
TORCH_RULES = {"teacher_train", "extract", "student_train", "student_eval", "decoder_prepare", "decoder_train",
               "decoder_eval", "phase2_teachers_train", "phase2_compute_point", "phase2_compute_snapshots",
               "phase2_compute_curve", "phase2_eval"}

# Rules whose jobs checkpoint and resume after a time-out (Snakemake retries them).
RESUMES = {"teacher_train", "student_train", "phase2_teachers_train", "phase2_compute_curve"}

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"


def phase_of(rule: str) -> str:
    if rule in PHASE_OF:
        return PHASE_OF[rule]
    for p in ("phase0", "phase2", "paper"):
        if rule.startswith(p):
            return p
    return "paper"


# --------------------------------------------------------------------------- the rules' resources
def rule_resources(settings: Settings, rules_dir: Path = RULES_DIR) -> dict[str, dict]:
    """``{rule: {"threads", "runtime", "gpu"}}`` read from ``rules/*.smk`` (the one place they
    are declared), expressions evaluated against the settings; rules without a value get
    Snakemake's/the profile's (1 thread, 60 min, no GPU)."""
    out: dict[str, dict] = {}
    ns = {"SETTINGS": settings}
    for f in sorted(Path(rules_dir).glob("*.smk")) if Path(rules_dir).is_dir() else []:
        for block in re.split(r"^(?=rule \w+:)", f.read_text(), flags=re.M):
            m = re.match(r"rule (\w+):", block)
            if not m:
                continue
            res = {"threads": 1, "runtime": 60, "gpu": 0}
            for key, pat in (("threads", r"^\s+threads:\s*([^#\n]+)"), ("runtime", r"^\s+runtime=([^,#\n]+)"),
                             ("gpu", r"^\s+gpu=([^,#\n]+)")):
                mm = re.search(pat, block, flags=re.M)
                if mm:
                    try:
                        res[key] = int(eval(mm.group(1).strip(), {}, ns))  # noqa: S307 - our own rule files
                    except Exception:  # noqa: BLE001
                        pass
            out[m.group(1)] = res
    return out


# --------------------------------------------------------------------------- devices
@dataclass
class CPUModel:
    """Dense matmul rates of one core of the CPU that runs the CPU jobs (FLOP per core-second).

    CPU work is counted in core-seconds (what Snakemake's benchmark files record as
    ``cpu_time``); a job's wall time is its start-up plus its work divided by the cores it
    uses (``min(threads, cores)``), on an otherwise idle machine."""
    fp32: float
    bf16: float
    cores: int
    status: str

    @property
    def bf16_faster(self) -> bool:
        return self.bf16 >= 1.5 * self.fp32

    def rate(self, dtype: str) -> float:
        return self.bf16 if dtype == "bf16" and self.bf16_faster else self.fp32

    def to_dict(self) -> dict:
        return {"fp32_tflops_per_core": self.fp32 / 1e12, "bf16_tflops_per_core": self.bf16 / 1e12,
                "cores": self.cores, "status": self.status}


def _core_rate(dtype: str, n: int, seconds: float) -> float:
    """FLOP per second of CPU time of one thread (robust to other processes' load)."""
    import torch

    dt = getattr(torch, dtype)
    a, b = torch.randn(n, n).to(dt), torch.randn(n, n).to(dt)
    a @ b
    reps, t0 = 0, time.thread_time()
    while time.thread_time() - t0 < seconds and reps < 1000:
        a @ b
        reps += 1
    return 2 * n ** 3 * reps / max(1e-9, time.thread_time() - t0)


def measure_cpu(seconds: float = 0.3) -> CPUModel:
    """This machine's per-core dense matmul rates, timed in CPU time on one thread."""
    import torch

    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        f32 = max(_core_rate("float32", n, seconds) for n in (1024, 2048))
        b16 = max(_core_rate("bfloat16", n, seconds) for n in (1024, 2048))
    finally:
        torch.set_num_threads(n_threads)
    return CPUModel(f32, b16, os.cpu_count() or 1,
                    f"measured now on this machine (1 thread, CPU time; {os.cpu_count()} cores)")


def calibration_cpu() -> CPUModel:
    """The per-core rates the CPU efficiencies were fitted with (hardware.CPU_CALIBRATION)."""
    c = hw.CPU_CALIBRATION
    return CPUModel(c["fp32_tflops_per_core"] * 1e12, c["bf16_tflops_per_core"] * 1e12, int(c["cores"]),
                    f"calibration machine ({c['machine']}, {c['date']})")


def host_cpu() -> CPUModel:
    r = hw.HOST_CPU_FP32_GFLOPS_PER_CORE
    return CPUModel(r.value * 1e9, r.value * 1e9, 64, f"{r.status}: {r.source}")


# --------------------------------------------------------------------------- jobs
@dataclass
class Part:
    what: str
    kind: str | None = None         # FLOP-bound kind (hardware.KINDS) or None
    flops: float = 0.0
    dtype: str = "bf16"
    seconds: float = 0.0            # counted work (CPU jobs: core-seconds; GPU jobs: wall seconds)
    parallel: int | None = None     # processes running it at once (default: the job's cores)


@dataclass
class Job:
    rule: str
    wildcards: dict
    phase: str
    device: str                     # "gpu" | "cpu"
    gpus: int
    threads: int
    runtime_min: int
    parts: list = field(default_factory=list)
    memory: dict = field(default_factory=dict)      # bytes per GPU (GPU jobs)
    storage_bytes: float = 0.0
    epochs: dict | None = None
    notes: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    seconds: float = 0.0            # wall time (idle machine)
    core_seconds: float = 0.0       # CPU jobs: CPU time over all threads
    flops: float = 0.0

    @property
    def name(self) -> str:
        return self.rule + ("[" + ",".join(f"{k}={v}" for k, v in self.wildcards.items()) + "]"
                            if self.wildcards else "")

    @property
    def gpu_hours(self) -> float:
        return self.seconds / 3600 * self.gpus if self.device == "gpu" else 0.0

    @property
    def cpu_hours(self) -> float:
        """Core-hours of a CPU job (GPU jobs: their host CPU time is not counted)."""
        return self.core_seconds / 3600 if self.device == "cpu" else 0.0

    def to_row(self) -> dict:
        mem = {f"mem_{k}_gb": round(gb(v), 3) for k, v in self.memory.items()}
        ep = self.epochs or {}
        return {"rule": self.rule, "wildcards": ",".join(f"{k}={v}" for k, v in self.wildcards.items()),
                "phase": self.phase, "device": self.device, "gpus": self.gpus, "threads": self.threads,
                "runtime_min": self.runtime_min, "flops": self.flops, "hours": round(self.seconds / 3600, 4),
                "seconds": round(self.seconds, 1), "gpu_hours": round(self.gpu_hours, 4),
                "cpu_hours": round(self.cpu_hours, 4), **mem, "storage_gb": round(gb(self.storage_bytes), 3),
                "target_regions": ep.get("regions"), "target_tokens": ep.get("tokens"),
                "examples": ep.get("examples"), "epochs": ep.get("epochs"),
                "warnings": " | ".join(self.warnings), "notes": " | ".join(self.notes)}


# --------------------------------------------------------------------------- FLOPs helpers
def lm_forward_flops(a: Arch, tokens: float, ctx: float, head: bool = False) -> float:
    """Forward FLOPs: 2·N_body per token + attention (4·ctx·q_dim per layer per token) +
    the LM head when it runs. ``ctx``: mean attended positions (T/2 causal, T bidirectional)."""
    per_tok = 2.0 * a.non_embedding_params + 4.0 * a.n_layers * ctx * a.q_dim + (2.0 * a.vocab * a.hidden if head else 0)
    return per_tok * tokens


@dataclass
class StudentShape:
    n_params: int                   # non-embedding (the 6·N·T convention)
    n_params_total: int
    layers: int
    d: int
    pred_layers: int
    pred_d: int
    vocab: int
    d_target: int


def student_shape(settings: Settings, recipe, vocab: int, d_target: int, max_positions: int) -> StudentShape:
    import torch

    from ..student.model import build_student

    with torch.device("meta"):
        m = build_student(recipe.model, vocab, max_positions, d_target)
    return StudentShape(m.n_params(), m.n_params(non_embedding=False), recipe.model.n_layers, recipe.model.d_model,
                        recipe.model.pred_layers, recipe.model.pred_d_model, vocab, d_target)


# --------------------------------------------------------------------------- the model
class CostModel:
    def __init__(self, settings: Settings, plan: Plan, gpu: hw.GPUType, cpu: CPUModel, *,
                 rules_dir: Path = RULES_DIR):
        self.s, self.plan, self.lay = settings, plan, plan.layout
        self.gpu, self.cpu = gpu, cpu
        self.res = rule_resources(settings, rules_dir)
        self.has_gpu = any(x > 0 for x in (settings.extract.gpu, settings.student.gpus, settings.decoder.gpu,
                                           settings.phase2.gpu))
        self.corpus: CorpusSize = corpus_size(settings, self.lay)
        self.n_items, self.items_status = n_bench_items(settings, self.lay, self.corpus)
        self.arch: dict[str, Arch] = {t: teacher_arch(settings, t) for t in settings.teacher_names}
        self.ext: dict[str, ExtractSize] = {}
        for t in settings.teacher_names:
            a = self.arch[t]
            self.ext[t] = extract_size(settings, self.lay, self.corpus, t, a, self.n_items,
                                       extract_window(settings, t, a))
        self._students: dict = {}

    # ---------------------------------------------------------------- generic
    def job(self, rule: str, **wc) -> Job:
        r = self.res.get(rule, {"threads": 1, "runtime": 60, "gpu": 0})
        gpus = int(r["gpu"])
        if not gpus and rule in TORCH_RULES and self.s.plan.executor == "local" and self.has_gpu:
            gpus = 1
        return Job(rule, {k: v for k, v in wc.items()}, phase_of(rule), "gpu" if gpus > 0 else "cpu", gpus,
                   int(r["threads"]), int(r["runtime"]))

    def cpu_eff(self, kind: str) -> float:
        return float(hw.CPU_KINDS[kind].value)

    def k(self, key: str) -> float:
        return float(hw.CPU_KINDS[key].value)

    def extract_s_per_token(self, j: Job) -> float:
        """Extraction's per-token work beside the FLOPs: fitted on CPU, assumed on a GPU."""
        return float(hw.GPU_EXTRACT_HOST_S_PER_TOKEN.value) if j.device == "gpu" else self.k("extract_host_s_per_token")

    def finish(self, j: Job, torch_job: bool = True) -> Job:
        j.flops = sum(p.flops for p in j.parts)
        if j.device == "gpu":
            t = 0.0
            for p in j.parts:
                if p.kind:
                    peak = (self.gpu.bf16_tflops if p.dtype == "bf16" else self.gpu.fp32_tflops) * 1e12
                    t += p.flops / (j.gpus * peak * float(self.gpu.mfu[p.kind].value))
                t += p.seconds / (p.parallel or 1)
            j.seconds = t + self.k("startup_torch_s")
            if j.memory and j.memory["total"] > self.gpu.memory_gb * 1e9:
                j.warnings.append(f"memory: does not fit one {self.gpu.name}: {gb(j.memory['total']):.1f} GB > "
                                  f"{self.gpu.memory_gb:.0f} GB per GPU")
        else:
            start = self.k("startup_torch_s" if torch_job else "startup_workflow_s")
            cores = max(1, min(j.threads, self.cpu.cores))
            work, wall = 0.0, 0.0
            for p in j.parts:
                w = p.seconds + (p.flops / (self.cpu.rate(p.dtype) * self.cpu_eff(p.kind)) if p.kind else 0.0)
                work += w
                wall += w / max(1, min(p.parallel or cores, self.cpu.cores))
            j.core_seconds = start + work
            j.seconds = start + wall
        if j.seconds > 60 * j.runtime_min:
            more = (" (it checkpoints and resumes: needs "
                    f"{math.ceil(j.seconds / (60 * j.runtime_min))} attempts; slurm/config.yaml allows 3)"
                    if j.rule in RESUMES else "")
            j.warnings.append(f"runtime: cannot finish within its runtime: {j.seconds / 3600:.2f} h > "
                              f"{j.runtime_min} min{more}")
        if j.epochs and j.epochs.get("epochs") is not None and j.epochs["epochs"] > self.s.plan.max_epochs \
                and j.rule != "decoder_train":
            j.warnings.append(f"epochs: the student sees its targets {j.epochs['epochs']:.0f} times (> {self.s.plan.max_epochs:g} epochs over "
                              f"{j.epochs['regions']:.0f} distinct train regions)")
        return j

    # Light jobs that only write a few small text files (start-up only); the other light jobs
    # (combines, reports, figures; paper_check renders the PDF's pages) add the measured cost
    # of a table/figure job.
    START_ONLY = {"paper_corpus_macros", "paper_provenance", "teacher_random", "phase0_macros",
                  "paper_verdicts", "paper_generated", "paper_report", "phase0_retrieval_report"}
    # Figures (PDF + PNG) each light rule draws, by the paper products' name prefixes (swejepa.dag).
    FIGURE_PREFIXES = {"phase0_stats_combine": "exp01_", "phase0_retrieval_combine": "exp02_",
                       "phase0_probes_combine": "exp03_", "student_report": ("exp11_", "exp12_"),
                       "phase2_report": ("exp21_", "exp22_"), "decoder_report": "exp31_",
                       "teacher_loss_figure": "teacher_loss_"}

    def n_figures(self, rule: str, **wc) -> int:
        pre = self.FIGURE_PREFIXES.get(rule)
        if pre is None:
            return 1  # a report/table/markdown job: one unit
        names = [Path(f).stem for f in self.plan.figures]
        if rule == "teacher_loss_figure":
            return 1
        return max(1, sum(n.startswith(pre) for n in names))

    def light(self, rule: str, torch_job: bool = False, **wc) -> Job:
        j = self.job(rule, **wc)
        if rule not in self.START_ONLY:
            n = self.n_figures(rule, **wc)
            j.parts.append(Part(f"{n} figure(s)/report", seconds=n * self.k("report_s")))
        return self.finish(j, torch_job)

    def cpu_dtype(self) -> str:
        return "bf16" if self.cpu.bf16_faster else "fp32"

    # ---------------------------------------------------------------- corpus stage
    def corpus_job(self) -> Job:
        j = self.job("corpus")
        j.parts.append(Part("scan", seconds=self.corpus.total_bytes / 1e6 * self.k("scan_s_per_mb")))
        j.storage_bytes = self.corpus.total_bytes * 2.2
        return self.finish(j, False)

    def mask_job(self, mask: str) -> Job:
        j = self.job("mask", mask=mask)
        j.parts.append(Part(f"parse ({mask})", seconds=self.corpus.total_bytes / 1e6 * self.k("parse_s_per_mb")))
        return self.finish(j, False)

    def mask_agreement_job(self) -> Job:
        j = self.job("mask_agreement")
        n = sum(self.corpus.regions.get(m, 0) for m in ("ast", "regex"))
        j.parts.append(Part("join", seconds=n * self.k("properties_s_per_region") * 0.05))
        return self.finish(j, False)

    def properties_job(self) -> Job:
        j = self.job("properties")
        j.parts.append(Part("radon/ast per function", seconds=self.corpus.regions["ast"] * self.k("properties_s_per_region")))
        return self.finish(j, False)

    # ---------------------------------------------------------------- teachers
    def tokenizer_job(self, t: str) -> Job:
        j = self.job("teacher_tokenizer", teacher=t)
        spec = self.s.teacher(t)
        chars = min(spec.tokenizer.max_chars or 1e18, self.corpus.total_bytes * self.corpus.train_share)
        j.parts.append(Part("BPE fit", seconds=chars / 1e6 * self.k("tokenizer_s_per_mchar")))
        return self.finish(j, False)

    def stage1_tokens(self, t: str, steps: int | None = None) -> float:
        tr = self.s.teacher(t).training
        return float(steps if steps is not None else (tr.steps or 0)) * tr.batch_size * tr.seq_len

    def lm_train_part(self, t: str, tokens: float, kind: str) -> Part:
        a = self.arch[t]
        T = self.s.teacher(t).training.seq_len
        return Part(f"{kind} {tokens:.3g} tokens", kind, 3.0 * lm_forward_flops(a, tokens, T / 2, head=True),
                    "bf16")

    def lm_train_memory(self, t: str, finetune: bool) -> dict:
        a = self.arch[t]
        tr = self.s.teacher(t).training
        tokens = tr.batch_size * tr.seq_len
        return train_memory(n_params=a.n_params, n_layers=a.n_layers, hidden=a.hidden, intermediate=a.intermediate,
                            kv_dim=a.kv_dim, gated=True, tokens=tokens, vocab_tokens=tokens, vocab=a.vocab,
                            checkpointing=tr.gradient_checkpointing, master_bytes=4)

    def teacher_train_job(self, t: str) -> Job:
        j = self.job("teacher_train", teacher=t)
        tr = self.s.teacher(t).training
        if tr.steps:
            tokens = self.stage1_tokens(t)
        else:
            tokens = (tr.flops_budget or 0) / (6 * self.arch[t].n_params)
        j.parts.append(self.lm_train_part(t, tokens, "teacher_train"))
        j.parts.append(Part("precision check + save", seconds=5.0))
        if j.device == "gpu":
            j.memory = self.lm_train_memory(t, False)
        j.notes.append(f"{self.arch[t].n_params / 1e6:.1f}M params, {tokens / 1e6:.1f}M tokens")
        return self.finish(j)

    # ---------------------------------------------------------------- extraction
    def extract_job(self, t: str, shard: int) -> Job:
        n = self.s.extract.n_shards
        j = self.job("extract", teacher=t, shard=shard, nshards=n)
        a, e = self.arch[t], self.ext[t]
        st = self.s.extract
        tokens = e.tokens_padded / n
        ctx = e.mean_window / 2 if a.causal else e.mean_window
        spec = self.s.teacher(t)
        dt = "bf16" if (j.device == "gpu" or spec.dtype == "bfloat16" or self.cpu.bf16_faster) else "fp32"
        j.parts.append(Part(f"forward {tokens:.3g} tokens", "extract", lm_forward_flops(a, tokens, ctx), dt))
        wbytes = 2 if spec.dtype in ("bfloat16", "float16") else 4
        load_rate = 1.0e9 if j.device == "gpu" else 0.5e9
        j.parts.append(Part("load weights", seconds=a.n_params_base * wbytes / load_rate))
        if j.device == "cpu" and st.dtype == "auto" and wbytes == 4:
            # precision check: fp32 and bf16 forwards of a few windows + the timed forward of both
            j.parts.append(Part("precision check", "extract",
                                4 * lm_forward_flops(a, 4 * e.mean_window, ctx), "fp32"))
        layers = len(self.s.grid.layers)
        masks = len(self.s.masks.strategies)
        pooled = sum(e.regions.get(m, 0) for m in self.s.masks.strategies) / n * layers * 2 * a.hidden * 2
        tok = sum(e.token_rows.get(m, 0) for m in self.s.masks.strategies) / n * layers * a.hidden * 2
        bench = self.n_items * layers * 2 * a.hidden * 2
        j.storage_bytes = pooled + tok + bench + e.n_windows / n * e.mean_window * 4
        j.parts.append(Part("write HDF5", seconds=j.storage_bytes / 1e6 * float(hw.IO_S_PER_MB.value)))
        # host work per forwarded token: per-batch framework overhead, hidden states copied
        # out and pooled per region, tokenisation (fitted together with the FLOP efficiency on
        # the default run's three teachers, 2M and 23M parameters)
        j.parts.append(Part("per-token overhead (gather, pool, tokenise)",
                            seconds=tokens * self.extract_s_per_token(j)))
        batch = min(float(st.batch_tokens), max(e.mean_window, 1.0))
        batch = max(batch, st.batch_tokens * (1 - factor("padding_waste")))
        act_bytes = 2 if dt == "bf16" else 4
        j.memory = forward_memory(n_params=a.n_params_base, weight_bytes=wbytes, n_layers=a.n_layers, hidden=a.hidden,
                                  intermediate=a.intermediate, kv_dim=a.kv_dim, tokens=st.batch_tokens,
                                  keep_hidden=True, act_bytes=act_bytes, q_dim=a.q_dim, qk_norm=a.qk_norm)
        j.notes.append(f"{e.corpus_tokens / n / 1e6:.2f}M corpus tokens/shard ({e.status}); "
                       f"{masks} masks x {layers} layers stored: {gb(j.storage_bytes):.2f} GB")
        if j.device == "cpu":
            j.memory = {**j.memory}
        return self.finish(j)

    # ---------------------------------------------------------------- Phase 0 analyses
    def read_part(self, t: str, what: str = "pooled") -> Part:
        """Reading the latents a Phase-0 job uses: the pooled vectors of every grid cell
        (stats, probes), or the benchmark vectors (retrieval); per-token rows are sampled."""
        a, e = self.arch[t], self.ext[t]
        layers = len(self.s.grid.layers)
        if what == "bench":
            b = self.n_items * layers * 2 * a.hidden * 2 * self.s.extract.n_shards
        else:
            b = max(e.regions.values() or [0]) * layers * 2 * a.hidden * 2
        return Part("read latents", seconds=b / 1e6 * float(hw.IO_S_PER_MB.value))

    def stats_job(self, t: str, mask: str) -> Job:
        j = self.job("phase0_stats", teacher=t, mask=mask)
        a, e = self.arch[t], self.ext[t]
        n = min(self.s.stats.max_samples, e.regions.get(mask, 0))
        nt = min(self.s.stats.max_tokens, e.token_rows.get(mask, 0))
        units = 0.0
        for pool in self.s.grid.pools:
            m = nt if pool == "none" else n
            units += len(self.s.grid.layers) * (m * m / 2 + m * a.hidden) * a.hidden
        j.parts.append(Part("cosines, ranks", seconds=units * self.k("stats_s_per_unit")))
        j.parts.append(self.read_part(t))
        return self.finish(j, False)

    def retrieval_job(self, t: str) -> Job:
        j = self.job("phase0_retrieval", teacher=t)
        a = self.arch[t]
        cells = len(self.s.grid.layers) * len(self.plan.vector_pools)
        j.parts.append(Part("flat search", seconds=cells * self.n_items ** 2 * a.hidden * self.k("stats_s_per_unit")))
        j.parts.append(self.read_part(t, "bench"))
        return self.finish(j, False)

    def probe_units(self, n: int, d: int, cells: int) -> float:
        p = self.s.probes
        n_props = 7 + 1  # properties.csv columns + the surface baseline
        return cells * n_props * p.folds * (p.inner_folds + 1) * n * d

    def probes_job(self, t: str, mask: str) -> Job:
        j = self.job("phase0_probes", teacher=t, mask=mask)
        a, e = self.arch[t], self.ext[t]
        n = min(self.s.probes.max_samples, e.regions.get(mask, 0))
        cells = len(self.s.grid.layers) * len(self.plan.vector_pools)
        j.parts.append(Part("probe fits", seconds=self.probe_units(n, a.hidden, cells) * self.k("probe_s_per_unit")))
        j.parts.append(self.read_part(t))
        return self.finish(j, False)

    def items_job(self) -> Job:
        j = self.job("phase0_retrieval_items")
        b = self.s.retrieval.bench
        he = b.humaneval_problems or 164
        runs = he * (1 + 3.3)  # canonical solutions + their applicable rewrites (3.3 per problem measured)
        j.parts.append(Part(f"{runs:.0f} sandboxed runs", seconds=runs * self.k("sandbox_s_per_run"),
                            parallel=b.verify_workers))
        return self.finish(j, False)

    # ---------------------------------------------------------------- students
    def student_data(self, t: str) -> dict:
        """Regions and tokens the students of teacher ``t`` train on."""
        st = self.s.student
        e = self.ext[t]
        r = student_regions(self.s, self.corpus, e)
        regions, train, val, rows, mean_tok = r["regions"], r["train"], r["val"], r["rows"], r["tok_per_region"]
        targets = min(st.max_targets, mean_tok)
        ex_tokens = min(float(st.max_len), e.mean_window)
        return {"regions": regions, "train": train, "val": val, "rows": rows, "tok_per_region": mean_tok,
                "targets_per_ex": targets, "tokens_per_ex": ex_tokens, "train_tokens": train * targets}

    def shape(self, t: str, variant: str = "main") -> StudentShape:
        key = (t, variant)
        if key not in self._students:
            a, e = self.arch[t], self.ext[t]
            maxpos = int(min(self.s.extract.window, a.max_positions or self.s.extract.window))
            self._students[key] = student_shape(self.s, self.plan.student_recipe(variant), a.vocab, a.hidden, maxpos)
        return self._students[key]

    def student_flops(self, sh: StudentShape, examples: float, ex_tokens: float, targets: float) -> float:
        attn = 12.0 * (sh.layers * ex_tokens * sh.d + sh.pred_layers * ex_tokens * sh.pred_d)
        return (6.0 * sh.n_params + attn) * examples * ex_tokens + 6.0 * sh.d_target * sh.pred_d * examples * targets

    def student_memory(self, sh: StudentShape, per_gpu_examples: float, ex_tokens: float, targets: float) -> dict:
        tokens = per_gpu_examples * ex_tokens
        m = train_memory(n_params=sh.n_params_total, n_layers=sh.layers, hidden=sh.d, intermediate=4 * sh.d, kv_dim=sh.d,
                         gated=False, tokens=tokens, checkpointing=False, master_bytes=4,
                         extra={"activations": sh.pred_layers * tokens * 34.0 * sh.pred_d,
                                "targets": per_gpu_examples * targets * sh.d_target * 4.0 * 3})
        return m

    def student_train_parts(self, j: Job, t: str, variant: str, steps: float, seed_label: str = "") -> None:
        st = self.plan.student_recipe(variant)
        sh = self.shape(t, variant)
        d = self.student_data(t)
        tc = st.train
        ex = steps * tc.batch_size
        dt = "bf16" if j.device == "gpu" else "fp32"
        j.parts.append(Part(f"train {steps:.0f} steps x {tc.batch_size}", "student_train",
                            self.student_flops(sh, ex, d["tokens_per_ex"], d["targets_per_ex"]), dt))
        evals = steps / tc.eval_every + 1
        j.parts.append(Part("periodic val loss", "student_forward",
                            self.student_flops(sh, evals * tc.eval_batches * tc.batch_size, d["tokens_per_ex"],
                                               d["targets_per_ex"]) / 3, dt))
        per_gpu = tc.batch_size / max(1, j.gpus)
        j.memory = self.student_memory(sh, per_gpu, d["tokens_per_ex"], d["targets_per_ex"])
        if self.s.student.targets == "online":
            # the frozen teacher computes each batch's targets: one forward over the batch's
            # windows (bf16 on CUDA), its weights beside the student's (swejepa.student.targets)
            a, e = self.arch[t], self.ext[t]
            train_ex = steps * tc.batch_size + evals * tc.eval_batches * tc.batch_size
            j.parts.append(Part(f"online targets: teacher forward over {train_ex:.0f} windows", "extract",
                                lm_forward_flops(a, train_ex * e.mean_window, e.mean_window / 2), dt))
            j.memory["teacher_weights"] = a.n_params * (2.0 if dt == "bf16" else 4.0)
            j.memory["hidden_states"] += per_gpu * e.mean_window * a.hidden * 4.0 * (a.n_layers + 1)
            j.memory["total"] = sum(v for k, v in j.memory.items() if k != "total")
            j.notes.append(f"online targets from {t} ({a.n_params / 1e6:.0f}M parameters)")
        else:
            j.parts.append(Part("load targets",
                                seconds=d["rows"] * sh.d_target * 2 / 1e6 * float(hw.IO_S_PER_MB.value)))
        j.epochs = {"regions": round(d["train"]), "tokens": round(d["train_tokens"]), "examples": round(ex),
                    "epochs": round(ex / max(1.0, d["train"]), 2)}
        j.notes.append(f"student {sh.n_params / 1e6:.1f}M non-embedding params, {d['tokens_per_ex']:.0f} tokens/example")

    def student_train_job(self, t: str, variant: str) -> Job:
        j = self.job("student_train", teacher=t, variant=variant)
        self.student_train_parts(j, t, variant, self.plan.student_recipe(variant).train.max_steps)
        return self.finish(j)

    def eval_parts(self, j: Job, t: str, variant: str, checkpoints: int, val_examples: int) -> None:
        sh = self.shape(t, variant)
        d = self.student_data(t)
        ev = self.s.student.eval
        # load the latents' windows and targets, tokenise the benchmark items, build the student
        j.parts.append(Part("evaluation set-up", seconds=self.k("eval_setup_s")))
        per_ckpt = val_examples + self.n_items + min(ev.probe_max_samples, self.ext[t].regions.get(self.s.student.mask, 0))
        j.parts.append(Part(f"{checkpoints} checkpoints x {per_ckpt:.0f} forwards", "student_forward",
                            self.student_flops(sh, checkpoints * per_ckpt, d["tokens_per_ex"], d["targets_per_ex"]) / 3,
                            "fp32" if j.device == "cpu" else "bf16"))
        n = min(ev.probe_max_samples, self.ext[t].regions.get(self.s.student.mask, 0))
        j.parts.append(Part("probe fits", seconds=checkpoints * self.probe_units(n, sh.d, 1) * self.k("probe_s_per_unit")))
        j.parts.append(Part("load targets", seconds=d["rows"] * sh.d_target * 2 / 1e6 * float(hw.IO_S_PER_MB.value)))

    def student_eval_job(self, t: str, variant: str) -> Job:
        j = self.job("student_eval", teacher=t, variant=variant)
        tc = self.plan.student_recipe(variant).train
        ck = (tc.max_steps // tc.ckpt_every + 1 + (tc.max_steps % tc.ckpt_every > 0)) if variant == "main" else 1
        val = min(self.s.student.eval.val_regions, self.student_data(t)["val"]) + tc.eval_batches * tc.batch_size
        self.eval_parts(j, t, variant, ck, int(val))
        return self.finish(j)

    # ---------------------------------------------------------------- decoder
    def decoder_shapes(self) -> dict:
        from ..decoder.model import arch_of, count_params, match_params

        cfg = self.s.decoder
        t = self.plan.decoder_teacher
        a = self.arch[t]
        mc = arch_of(cfg.model, cfg.max_positions)
        V, dl = a.vocab, a.hidden
        sh = self.shape(t, cfg.student_variant)
        out = {}
        for v in cfg.variants:
            if v in ("latent", "oracle"):
                out[v] = (mc, count_params(mc, V, dl))
            else:
                target = count_params(mc, V, dl) + (sh.n_params_total if cfg.baseline_match == "total" else 0)
                m2 = match_params(target, mc, V)
                out[v] = (m2, count_params(m2, V, 0))
        return out

    def decoder_prepare_job(self, t: str) -> Job:
        j = self.job("decoder_prepare", teacher=t)
        cfg = self.s.decoder
        d = self.student_data(t)
        sh = self.shape(t, cfg.student_variant)
        n = min(cfg.max_train_regions or 1e18, d["train"]) + min(cfg.max_eval_regions or 1e18, d["regions"] * 0.1) + 164
        j.parts.append(Part(f"student forwards for {n:.0f} regions", "student_forward",
                            self.student_flops(sh, n, d["tokens_per_ex"], d["targets_per_ex"]) / 3, "fp32"))
        return self.finish(j)

    def decoder_seq(self) -> tuple[float, float]:
        cfg = self.s.decoder
        t = self.plan.decoder_teacher
        bpt = self.ext[t].bytes_per_token
        body = min(cfg.max_body_tokens, self.corpus.body_chars.get(self.s.student.mask, 300) / bpt)
        seq = min(cfg.prefix_tokens, self.ext[t].mean_window) + cfg.suffix_tokens * 0.8 + body + 4
        return seq, body

    def decoder_train_job(self, t: str, variant: str) -> Job:
        j = self.job("decoder_train", teacher=t, variant=variant)
        cfg = self.s.decoder
        mc, n = self.decoder_shapes()[variant]
        V = self.arch[t].vocab
        seq, body = self.decoder_seq()
        slots = mc.get("latent_slots", 0) if variant != "nolatent" else 0
        tokens = cfg.train.max_steps * cfg.train.batch_size * (seq + slots)
        d, L = mc["d_model"], mc["n_layers"]
        body_params = n - (V + 4) * d - mc["max_positions"] * d
        flops = 3.0 * (2.0 * body_params + 2.0 * L * (seq + slots) / 2 * d + 2.0 * V * d) * tokens
        j.parts.append(Part(f"train {cfg.train.max_steps} steps", "decoder_train", flops,
                            "bf16" if j.device == "gpu" else "fp32"))
        j.memory = train_memory(n_params=n, n_layers=L, hidden=d, intermediate=mc["d_ff"], kv_dim=d, gated=False,
                                tokens=cfg.train.batch_size * (seq + slots), vocab_tokens=cfg.train.batch_size * seq,
                                vocab=V)
        dd = self.student_data(t)
        ex = cfg.train.max_steps * cfg.train.batch_size
        regions = min(cfg.max_train_regions or 1e18, dd["train"])
        j.epochs = {"regions": round(regions), "tokens": round(regions * body), "examples": ex,
                    "epochs": round(ex / max(1.0, regions), 2)}
        j.notes.append(f"decoder {variant}: {n / 1e6:.1f}M params")
        return self.finish(j)

    def decoder_eval_job(self, t: str) -> Job:
        j = self.job("decoder_eval", teacher=t)
        cfg = self.s.decoder
        shapes = self.decoder_shapes()
        V = self.arch[t].vocab
        seq, body = self.decoder_seq()
        he = cfg.humaneval
        problems = he.problems or 164
        dd = self.student_data(t)
        n_eval = min(cfg.max_eval_regions or 1e18, dd["regions"] * (1 - self.corpus.train_share - self.corpus.val_share))
        gen_tokens = cfg.generation.max_new_tokens
        total_flops, runs, steps = 0.0, 0, 0
        systems = list(cfg.variants)
        teacher_fim = cfg.teacher_fim and self.arch[t].causal and self.s.teacher(t).source in ("train", "random", "hf")
        for v in systems + (["teacher_fim"] if teacher_fim else []):
            if v == "teacher_fim":
                a = self.arch[t]
                per_tok = 2.0 * a.non_embedding_params + 2.0 * a.vocab * a.hidden + 4.0 * a.n_layers * seq * a.q_dim
            else:
                mc, n = shapes[v]
                per_tok = 2.0 * (n - (V + 4) * mc["d_model"]) + 2.0 * V * mc["d_model"] + 4.0 * mc["n_layers"] * seq * mc["d_model"]
            samples = cfg.heldout_generations + (problems * he.n_samples if v != "oracle" else 0)
            total_flops += per_tok * (samples * (gen_tokens + seq) + 3 * n_eval * seq)
            runs += problems * he.n_samples if v != "oracle" else 0
            steps += math.ceil(samples / cfg.generation.batch_size) * gen_tokens
        # CPU: small decoders' forwards are modelled like the student's (kind student_forward);
        # what dominates there is the per-step overhead and the sandbox
        j.parts.append(Part(f"sampling + teacher-forced metrics ({len(systems) + teacher_fim} systems)",
                            "decoder_generate" if j.device == "gpu" else "student_forward", total_flops,
                            "bf16" if j.device == "gpu" else "fp32"))
        step_s = float(hw.GPU_DECODE_STEP_S.value) if j.device == "gpu" else self.k("decode_step_s")
        j.parts.append(Part(f"{steps} decoding steps (per-step overhead)", seconds=steps * step_s, parallel=1))
        share, why = humaneval_executed_share(self.s, self.lay, t)
        runs *= share
        j.parts.append(Part(f"{runs:.0f} sandboxed HumanEval runs", seconds=runs * self.k("sandbox_s_per_run"),
                            parallel=he.workers))
        j.notes.append(f"HumanEval samples run in the sandbox: {share:.1%} ({why})")
        mc, n = shapes[systems[0]]
        j.memory = forward_memory(n_params=n, weight_bytes=4, n_layers=mc["n_layers"], hidden=mc["d_model"],
                                  intermediate=mc["d_ff"], kv_dim=mc["d_model"], tokens=cfg.generation.batch_size,
                                  keep_hidden=False, vocab=V, logits_tokens=cfg.generation.batch_size,
                                  kv_cache_tokens=cfg.generation.batch_size * (seq + gen_tokens))
        return self.finish(j)

    # ---------------------------------------------------------------- Phase 2
    def retarget_regions(self, ct: str) -> float:
        """Regions a Phase 2 student is retargeted on: the train and val regions with stored
        targets, each split capped at ``phase2.compute.max_regions`` (swejepa.phase2.retarget)."""
        d = self.student_data(ct)
        cap = self.s.phase2.compute.max_regions
        return sum(min(n, cap) if cap else n for n in (d["train"], d["val"]))

    def retarget_parts(self, j: Job, ct: str, a: Arch, regions: float) -> None:
        """The forward over the unique windows holding the student's regions (fp32 weights;
        bf16 autocast on CUDA only; swejepa.student.targets.teacher_targets): FLOPs, plus the
        per-token overhead on a GPU (on CPU the fitted ``retarget`` efficiency includes it). A sample of ``regions`` of the R stored ones, spread over W windows, touches
        W (1 - (1 - regions/R)^(R/W)) windows in expectation."""
        e = self.ext[ct]
        d = self.student_data(ct)
        R = max(1.0, d["train"] + d["val"])
        W = max(1.0, min(e.n_windows, R))
        windows = W * (1.0 - (1.0 - min(1.0, regions / R)) ** (R / W))
        tokens = windows * e.mean_window
        gpu = j.device == "gpu"
        j.parts.append(Part(f"retarget {regions:.0f} regions ({windows:.0f} windows)", "extract" if gpu else "retarget",
                            lm_forward_flops(a, tokens, e.mean_window / 2), "bf16" if gpu else "fp32"))
        if gpu:   # on CPU the fitted `retarget` efficiency includes the per-token work
            j.parts.append(Part("retarget per-token overhead", seconds=tokens * self.extract_s_per_token(j)))

    def p2_student_steps_for_flops(self, t: str, flops: float) -> float:
        sh = self.shape(t)
        d = self.student_data(t)
        st = self.plan.student_recipe()
        per_step = self.student_flops(sh, st.train.batch_size, d["tokens_per_ex"], d["targets_per_ex"])
        budget_step = 6.0 * sh.n_params * st.train.batch_size * d["tokens_per_ex"]
        return flops / max(1.0, budget_step), per_step

    def phase2_teachers_train_job(self, t: str, seed: int) -> Job:
        j = self.job("phase2_teachers_train", teacher=t, seed=seed)
        self.student_train_parts(j, t, "main", self.plan.student_recipe().train.max_steps)
        return self.finish(j)

    def compute_point_job(self, ct: str, seed: int, pct: int) -> Job:
        j = self.job("phase2_compute_point", teacher=ct, seed=seed, pct=pct)
        comp = self.s.phase2.compute
        a = self.arch[ct]
        ft = self.plan.finetunes(ct)
        tb = comp.total_flops * pct / 100.0
        sb = comp.total_flops - tb
        if tb > 0:
            tokens = tb / (6.0 * a.n_params)
            j.parts.append(self.lm_train_part(ct, tokens, "finetune" if ft else "teacher_train"))
        if ft:
            j.parts.append(Part("load pretrained fp32", seconds=a.n_params * 4 / 1e9))
        self.retarget_parts(j, ct, a, self.retarget_regions(ct))
        steps, _ = self.p2_student_steps_for_flops(ct, sb)
        self.student_train_parts(j, ct, "main", steps)
        smem = j.memory
        j.memory = self.lm_train_memory(ct, ft) if tb > 0 else forward_memory(
            n_params=a.n_params, weight_bytes=4, n_layers=a.n_layers, hidden=a.hidden, intermediate=a.intermediate,
            kv_dim=a.kv_dim, tokens=self.ext[ct].mean_window * 16, keep_hidden=False)
        if smem["total"] > j.memory["total"]:
            j.memory = smem
        j.notes.append(f"teacher {pct}% = {tb:.3g} FLOPs ({'fine-tuning' if ft else 'Stage 1'}), student {sb:.3g}")
        return self.finish(j)

    def snapshots_job(self, ct: str) -> Job:
        j = self.job("phase2_compute_snapshots", teacher=ct)
        a = self.arch[ct]
        ft = self.plan.finetunes(ct)
        tokens = self.stage1_tokens(ct)
        j.parts.append(self.lm_train_part(ct, tokens, "finetune" if ft else "teacher_train"))
        snaps = self.plan.snapshots(ct) + ([self.plan.stage1_steps(ct)] if ft else [])
        tr = self.s.teacher(ct).training
        evals = len(snaps) + 1
        j.parts.append(Part(f"FIM val loss x {evals}", "finetune" if ft else "teacher_train",
                            evals * 4 * lm_forward_flops(a, tr.batch_size * tr.seq_len, tr.seq_len / 2, head=True) / 3,
                            "bf16"))
        j.parts.append(Part(f"save {len(snaps)} snapshots (fp32)", seconds=len(snaps) * a.n_params * 4 / 0.5e9))
        j.storage_bytes = len(snaps) * a.n_params * 4 + (a.n_params * 16 if ft else 0)
        j.memory = self.lm_train_memory(ct, ft)
        j.notes.append(f"{len(snaps)} snapshots x {a.n_params * 4 / 1e9:.1f} GB (fp32) on disk")
        return self.finish(j)

    def curve_job(self, ct: str, seed: int, step: int) -> Job:
        j = self.job("phase2_compute_curve", teacher=ct, seed=seed, step=step)
        a = self.arch[ct]
        j.parts.append(Part("load snapshot (fp32)", seconds=a.n_params * 4 / 0.5e9))
        self.retarget_parts(j, ct, a, self.retarget_regions(ct))
        self.student_train_parts(j, ct, "main", self.plan.student_recipe().train.max_steps)
        return self.finish(j)

    def phase2_eval_job(self, kind: str, seed: int, point: str) -> Job:
        j = self.job("phase2_eval", kind=kind, seed=seed, point=point)
        wc = type("WC", (), {"kind": kind, "point": point, "seed": seed})()
        t = self.plan.eval_teacher(wc)
        self.eval_parts(j, t, "main", 1, 0)
        return self.finish(j)


def _dedupe(xs):
    return list(dict.fromkeys(xs))
