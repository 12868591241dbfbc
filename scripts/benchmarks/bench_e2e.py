#!/usr/bin/env python
"""End-to-end budget benchmark (prints figures; not a timed test).

Runs the default config (or --smoke) from an empty results directory to the paper and
prints: total wall time against the budget (30 min default, 4 min smoke) as a ratio,
per-rule times summed from the `benchmark:` files (results/benchmarks/<rule>/*.tsv),
slowest first, and the number of teacher forward-pass (extraction) jobs in the DAG
against teachers x shards.

  python scripts/benchmarks/bench_e2e.py --smoke
  python scripts/benchmarks/bench_e2e.py                     # default config, 30-min budget
  python scripts/benchmarks/bench_e2e.py --workdir /tmp/e2e --target paper_sources
"""
import argparse
import csv
import re
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from swejepa.paper import REPO, parse_job_stats, run_snakemake  # noqa: E402
from swejepa.settings import Settings  # noqa: E402

# Rules that run a teacher's forward pass over the corpus (one job per teacher x shard).
EXTRACT_RULE = re.compile(r"^extract(_latents|_shard|_teacher)?$")


def rule_times(results: Path) -> dict[str, tuple[int, float]]:
    """``{rule: (n_jobs, seconds)}`` from results/benchmarks/<rule>/**/*.tsv."""
    out = defaultdict(lambda: [0, 0.0])
    for tsv in sorted((results / "benchmarks").glob("**/*.tsv")):
        rule = tsv.relative_to(results / "benchmarks").parts[0]
        with open(tsv) as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                out[rule][0] += 1
                out[rule][1] += float(row["s"])
    return {k: (v[0], v[1]) for k, v in out.items()}


def expected_extract_jobs(settings: Settings) -> int:
    return len(settings.teachers) * settings.extract.n_shards


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="config/smoke.yaml, 4-minute budget")
    ap.add_argument("--configfile", nargs="*", help="overlays (default: none, or smoke.yaml with --smoke)")
    ap.add_argument("--budget-min", type=float, help="budget in minutes (default 30, smoke 4)")
    ap.add_argument("--target", nargs="*", default=[], help="default: rule all (the PDF)")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--workdir", help="empty directory to run in (default: a new temp dir)")
    args = ap.parse_args(argv)

    configfiles = args.configfile or ([str(REPO / "config" / "smoke.yaml")] if args.smoke else [])
    budget = 60 * (args.budget_min or (4 if args.smoke else 30))
    work = Path(args.workdir or tempfile.mkdtemp(prefix="swejepa-e2e-"))
    if (work / "results").exists() and any((work / "results").iterdir()):
        print(f"{work}/results is not empty; the benchmark starts from an empty results dir", file=sys.stderr)
        return 2
    settings = Settings.load(REPO / "config.yaml", *configfiles)

    dry = run_snakemake(work, configfiles, args.target, args.cores, ["-n"], timeout=900)
    jobs = parse_job_stats(dry.stdout + dry.stderr)
    n_extract = sum(n for r, n in jobs.items() if EXTRACT_RULE.match(r))
    expected = expected_extract_jobs(settings)

    t0 = time.time()
    r = run_snakemake(work, configfiles, args.target, args.cores, check=False, timeout=6 * 3600)
    wall = time.time() - t0
    (work / "bench_e2e.log").write_text(r.stdout + r.stderr)

    print(f"config: config.yaml{''.join(' + ' + c for c in configfiles)}; workdir {work}")
    print(f"exit status: {r.returncode}" + ("" if r.returncode == 0 else f" (see {work}/bench_e2e.log)"))
    print(f"total wall time: {wall:.1f} s = {wall / 60:.2f} min; budget {budget / 60:.0f} min; "
          f"ratio {wall / budget:.2f} ({'within' if wall <= budget else 'OVER'} budget)")
    times = rule_times(work / "results")
    total = sum(t for _, t in times.values()) or 1.0
    print(f"\nper-rule time from benchmark files (sum over jobs; cores={args.cores}):")
    print(f"{'rule':32s} {'jobs':>5s} {'seconds':>9s} {'share':>6s}")
    for rule, (n, t) in sorted(times.items(), key=lambda kv: -kv[1][1]):
        print(f"{rule:32s} {n:5d} {t:9.1f} {t / total:6.1%}")
    print(f"\njobs in the DAG: {sum(jobs.values())}")
    print(f"teacher forward-pass (extraction) jobs: {n_extract}; teachers x shards = "
          f"{expected}{' OK' if n_extract == expected else ' MISMATCH'}")
    return 0 if r.returncode == 0 and n_extract == expected else 1


if __name__ == "__main__":
    sys.exit(main())
