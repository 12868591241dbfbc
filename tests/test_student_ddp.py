"""Multi-process training (torchrun/DDP path) on CPU with gloo and 2 processes:
the 2-process run must reach the weights of a 1-process run on the same global batches,
and only rank 0 writes."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from test_student import TINY  # noqa: E402


def _cfg6():
    from swejepa.settings import StudentSettings

    # in-batch InfoNCE sees only the rank's share of the batch: off for the exact comparison
    return StudentSettings.from_dict(TINY).with_overrides(
        {"train": {"max_steps": 6, "eval_every": 3, "ckpt_every": 3, "contrastive_weight": 0.0}})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, world, port, h5, out):
    os.environ.update({"WORLD_SIZE": str(world), "RANK": str(rank), "LOCAL_RANK": str(rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    import torch.distributed as dist

    from swejepa.student.data import load_student_data
    from swejepa.student.train import train_student

    d = load_student_data([h5], "ast", "last")
    cfg = _cfg6()
    try:
        s = train_student(cfg, d, out, seed=1)
        if rank != 0:
            assert s == {}
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_ddp_gloo_two_processes_matches_single_process(tmp_path):
    from swejepa.student.checkpoint import load_weights
    from swejepa.student.data import load_student_data, write_synthetic_latents
    from swejepa.student.train import train_student

    h5 = str(write_synthetic_latents(tmp_path / "shard0of1.h5", n_windows=48))
    mp.spawn(_worker, args=(2, _free_port(), h5, str(tmp_path / "ddp")), nprocs=2, join=True)
    assert (tmp_path / "ddp" / "final.pt").exists()
    assert sorted(p.name for p in (tmp_path / "ddp" / "ckpts").iterdir()) == \
        ["step000000.pt", "step000003.pt", "step000006.pt"]

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        d = load_student_data([h5], "ast", "last")
        cfg = _cfg6()
        single = train_student(cfg, d, tmp_path / "one", seed=1)
    finally:
        torch.set_num_threads(n)
    a, _ = load_weights(tmp_path / "ddp" / "final.pt")
    b, _ = load_weights(tmp_path / "one" / "final.pt")
    sa, sb = a.state_dict(), b.state_dict()
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], rtol=1e-4, atol=1e-5, msg=k)
    import json

    ddp = json.loads((tmp_path / "ddp" / "summary.json").read_text())
    assert ddp["world_size"] == 2 and single["world_size"] == 1
    assert ddp["tokens"] == single["tokens"]  # token counts are global (all-reduced)
    assert ddp["flops"] == pytest.approx(single["flops"])


@pytest.mark.slow
def test_torchrun_entry_point_two_gloo_processes(tmp_path):
    """The cluster path: `python -m torch.distributed.run ... -m swejepa.student.train job.json`."""
    import json
    import subprocess

    from swejepa.student.data import write_synthetic_latents

    h5 = write_synthetic_latents(tmp_path / "shard0of1.h5", n_windows=32)
    cfg = {**TINY, "train": {**TINY["train"], "max_steps": 4, "contrastive_weight": 0.0}}
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"cfg": cfg, "latents": [str(h5)], "out_dir": str(tmp_path / "out"),
                               "resume_dir": str(tmp_path / "out" / "_resume"), "seed": 0, "time_budget_s": 600}))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                        "-m", "swejepa.student.train", str(job)], cwd=REPO, env=env, timeout=300)
    assert r.returncode == 0
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["world_size"] == 2 and s["steps"] == 4
