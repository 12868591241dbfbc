"""Workflow-level checks: layout, dry-run DAG, lint."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def snakemake(*args, cwd, timeout=300):
    return subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(cwd), *args],
                          capture_output=True, text=True, timeout=timeout)


def test_top_level_layout():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    top = {p.split("/")[0] for p in tracked}
    expected = {"Snakefile", "rules", "envs", "config.yaml", "scripts", "swejepa", "results", "paper", "tests",
                "pyproject.toml", "README.md", ".ci", ".gitignore",
                "config",  # overlays: smoke (tests) and cluster (full grid)
                "slurm"}   # `snakemake --profile slurm` resolves ./slurm first
    assert top <= expected, f"unexpected top-level entries: {sorted(top - expected)}"
    assert {"Snakefile", "rules", "envs", "config.yaml", "scripts", "swejepa", "results", "paper", "tests"} <= top
    assert [p for p in tracked if p.startswith("results/")] == ["results/README.md"]


def test_default_dry_run_lists_stage_jobs(tmp_path):
    p = snakemake("-n", "--quiet", "rules", cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    out = p.stdout + p.stderr
    for rule in ("corpus", "mask", "mask_agreement", "properties"):
        assert f"\n{rule} " in "\n" + out or f"{rule}\t" in out or f" {rule} " in out, out[-3000:]


def test_lint_is_clean(tmp_path):
    p = snakemake("--lint", cwd=tmp_path)
    assert p.returncode == 0, (p.stdout + p.stderr)[-4000:]


def test_cluster_dry_run_builds_the_full_grid(tmp_path):
    """`--configfile config/cluster.yaml` resolves to the full DAG (the hf teachers are
    only looked up when their jobs run, so a laptop can plan the cluster run)."""
    import re

    p = snakemake("-n", "--configfile", str(ROOT / "config" / "cluster.yaml"), cwd=tmp_path, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", p.stdout + p.stderr, re.M)}
    assert counts["extract"] == 8 * 4                 # 8 teachers x 4 shards, one forward pass each
    assert counts["phase2_compute_point"] == 2 * 3 * 6  # tinyfim (Stage 1) + coder3b (fine-tuning) x seeds x points
    assert counts["phase2_compute_snapshots"] == 2
    assert counts["paper_pdf"] == 1
