"""The cost plan: what a configuration will cost before any job is submitted.

    python -m swejepa.plan --configfile config/cluster.yaml [--gpu-type h100] [--out results/plan]

prints, per phase, the GPU-hours/GPU-days beside the seed's budget table and the CPU
hours, per rule the jobs, FLOPs, hours and peak GPU memory, and every warning (a job that
does not fit its GPU, cannot finish within its ``runtime``, or whose student sees its
targets more than 10 times); it writes ``jobs.csv`` (one row per job: rule, wildcards,
phase, FLOPs, memory components, GPU/CPU hours, target regions/tokens/epochs, warnings)
and ``plan.json`` (the same plus every assumption: MFU table, corpus size, architectures,
conversion factors, CPU rates) to ``--out``.

The jobs are the DAG's (:func:`swejepa.dag.build_plan`); costs come from
:mod:`swejepa.plan.costs`; architectures from each teacher's ``config.json``
(:mod:`swejepa.plan.arch`); throughput from :mod:`swejepa.plan.hardware`. Offline: no
network, no weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..dag import Plan, build_plan
from ..layout import Layout
from ..settings import Settings
from . import hardware as hw
from .costs import PHASE_NAMES, CostModel, CPUModel, Job, calibration_cpu, host_cpu, measure_cpu

__all__ = ["CostPlan", "cost_plan", "enumerate_jobs"]


@dataclass
class CostPlan:
    settings: Settings
    jobs: list[Job]
    gpu: hw.GPUType
    cpu: CPUModel
    model: CostModel
    config_files: list = field(default_factory=list)

    def phases(self) -> dict[str, dict]:
        out = {p: {"jobs": 0, "gpu_jobs": 0, "gpu_hours": 0.0, "cpu_hours": 0.0, "hours": 0.0, "flops": 0.0}
               for p in PHASE_NAMES}
        for j in self.jobs:
            ph = out[j.phase]
            ph["jobs"] += 1
            ph["gpu_jobs"] += j.device == "gpu"
            ph["gpu_hours"] += j.gpu_hours
            ph["cpu_hours"] += j.cpu_hours
            ph["hours"] += j.seconds / 3600
            ph["flops"] += j.flops
        for p, ph in out.items():
            ph["gpu_days"] = ph["gpu_hours"] / 24
            b = hw.SEED_BUDGET_GPU_DAYS.get(p)
            ph["seed_budget_gpu_days"] = [b[0], b[1]] if b else None
        return out

    def rules(self) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for j in self.jobs:
            r = out.setdefault(j.rule, {"phase": j.phase, "jobs": 0, "device": j.device, "gpus": j.gpus,
                                        "flops": 0.0, "seconds": 0.0, "gpu_hours": 0.0, "cpu_hours": 0.0,
                                        "max_job_hours": 0.0, "peak_mem_gb": 0.0, "warnings": 0, "runtime_min": 0})
            r["jobs"] += 1
            r["flops"] += j.flops
            r["seconds"] += j.seconds
            r["gpu_hours"] += j.gpu_hours
            r["cpu_hours"] += j.cpu_hours
            r["max_job_hours"] = max(r["max_job_hours"], j.seconds / 3600)
            r["runtime_min"] = max(r["runtime_min"], j.runtime_min)
            if j.device == "gpu" and j.memory:
                r["peak_mem_gb"] = max(r["peak_mem_gb"], j.memory["total"] / 1e9)
            r["warnings"] += len(j.warnings)
        return out

    def warnings(self) -> list[str]:
        return [f"{j.name}: {w}" for j in self.jobs for w in j.warnings]

    def to_json(self) -> dict:
        m = self.model
        return {
            "config_files": [str(c) for c in self.config_files],
            "gpu_type": self.gpu.to_dict(), "cpu": self.cpu.to_dict(),
            "cpu_kinds": {k: v.to_dict() for k, v in hw.CPU_KINDS.items()},
            "cpu_calibration": hw.CPU_CALIBRATION,
            "gpu_types": {k: v.to_dict() for k, v in hw.GPU_TYPES.items()},
            "seed_budget_gpu_days": hw.SEED_BUDGET_GPU_DAYS,
            "corpus": m.corpus.to_dict(), "bench_items": {"n": m.n_items, "status": m.items_status},
            "teachers": {t: {"arch": a.to_dict(), "extraction": m.ext[t].to_dict()} for t, a in m.arch.items()},
            "factors": {k: v.to_dict() for k, v in __import__("swejepa.plan.sizes", fromlist=["FACTORS"]).FACTORS.items()},
            "phases": self.phases(), "rules": self.rules(), "warnings": self.warnings(),
            "jobs": [j.to_row() for j in self.jobs],
        }


def enumerate_jobs(cm: CostModel) -> list[Job]:
    """One costed :class:`Job` per job of the DAG (``rule all``: the PDF)."""
    s, plan = cm.s, cm.plan
    lay = plan.layout
    jobs = [cm.corpus_job()]
    masks = sorted(set(s.masks.strategies) | {"ast"})
    jobs += [cm.mask_job(m) for m in masks]
    if {"regex", "ast"} <= set(s.masks.strategies):
        jobs.append(cm.mask_agreement_job())
    jobs.append(cm.properties_job())
    for t in plan.teachers_by_source("train"):
        jobs += [cm.tokenizer_job(t), cm.teacher_train_job(t), cm.light("teacher_loss_figure", teacher=t)]
    for t in plan.teachers_by_source("random"):
        jobs.append(cm.light("teacher_random", torch_job=True, teacher=t))
    jobs.append(cm.items_job())
    for t in plan.teachers:
        jobs += [cm.extract_job(t, i) for i in range(plan.n_shards)]
    for t in plan.teachers:
        for m in s.masks.strategies:
            jobs += [cm.stats_job(t, m), cm.probes_job(t, m)]
        if plan.vector_pools:
            jobs += [cm.retrieval_job(t), cm.light("phase0_retrieval_report", teacher=t)]
    if plan.vector_pools:
        jobs.append(cm.light("phase0_retrieval_lexical"))
    jobs += [cm.light(r) for r in ("phase0_stats_combine", "phase0_retrieval_combine", "phase0_probes_combine",
                                   "phase0_macros")]
    for t, v in plan.students:
        jobs += [cm.student_train_job(t, v), cm.student_eval_job(t, v)]
    if plan.students:
        jobs.append(cm.light("student_report"))
    if plan.decoder_on:
        t = plan.decoder_teacher
        jobs.append(cm.decoder_prepare_job(t))
        jobs += [cm.decoder_train_job(t, v) for v in s.decoder.variants]
        jobs += [cm.decoder_eval_job(t), cm.light("decoder_report", teacher=t)]
    if plan.phase2_on:
        p2_dirs = {}
        for sd in plan.p2_seeds:
            for t in plan.p2_teachers:
                p2_dirs[plan.p2_student_final(t, sd)] = (t, sd)
        for pt in plan.curve_points:
            if pt.final.startswith(lay.phase2("teachers")):
                rest = pt.final[len(lay.phase2("teachers")) + 1:].split("/")
                p2_dirs[pt.final] = (rest[0], int(rest[1][len("seed"):]))
        for final, (t, sd) in p2_dirs.items():
            if final.startswith(lay.phase2("teachers")):
                jobs.append(cm.phase2_teachers_train_job(t, sd))
        for ct in plan.compute_teachers:
            for sd in plan.compute_seeds:
                jobs += [cm.compute_point_job(ct, sd, p) for p in plan.compute_pcts]
            jobs.append(cm.snapshots_job(ct))
        for pt in plan.curve_points:
            if pt.final.startswith(lay.phase2("compute", "curve")):
                jobs.append(cm.curve_job(pt.teacher, pt.seed, pt.step))
        evals = list(dict.fromkeys(plan.teachers21_jsons() + plan.compute_eval_jsons()
                                   + [pt.json for pt in plan.curve_points]))
        base = lay.phase2("eval") + "/"
        for e in evals:
            kind, seed, point = e[len(base):-len(".json")].split("/", 2)
            jobs.append(cm.phase2_eval_job(kind, int(seed[len("seed"):]), point))
        jobs.append(cm.light("phase2_report"))
    jobs += [cm.light(r) for r in ("paper_corpus_macros", "paper_provenance", "paper_verdicts", "paper_generated", "paper_report")]
    # paper_sources is a target rule that `all` does not request: no job
    if s.paper.pdf:
        jobs += [cm.light("paper_pdf"), cm.light("paper_check")]
    return jobs


def cost_plan(settings: Settings, *, gpu_type: str | None = None, cpu: CPUModel | str | None = None,
              results: str = "results", config_files=()) -> CostPlan:
    """Cost every job of the DAG of ``settings``. ``cpu``: a :class:`CPUModel`, ``"here"``
    (measure this machine's per-core rates now), ``"calibration"`` (the rates the CPU
    efficiencies were fitted with), ``"host"`` (an assumed server core) or None: ``host``
    when the configuration requests GPUs (a cluster or workstation), else ``here``."""
    plan: Plan = build_plan(settings, Layout(results, settings.corpus.name))
    gpu = hw.gpu_type(gpu_type or settings.plan.gpu_type)
    if cpu is None:
        uses_gpu = any(x > 0 for x in (settings.extract.gpu, settings.student.gpus, settings.decoder.gpu,
                                       settings.phase2.gpu))
        cpu = "host" if uses_gpu else "here"
    if cpu == "here":
        cpu = measure_cpu()
    elif cpu == "host":
        cpu = host_cpu()
    elif cpu == "calibration":
        cpu = calibration_cpu()
    cm = CostModel(settings, plan, gpu, cpu)
    return CostPlan(settings, enumerate_jobs(cm), gpu, cpu, cm, list(config_files))


def load_settings(configfiles) -> tuple[Settings, list[Path]]:
    """config.yaml of this repository, then the overlays (as Snakemake merges them)."""
    repo_default = Path(__file__).resolve().parents[2] / "config.yaml"
    files = [Path(f) for f in (configfiles or [])]
    if not files or files[0].resolve() != repo_default:
        files = [repo_default, *files]
    return Settings.load(*files), files
