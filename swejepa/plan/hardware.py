"""What the planner assumes about machines: GPU types, their throughput per job kind (MFU),
the CPU calibration, and the seed's budget table.

Every throughput entry says whether it is ``assumed`` (a number from vendor data sheets
and common practice, to be replaced once measured) or ``measured`` (with the date, the
commit and the script that measured it). No GPU has been lent to this project's sessions
so far, so every GPU entry is ``assumed``; the CPU entries are measured on the 2-core
development VM (see :data:`CPU_KINDS`).

MFU here is *model FLOPs* (the planner's FLOP count of a job, :mod:`swejepa.plan.costs`)
divided by wall time and by the device's dense peak in the job's compute dtype.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Rate:
    """An efficiency (fraction of the peak matmul rate) or a rate, with its provenance."""
    value: float
    status: str                     # "assumed" | "measured"
    source: str = ""                # why this number / where it was measured

    def to_dict(self) -> dict:
        return {"value": self.value, "status": self.status, "source": self.source}


@dataclass(frozen=True)
class GPUType:
    name: str
    memory_gb: float                # usable HBM per GPU (GB = 1e9 bytes)
    bf16_tflops: float              # dense bf16 tensor-core peak (no sparsity)
    fp32_tflops: float              # dense fp32 (non-tensor) peak
    source: str
    mfu: dict = field(default_factory=dict)   # job kind -> Rate

    def to_dict(self) -> dict:
        return {"name": self.name, "memory_gb": self.memory_gb, "bf16_tflops": self.bf16_tflops,
                "fp32_tflops": self.fp32_tflops, "source": self.source,
                "mfu": {k: v.to_dict() for k, v in self.mfu.items()}}


# Job kinds whose time is FLOP-bound (the planner divides their FLOPs by peak x MFU).
KINDS = {
    "extract": "teacher forward with output_hidden_states (bf16 weights), length-bucketed batches",
    "teacher_train": "Stage-1 FIM training of a small Qwen2 from scratch (bf16 autocast)",
    "finetune": "FIM fine-tuning of a pretrained causal LM, fp32 master + bf16 autocast, gradient checkpointing",
    "student_train": "student encoder + predictor training (bf16 autocast on CUDA), DDP across the job's GPUs",
    "student_forward": "student forward only (evaluation: val loss, encoder representations)",
    "decoder_train": "latent-conditioned decoder training",
    "decoder_generate": "autoregressive sampling (HumanEval, held-out generations): memory-bound decoding",
}

_ASSUMED = ("assumed: typical HF/PyTorch eager efficiency for this kind of job at these sizes; "
            "replace with a measured value (scripts/benchmarks/bench_student.py, bench_extract.py on the GPU)")


def _gpu_mfu(extract, teacher, finetune, student, fwd, dec, gen) -> dict:
    return {"extract": Rate(extract, "assumed", _ASSUMED), "teacher_train": Rate(teacher, "assumed", _ASSUMED),
            "finetune": Rate(finetune, "assumed", _ASSUMED + "; recomputation (checkpointing) is not counted "
                             "as model FLOPs, so MFU is lower than the hardware utilisation"),
            "student_train": Rate(student, "assumed", _ASSUMED), "student_forward": Rate(fwd, "assumed", _ASSUMED),
            "decoder_train": Rate(dec, "assumed", _ASSUMED),
            "decoder_generate": Rate(gen, "assumed", _ASSUMED + "; decoding with a KV cache is bandwidth-bound")}


GPU_TYPES: dict[str, GPUType] = {
    "h100": GPUType("h100", 80.0, 989.0, 67.0, "NVIDIA H100 SXM5 80 GB data sheet (dense bf16 989 TFLOP/s)",
                    _gpu_mfu(0.35, 0.25, 0.30, 0.30, 0.30, 0.25, 0.03)),
    "h200": GPUType("h200", 141.0, 989.0, 67.0, "NVIDIA H200 SXM 141 GB data sheet (same compute as H100 SXM)",
                    _gpu_mfu(0.35, 0.25, 0.30, 0.30, 0.30, 0.25, 0.04)),
    "a100": GPUType("a100", 80.0, 312.0, 19.5, "NVIDIA A100 SXM4 80 GB data sheet (dense bf16 312 TFLOP/s)",
                    _gpu_mfu(0.45, 0.35, 0.40, 0.40, 0.40, 0.35, 0.06)),
    "a100-40gb": GPUType("a100-40gb", 40.0, 312.0, 19.5, "NVIDIA A100 SXM4 40 GB data sheet",
                         _gpu_mfu(0.45, 0.35, 0.40, 0.40, 0.40, 0.35, 0.06)),
    "l40s": GPUType("l40s", 48.0, 362.0, 91.6, "NVIDIA L40S data sheet (dense bf16 362 TFLOP/s)",
                    _gpu_mfu(0.35, 0.25, 0.30, 0.30, 0.30, 0.25, 0.03)),
    "rtx4090": GPUType("rtx4090", 24.0, 165.0, 82.6, "GeForce RTX 4090 (AD102 whitepaper: 165 TFLOP/s dense bf16 "
                       "with fp32 accumulate)", _gpu_mfu(0.40, 0.30, 0.35, 0.35, 0.35, 0.30, 0.05)),
}


# ---------------------------------------------------------------------------- CPU
# The CPU model (swejepa.plan.costs.cpu_seconds): a job's time is a start-up cost (Python
# + imports, measured on the light jobs) plus its work: FLOPs / (machine matmul rate in the
# job's dtype x efficiency of its kind) for FLOP-bound kinds, or counts x measured seconds
# for work that is not FLOPs (sandboxed executions, parsing, probe fits, plotting).
# Measured: fitted by `python scripts/benchmarks/bench_plan.py --fit` on the benchmark
# files of a default run (see CPU_CALIBRATION).
CPU_CALIBRATION = {
    "date": "2026-12-02",
    "commit": "579dc7e (the default's bench_e2e run, 36.3 min, idle machine)",
    "script": "scripts/benchmarks/bench_plan.py --fit --results /tmp/e2e3/results",
    "machine": "2-core VM, Intel Xeon with AMX",
    # per-core dense matmul rates the efficiencies below are relative to (FLOP per core-second)
    "fp32_tflops_per_core": 0.17,
    "bf16_tflops_per_core": 1.05,
    "cores": 2,
}

CPU_KINDS: dict[str, Rate] = {}   # filled below (kept next to its provenance)


def _m(value: float, what: str) -> Rate:
    return Rate(value, "measured", f"{what}; {CPU_CALIBRATION['script']} ({CPU_CALIBRATION['date']})")


CPU_KINDS.update({
    # efficiencies: fraction of the machine's dense matmul rate (fp32 or bf16, whichever the job uses)
    "extract": _m(0.237, "teacher forward, 3 default teachers"),
    "teacher_train": _m(0.044, "Stage-1 tinyfim training, bf16 autocast (AMX)"),
    "finetune": _m(0.08, "same code path as teacher_train (not measured separately on CPU)"),
    "student_train": _m(0.444, "default students, fp32, 1 thread"),
    "student_forward": _m(0.656, "student evaluation forwards"),
    "decoder_train": _m(0.526, "default decoders, fp32"),
    # CPU only (a GPU costs the same forward as `extract`, plus its per-token overhead): fp32,
    # 1 thread; an effective efficiency that includes the gather of one layer's tokens
    "retarget": _m(0.467, "Phase 2 retargeting: the sweep teacher's fp32 forward over the student's windows"),
    "decoder_generate": _m(0.30, "not used on CPU: decoder_eval's forwards are costed as student_forward there"),
    # seconds (not efficiencies)
    "startup_workflow_s": _m(0.798, "start-up of a job in the workflow env (pandas, matplotlib)"),
    "startup_torch_s": _m(5.93, "start-up of a job that imports torch + transformers"),
    "scan_s_per_mb": _m(0.468, "corpus: read, hash, dedupe, split"),
    "parse_s_per_mb": _m(0.414, "mask: one parse per strategy"),
    "properties_s_per_region": _m(0.000726, "properties of one function region (radon, ast)"),
    "tokenizer_s_per_mchar": _m(1.26, "BPE training per million characters"),
    "sandbox_s_per_run": _m(0.19, "one sandboxed Python run (HumanEval rewrite check / sample)"),
    "probe_s_per_unit": _m(6.18e-09, "ridge/logistic probe fits: seconds per (sample x dim x fit)"),
    "stats_s_per_unit": _m(7.1e-10, "pairwise cosines: seconds per (pair x dim)"),
    "extract_host_s_per_token": _m(2.94e-05, "extraction's per-token work beside the FLOPs: framework overhead per "
                                         "batch, hidden states copied out and pooled, tokenisation"),
    "report_s": _m(1.48, "a figure (PDF + PNG) or a report/table of a light job, beyond start-up"),
    "eval_setup_s": _m(1.17, "an evaluation job's set-up: latents, benchmark items tokenised, student built"),
    "decode_step_s": _m(0.0294, "one sampling step of a batch (Python and kernel overhead of small decoders)"),
})

# Not fitted (too small to separate in the default run): HDF5 write/read throughput.
IO_S_PER_MB = Rate(0.005, "assumed", "200 MB/s HDF5 write/read of contiguous float16 chunks (h5py, local disk)")

# GPU: one sampling step of a batch (launch and Python overhead of a step with a KV cache).
GPU_DECODE_STEP_S = Rate(0.015, "assumed", "per-step overhead of eager PyTorch decoding (a few hundred kernel "
                                           "launches per step)")

# GPU: extraction's per-token work beside the FLOPs (the CPU constant above is fitted on CPU jobs,
# where the same work runs on the 2 cores; on a GPU the pooling and copies run on the device).
GPU_EXTRACT_HOST_S_PER_TOKEN = Rate(2e-6, "assumed", "fast tokeniser (~1M tokens/s per process) plus per-batch "
                                                     "launch overhead; pooling and copies on the device")

# A cluster or workstation host CPU (jobs without a GPU there): per-core dense fp32 rate.
HOST_CPU_FP32_GFLOPS_PER_CORE = Rate(
    100.0, "assumed", "per-core AVX-512 fp32 matmul rate of a current server CPU (~1/2 of the 2 x 16-lane FMA peak "
                      "at 3 GHz); the dev VM measured 0.34 TFLOP/s fp32 on 2 cores when idle")


# ---------------------------------------------------------------------------- the seed
# ../shared/seed/SWE-JEPA.md, "Resource Requirements": compute per phase in GPU-days.
SEED_BUDGET_GPU_DAYS = {
    "phase0": (1.0, 2.0, "Extraction & validation (inference only)"),
    "phase1": (1.0, 4.0, "Student training"),
    "phase2": (2.0, 8.0, "Ablations"),
    "phase3": (4.0, 16.0, "Decoder"),
}

DTYPE_BYTES = {"float32": 4, "fp32": 4, "bfloat16": 2, "bf16": 2, "float16": 2, "fp16": 2}


def gpu_type(name: str) -> GPUType:
    try:
        return GPU_TYPES[name]
    except KeyError:
        raise KeyError(f"unknown GPU type {name!r} (known: {', '.join(GPU_TYPES)})") from None
