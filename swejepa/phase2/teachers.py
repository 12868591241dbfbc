"""Experiment 2.1 ("teachers"): identical students on every teacher's targets, and the
untrained student they must beat."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..settings import StudentSettings
from .common import train_student_job, write_json


def seed_student(*, data, student: StudentSettings, seed: int, out_dir) -> dict:
    """A 2.1 student for a (teacher, seed) the student stage does not train."""
    summ = train_student_job(student, data, out_dir, seed=seed)
    run = {"experiment": "teachers", "seed": seed, "student_flops": float(summ["flops"]),
           "student_steps": int(summ["steps"]), "student_wall_s": float(summ["wall_s_job"]),
           "student_val_loss": float(summ["final_val_loss"])}
    write_json(run, Path(out_dir) / "run.json")
    return run


def untrained_student(data, student: StudentSettings, seed: int):
    """The floor: the student of :func:`swejepa.student.train.train_student` at step 0
    (same seed, same architecture) — no training."""
    import torch

    from swejepa.student.model import build_student

    torch.manual_seed(seed)
    np.random.seed(seed)
    return build_student(student.model, data.vocab_size, data.max_positions, data.hidden_size).eval()
