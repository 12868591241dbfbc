"""Determinism: two smoke runs from empty results directories give byte-identical
CSVs and tables (CPU). The end-to-end check is slow (CI runs it); the comparison
itself is tested fast."""

import subprocess
import sys
from pathlib import Path

import pytest

from swejepa.paper import compare_trees

REPO = Path(__file__).resolve().parents[1]


def test_compare_trees_finds_differences(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        (root / "tables").mkdir(parents=True)
        (root / "x" / "y").mkdir(parents=True)
        (root / "tables" / "t.tex").write_text("same\n")
        (root / "x" / "y" / "d.csv").write_text("a,b\n1,2\n")
        (root / "logs").mkdir()
        (root / "logs" / "run.csv").write_text(f"{root}\n")  # logs are never compared
    assert compare_trees(a, b) == []
    # wall-clock columns may differ between runs; every other column must not
    (a / "m.csv").write_text("step,loss,tokens_per_s,elapsed_s\n1,0.5,1000.0,0.2\n")
    (b / "m.csv").write_text("step,loss,tokens_per_s,elapsed_s\n1,0.5,1234.5,0.3\n")
    assert compare_trees(a, b) == []
    (b / "m.csv").write_text("step,loss,tokens_per_s,elapsed_s\n1,0.6,1000.0,0.2\n")
    assert compare_trees(a, b) == ["differs: m.csv"]
    (b / "m.csv").write_text("step,loss,tokens_per_s,elapsed_s\n1,0.5,1000.0,0.2\n")
    (b / "x" / "y" / "d.csv").write_text("a,b\n1,3\n")
    (a / "tables" / "only_a.tex").write_text("x")
    diffs = compare_trees(a, b)
    assert "differs: x/y/d.csv" in diffs and any("only_a.tex" in d for d in diffs)
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "check_determinism.py"),
                        "--compare", str(a), str(b)], capture_output=True, text=True)
    assert r.returncode == 1 and "NOT DETERMINISTIC" in r.stdout


def test_compare_trees_maps_moved_paths(tmp_path):
    """Two commits whose layouts differ: paths are renamed before they are paired."""
    a, b = tmp_path / "a", tmp_path / "b"
    (a / "stats" / "t").mkdir(parents=True)
    (a / "curve" / "t" / "teachers").mkdir(parents=True)
    (b / "phase0" / "stats" / "t").mkdir(parents=True)
    (b / "snapshots" / "t").mkdir(parents=True)
    (a / "stats" / "t" / "c.csv").write_text("x\n1\n")
    (b / "phase0" / "stats" / "t" / "c.csv").write_text("x\n1\n")
    (a / "curve" / "t" / "teachers" / "curve.csv").write_text("s\n0\n")
    (b / "snapshots" / "t" / "curve.csv").write_text("s\n0\n")
    mapping = [("stats/", "phase0/stats/"), ("curve/*/teachers/", "snapshots/*/")]
    assert compare_trees(a, b, mapping=mapping) == []
    assert len(compare_trees(a, b)) == 4  # unmapped: every file is only in one tree
    (b / "snapshots" / "t" / "curve.csv").write_text("s\n1\n")
    assert compare_trees(a, b, mapping=mapping) == ["differs: snapshots/t/curve.csv (was curve/t/teachers/curve.csv)"]


@pytest.mark.slow
def test_smoke_runs_are_byte_identical(smoke_run, tmp_path):
    """A second smoke run from an empty results directory, compared with the session's
    shared run (scripts/check_determinism.py runs both itself when used alone)."""
    from swejepa.paper import run_snakemake

    run2 = tmp_path / "run2"
    run_snakemake(run2, [REPO / "config" / "smoke.yaml"], ["paper_sources"], 2, timeout=3600)
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "check_determinism.py"),
                        "--compare", str(smoke_run.results), str(run2 / "results")],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert "DETERMINISTIC" in r.stdout
    # the check compared real products, not two empty trees
    assert len(list((run2 / "results").glob("**/*.csv"))) > 20
