#!/usr/bin/env python
"""Determinism check (CI): run the workflow twice from empty results directories and
compare every CSV and table (results/**/*.csv, results/tables/*.tex, results/macros/*.tex)
byte for byte. Exit status 1 and a list of differing files when they differ.

  python scripts/paper_check_determinism.py                       # smoke config, target paper_sources
  python scripts/paper_check_determinism.py --configfile config.yaml --target all
  python scripts/paper_check_determinism.py --compare RUN_A/results RUN_B/results
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from swejepa.paper import REPO, compare_trees, run_snakemake  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configfile", nargs="*", default=[str(REPO / "config" / "smoke.yaml")])
    ap.add_argument("--target", nargs="*", default=["paper_sources"],
                    help="default paper_sources: everything except the PDF (no TeX needed)")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--workdir", help="keep the two runs under this directory (default: a temp dir)")
    ap.add_argument("--compare", nargs=2, metavar=("A", "B"), help="only compare two results directories")
    args = ap.parse_args(argv)

    if args.compare:
        diffs = compare_trees(*args.compare)
    else:
        base = Path(args.workdir or tempfile.mkdtemp(prefix="swejepa-determinism-"))
        runs = [base / "run1", base / "run2"]
        for run in runs:
            if run.exists() and any(run.iterdir()):
                print(f"{run} is not empty; the check needs empty results directories", file=sys.stderr)
                return 2
            t0 = time.time()
            run_snakemake(run, args.configfile, args.target, args.cores)
            print(f"{run}: {time.time() - t0:.0f} s")
        diffs = compare_trees(runs[0] / "results", runs[1] / "results")
        n = len(list((runs[0] / "results").glob("**/*.csv")))
        print(f"compared {n} CSVs plus tables/macros under {runs[0]} and {runs[1]}")
    for d in diffs:
        print(d)
    print("DETERMINISTIC" if not diffs else f"NOT DETERMINISTIC: {len(diffs)} difference(s)")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
