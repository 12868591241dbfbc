"""``python -m swejepa.plan [--configfile a.yaml ...] [--gpu-type h100] [--cpu here|host] [--out DIR]``

Prints the cost plan (per phase beside the seed's budget, per rule, warnings) and writes
``DIR/jobs.csv`` and ``DIR/plan.json`` (default ``DIR``: ``results/plan``). Offline."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from . import cost_plan, load_settings
from . import hardware as hw
from .costs import PHASE_NAMES


def _h(x: float) -> str:
    if x == 0:
        return "0"
    return f"{x:.3g}" if x < 100 else f"{x:,.0f}"


def _flops(x: float) -> str:
    return f"{x:.2e}" if x else "-"


def render(cp) -> str:
    out = []
    s = cp.settings
    m = cp.model
    out.append(f"cost plan: {' + '.join(str(c) for c in cp.config_files)}")
    out.append(f"GPU type: {cp.gpu.name} ({cp.gpu.memory_gb:.0f} GB, {cp.gpu.bf16_tflops:.0f} TFLOP/s bf16 dense; "
               f"MFU entries: {', '.join(f'{k} {v.value:.2f}' for k, v in cp.gpu.mfu.items())}; all "
               f"{'assumed' if all(v.status == 'assumed' for v in cp.gpu.mfu.values()) else 'mixed'})")
    out.append(f"CPU jobs: {cp.cpu.status}: fp32 {cp.cpu.fp32 / 1e12:.3f} / bf16 {cp.cpu.bf16 / 1e12:.3f} TFLOP/s "
               f"per core; efficiencies measured {hw.CPU_CALIBRATION['date']}; CPU-hours are core-hours")
    c = m.corpus
    out.append(f"corpus {s.corpus.name} ({s.corpus.source}): {c.n_files} files, {c.total_bytes / 1e6:.1f} MB, "
               f"{c.regions.get('ast', 0):,} ast regions — {c.status}; regions: {c.region_status}")
    for t, a in m.arch.items():
        e = m.ext[t]
        out.append(f"  teacher {t}: {a.model_type} {a.n_layers}x{a.hidden} (kv {a.kv_heads}x{a.head_dim}, vocab "
                   f"{a.vocab}), {a.n_params / 1e9:.3f}B params [{a.source}]; extracts {e.files} files, "
                   f"{e.corpus_tokens / 1e6:.2f}M tokens, {e.token_regions.get(s.student.mask, 0):,.0f} per-token "
                   f"regions ({e.status.split(':')[0]})")
    out.append("")
    out.append("per phase (GPU-days beside the seed's budget, SWE-JEPA.md 'Resource Requirements'):")
    out.append(f"  {'phase':46s} {'jobs':>5s} {'GPU jobs':>8s} {'GPU-hours':>10s} {'GPU-days':>9s} "
               f"{'seed budget':>12s} {'CPU-hours':>10s}")
    tot = {"jobs": 0, "gpu_jobs": 0, "gpu_hours": 0.0, "cpu_hours": 0.0}
    for p, ph in cp.phases().items():
        b = ph["seed_budget_gpu_days"]
        bud = f"{b[0]:g}-{b[1]:g} d" if b else "-"
        out.append(f"  {PHASE_NAMES[p]:46s} {ph['jobs']:5d} {ph['gpu_jobs']:8d} {_h(ph['gpu_hours']):>10s} "
                   f"{ph['gpu_days']:9.2f} {bud:>12s} {_h(ph['cpu_hours']):>10s}")
        for k in tot:
            tot[k] += ph[k]
    out.append(f"  {'total':46s} {tot['jobs']:5d} {tot['gpu_jobs']:8d} {_h(tot['gpu_hours']):>10s} "
               f"{tot['gpu_hours'] / 24:9.2f} {'8-30 d':>12s} {_h(tot['cpu_hours']):>10s}")
    store: dict = {}
    for j in cp.jobs:
        if j.storage_bytes:
            store[j.rule] = store.get(j.rule, 0.0) + j.storage_bytes
    if store:
        out.append("  disk written: " + ", ".join(f"{r} {v / 1e9:,.1f} GB" for r, v in store.items()))
    out.append("")
    out.append("per rule (hours: wall time summed over jobs; memory: largest job, per GPU):")
    out.append(f"  {'rule':26s} {'jobs':>5s} {'dev':>4s} {'FLOPs':>9s} {'hours':>9s} {'max job h':>9s} "
               f"{'runtime':>7s} {'GPU-h':>9s} {'CPU-h':>8s} {'mem GB':>7s} {'warn':>4s}")
    for r, x in cp.rules().items():
        dev = f"{x['gpus']}g" if x["device"] == "gpu" else "cpu"
        out.append(f"  {r:26s} {x['jobs']:5d} {dev:>4s} {_flops(x['flops']):>9s} {_h(x['seconds'] / 3600):>9s} "
                   f"{_h(x['max_job_hours']):>9s} {x['runtime_min']:>6d}m {_h(x['gpu_hours']):>9s} "
                   f"{_h(x['cpu_hours']):>8s} {x['peak_mem_gb'] if x['device'] == 'gpu' else 0:7.1f} "
                   f"{x['warnings']:4d}")
    gpu_jobs = [j for j in cp.jobs if j.device == "gpu" and j.memory]
    if gpu_jobs:
        out.append("")
        out.append("peak GPU memory of the largest job per rule (GB per GPU):")
        out.append(f"  {'job':44s} {'weights':>8s} {'grads':>7s} {'optim':>7s} {'actv':>7s} {'hidden':>7s} "
                   f"{'logits':>7s} {'other':>7s} {'total':>7s}")
        seen = {}
        for j in gpu_jobs:
            if j.rule not in seen or j.memory["total"] > seen[j.rule].memory["total"]:
                seen[j.rule] = j
        for j in seen.values():
            mm = j.memory
            shown = ("weights", "gradients", "optimizer", "activations", "hidden_states", "logits")
            other = mm["total"] - sum(mm.get(k, 0.0) for k in shown)
            out.append(f"  {j.name[:44]:44s} {mm['weights'] / 1e9:8.1f} {mm['gradients'] / 1e9:7.1f} "
                       f"{mm['optimizer'] / 1e9:7.1f} {mm['activations'] / 1e9:7.1f} {mm['hidden_states'] / 1e9:7.1f} "
                       f"{mm['logits'] / 1e9:7.1f} {other / 1e9:7.1f} {mm['total'] / 1e9:7.1f}")
        out.append("  (other: autocast's bf16 weight copies, student targets, KV cache)")
    students = [j for j in cp.jobs if j.epochs and j.rule != "decoder_train"]
    if students:
        out.append("")
        out.append("students: distinct target regions/tokens and epochs over them (steps x batch / regions):")
        seen = set()
        for j in students:
            key = (j.rule, j.epochs["regions"], j.epochs["examples"])
            if key in seen:
                continue
            seen.add(key)
            n = sum(1 for x in students if (x.rule, x.epochs["regions"], x.epochs["examples"]) == key)
            out.append(f"  {j.name[:52]:52s} x{n:<3d} {j.epochs['regions']:>9,} regions {j.epochs['tokens']:>11,} "
                       f"tokens {j.epochs['examples']:>11,} examples {j.epochs['epochs']:8.2f} epochs")
    dec = [j for j in cp.jobs if j.rule == "decoder_train" and j.epochs]
    for j in dec:
        out.append(f"  {j.name[:52]:52s}      {j.epochs['regions']:>9,} regions {j.epochs['tokens']:>11,} "
                   f"tokens {j.epochs['examples']:>11,} examples {j.epochs['epochs']:8.2f} epochs (decoder)")
    ws = cp.warnings()
    out.append("")
    out.append(f"warnings: {len(ws)}")
    by: dict[tuple, list] = {}
    for j in cp.jobs:
        for w in j.warnings:
            kind = w.split(":")[0]
            by.setdefault((j.rule, kind), []).append((j, w))
    for (rule, kind), items in by.items():
        j, w = max(items, key=lambda x: x[0].seconds)
        more = f" (and {len(items) - 1} more {rule} jobs)" if len(items) > 1 else ""
        out.append(f"  WARNING {j.name}: {w}{more}")
    return "\n".join(out)


def write(cp, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = [j.to_row() for j in cp.jobs]
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(out_dir / "jobs.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    (out_dir / "plan.json").write_text(json.dumps(cp.to_json(), indent=1, default=str) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m swejepa.plan", description=__doc__.split("\n\n")[0])
    ap.add_argument("--configfile", nargs="*", default=None, help="overlays of config.yaml (as for snakemake)")
    ap.add_argument("--gpu-type", default=None, choices=sorted(hw.GPU_TYPES),
                    help="GPU of the GPU jobs (default: the config's plan.gpu_type)")
    ap.add_argument("--cpu", default=None, choices=["here", "calibration", "host"],
                    help="CPU jobs on this machine (per-core rates measured now), on the calibration machine, or "
                         "on a cluster host core (assumed); default: host when the config requests GPUs, else here")
    ap.add_argument("--results", default="results", help="results directory whose measured sizes are used")
    ap.add_argument("--out", default=None, help="write jobs.csv and plan.json here (default: <results>/plan)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    settings, files = load_settings(args.configfile)
    cp = cost_plan(settings, gpu_type=args.gpu_type, cpu=args.cpu, results=args.results,
                   config_files=files)
    if not args.quiet:
        print(render(cp))
    out = Path(args.out or Path(args.results) / "plan")
    write(cp, out)
    print(f"\nwrote {out / 'jobs.csv'} and {out / 'plan.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
