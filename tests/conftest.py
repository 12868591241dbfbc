"""Shared fixtures. The end-to-end smoke run is expensive, so the slow tests that need
one (paper, incremental rebuilds, determinism) share a single run per session."""

import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "config" / "smoke.yaml"


@pytest.fixture
def one_torch_thread():
    """Tiny models train faster and reproducibly on one thread (and leave the other
    core to whatever else runs)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


class SmokeRun:
    def __init__(self, workdir: Path, started: float, targets: list[str]):
        self.workdir = workdir
        self.started = started
        self.targets = targets
        self.results = workdir / "results"


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """The smoke workflow, run once from an empty results directory. With latexmk
    available it builds the PDF (`all`); without, everything but the PDF."""
    from swejepa.paper import run_snakemake

    try:
        from swejepa.paper import find_latexmk
        find_latexmk()
        targets = ["all"]
    except Exception:
        targets = ["paper_sources"]
    work = tmp_path_factory.mktemp("smoke-run")
    started = time.time() - 1
    run_snakemake(work, [SMOKE], targets, 2, timeout=3600)
    print(f"smoke run ({' '.join(targets)}): {time.time() - started:.0f} s")
    return SmokeRun(work, started, targets)
