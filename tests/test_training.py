"""The shared parts of the training loops (swejepa/training/): schedule, autocast, resume
state, time budget and signals, metrics CSV."""

from __future__ import annotations

import math
import os
import random
import signal

import numpy as np
import pytest
import torch

from swejepa.training import (Interrupted, InterruptGuard, WarmupCosine, autocast, autocast_for, bf16_wanted,
                              load_resume, save_resume, write_metrics)


def test_warmup_then_cosine_to_the_floor():
    s = WarmupCosine(2.0, 4, 14, 0.1)
    assert [s(k) for k in range(4)] == [0.5, 1.0, 1.5, 2.0]        # linear warm-up to the peak
    assert s(4) == pytest.approx(2.0) and s(9) == pytest.approx(2.0 * (0.1 + 0.9 * 0.5))
    assert s(14) == pytest.approx(0.2) and s(100) == pytest.approx(0.2)  # the floor, then constant
    decay = [s(k) for k in range(4, 15)]
    assert all(a >= b for a, b in zip(decay, decay[1:]))
    assert WarmupCosine(1.0, 0, 10, 0.0)(0) == 1.0                  # no warm-up


def test_scheduler_multiplies_the_optimizer_lr():
    p = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.SGD([p], lr=0.3)
    sch = WarmupCosine(1.0, 3, 10, 0.1)
    lr_sched = sch.scheduler(opt)
    seen = []
    for _ in range(12):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        lr_sched.step()
    assert seen == [0.3 * sch(k) for k in range(12)]


def test_autocast_choice():
    assert bf16_wanted("cuda", "auto") and bf16_wanted("cuda:1", "auto") and not bf16_wanted("cpu", "auto")
    assert bf16_wanted("cpu", "bf16") and bf16_wanted("cpu", "bfloat16")
    assert not bf16_wanted("cuda", "fp32") and not bf16_wanted("cuda", "float32")
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with autocast("cpu", True):
        assert (a @ b).dtype == torch.bfloat16
    with autocast("cpu", False), autocast_for("cpu", "auto"):
        assert (a @ b).dtype == torch.float32


def _toy():
    torch.manual_seed(0)
    m = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(m.parameters(), lr=0.1)
    m(torch.randn(5, 3)).sum().backward()
    opt.step()
    return m, opt


def test_resume_state_round_trip_restores_rng_and_ignores_stale_state(tmp_path):
    m, opt = _toy()
    sched = WarmupCosine(1.0, 2, 10, 0.1).scheduler(opt)
    opt.step()
    sched.step()
    torch.manual_seed(5)
    np.random.seed(5)
    random.seed(5)
    save_resume(tmp_path, m, opt, 7, scheduler=sched, extra={"rows": [1, 2]}, fingerprint="abc")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.pt"]  # no temporary left behind
    after = (torch.rand(3), np.random.rand(), random.random())

    m2 = torch.nn.Linear(3, 2)
    opt2 = torch.optim.AdamW(m2.parameters(), lr=0.1)
    sched2 = WarmupCosine(1.0, 2, 10, 0.1).scheduler(opt2)
    msgs = []
    assert load_resume(tmp_path, m2, opt2, scheduler=sched2, fingerprint="other", log=msgs.append) is None
    assert "stale" in msgs[0] and not torch.equal(m2.weight, m.weight)   # nothing restored
    assert load_resume(tmp_path / "nothing", m2, opt2) is None
    old = tmp_path / "old"   # the teacher's format before swejepa/training: same fingerprint, other keys
    old.mkdir()
    torch.save({"fingerprint": "abc", "model": m.state_dict(), "opt": opt.state_dict(), "step": 3}, old / "state.pt")
    assert load_resume(old, m2, opt2, fingerprint="abc") is None
    st = load_resume(tmp_path, m2, opt2, scheduler=sched2, fingerprint="abc")
    assert st == {"step": 7, "extra": {"rows": [1, 2]}}
    assert torch.equal(m2.weight, m.weight) and sched2.last_epoch == sched.last_epoch
    assert opt2.state_dict()["state"][0]["exp_avg"].equal(opt.state_dict()["state"][0]["exp_avg"])
    again = (torch.rand(3), np.random.rand(), random.random())
    assert torch.equal(after[0], again[0]) and after[1:] == again[1:]


def test_interrupt_guard_budget_and_signals():
    assert Interrupted.exit_code == 75
    with InterruptGuard(None) as g:
        assert g.reason() is None and not g.budget_spent()
    with InterruptGuard(0.0) as g:
        assert g.reason() == "time budget"
    with InterruptGuard(3600) as g:
        assert g.reason() is None
    before = signal.getsignal(signal.SIGUSR1)
    with InterruptGuard(3600) as g:
        os.kill(os.getpid(), signal.SIGUSR1)        # the handler only sets the flag
        assert g.reason() == "SIGUSR1"
    assert signal.getsignal(signal.SIGUSR1) is before
    with InterruptGuard(None, signals=False) as g:
        assert signal.getsignal(signal.SIGTERM) is not g._handler


def test_metrics_csv(tmp_path):
    rows = [{"step": 0, "lr": 0.5}, {"step": 1, "loss": 2.25, "lr": 0.25, "val": math.nan}]
    write_metrics(rows, tmp_path / "m.csv")
    assert (tmp_path / "m.csv").read_bytes() == b"step,lr,loss,val\n0,0.5,,\n1,0.25,2.25,\n"
    write_metrics(rows, tmp_path / "m.csv", ["step", "loss"])
    assert (tmp_path / "m.csv").read_text() == "step,loss\n0,\n1,2.25\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.csv"]
