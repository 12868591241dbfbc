#!/usr/bin/env python
"""Determinism check: run the workflow twice from empty results directories and compare
every CSV and table (results/**/*.csv, results/tables/*.tex, results/macros/*.tex) byte
for byte (wall-clock columns of CSVs aside). Exit status 1 and a list of differing files
when they differ.

  python scripts/check_determinism.py                       # this checkout twice, smoke config
  python scripts/check_determinism.py --configfile config.yaml --target all
  python scripts/check_determinism.py --compare RUN_A/results RUN_B/results [--map OLD=NEW ...]
  python scripts/check_determinism.py --commits 4dee0a5 HEAD --map bench/retrieval_items.jsonl=phase0/retrieval/items.jsonl ...

``--commits A B`` runs each commit's own workflow (its Snakefile, code and smoke config,
from a temporary git worktree) and compares A's results with B's; ``--map`` renames A's
paths (prefixes relative to results/) where B moved them. ``--mapping-file`` reads one
``OLD=NEW`` per line (``#`` comments).
"""
import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from swejepa.paper import REPO, compare_trees, run_snakemake  # noqa: E402


def parse_map(items) -> list[tuple[str, str]]:
    out = []
    for it in items:
        it = it.split("#", 1)[0].strip()
        if not it:
            continue
        old, sep, new = it.partition("=")
        if not sep:
            raise SystemExit(f"--map wants OLD=NEW, got {it!r}")
        out.append((old.strip(), new.strip()))
    return out


def worktree(commit: str, where: Path) -> Path:
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-f", str(where), commit],
                   check=True, capture_output=True, text=True)
    return where


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configfile", nargs="*", default=None,
                    help="overlays, relative to the checkout that runs (default: config/smoke.yaml)")
    ap.add_argument("--target", nargs="*", default=["paper_sources"],
                    help="default paper_sources: everything except the PDF (no TeX needed)")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--workdir", help="keep the two runs under this directory (default: a temp dir)")
    ap.add_argument("--compare", nargs=2, metavar=("A", "B"), help="only compare two results directories")
    ap.add_argument("--commits", nargs=2, metavar=("A", "B"), help="run commit A's and commit B's workflow")
    ap.add_argument("--map", nargs="*", default=[], metavar="OLD=NEW", help="path renames from A to B")
    ap.add_argument("--mapping-file", help="a file of OLD=NEW lines")
    args = ap.parse_args(argv)
    mapping = parse_map(args.map + (Path(args.mapping_file).read_text().splitlines() if args.mapping_file else []))
    configs = args.configfile if args.configfile is not None else ["config/smoke.yaml"]

    if args.compare:
        diffs = compare_trees(*args.compare, mapping=mapping)
    else:
        base = Path(args.workdir or tempfile.mkdtemp(prefix="swejepa-determinism-"))
        runs = [base / "run1", base / "run2"]
        repos = [REPO, REPO]
        if args.commits:
            repos = [worktree(c, base / f"src{i + 1}") for i, c in enumerate(args.commits)]
        for run, repo in zip(runs, repos):
            if run.exists() and any(run.iterdir()):
                print(f"{run} is not empty; the check needs empty results directories", file=sys.stderr)
                return 2
            t0 = time.time()
            run_snakemake(run, [str(Path(repo) / c) for c in configs], args.target, args.cores,
                          repo=repo if args.commits else None, timeout=4 * 3600)
            print(f"{run} ({'commit ' + str(repo) if args.commits else 'this checkout'}): {time.time() - t0:.0f} s")
        diffs = compare_trees(runs[0] / "results", runs[1] / "results", mapping=mapping)
        n = len(list((runs[1] / "results").glob("**/*.csv")))
        print(f"compared {n} CSVs plus tables/macros under {runs[0]} and {runs[1]}")
    for d in diffs:
        print(d)
    print("DETERMINISTIC" if not diffs else f"NOT DETERMINISTIC: {len(diffs)} difference(s)")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
