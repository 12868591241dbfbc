"""Compute budgets of Experiment 2.2, in training FLOPs (6 · params · tokens).

A sweep point spends ``fraction · total`` on Stage-1 teacher training and the rest on
student training. Both training loops stop at the first optimizer step whose cumulative
FLOPs reach their share, so the FLOPs actually spent exceed the budget by less than one
teacher step plus one student step (:func:`check_spent`)."""

from __future__ import annotations

import math


def pct(fraction: float) -> int:
    """Sweep-point label: the teacher share in percent (0.25 -> 25)."""
    p = fraction * 100.0
    if abs(p - round(p)) > 1e-6:
        raise ValueError(f"teacher fraction {fraction} is not a whole percentage")
    return int(round(p))


def split_budget(total_flops: float, fraction: float) -> tuple[float, float]:
    """``(teacher_flops, student_flops)`` of one sweep point."""
    if not total_flops or total_flops <= 0:
        raise ValueError("total_flops must be positive")
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"teacher fraction must be in [0, 1), got {fraction}")
    t = float(total_flops) * float(fraction)
    return t, float(total_flops) - t


def plan(total_flops: float, fractions) -> list[dict]:
    """One dict per sweep point: ``fraction, pct, teacher_flops_budget, student_flops_budget``."""
    out = []
    for f in sorted(set(float(x) for x in fractions)):
        t, s = split_budget(total_flops, f)
        out.append({"fraction": f, "pct": pct(f), "teacher_flops_budget": t, "student_flops_budget": s})
    return out


def check_spent(total_flops: float, teacher_spent: float, student_spent: float,
                teacher_step_flops: float, student_step_flops: float) -> dict:
    """Did a sweep point honour its budget? Spent FLOPs must reach the budget and exceed
    it by less than the last teacher step plus the last student step."""
    spent = float(teacher_spent) + float(student_spent)
    over = spent - float(total_flops)
    slack = float(teacher_step_flops) + float(student_step_flops)
    return {"spent_flops": spent, "over_flops": over, "step_slack_flops": slack,
            "within_one_step": bool(-1e-6 * total_flops <= over <= slack + 1e-6 * total_flops)}


def steps_for(flops: float, step_flops: float) -> int:
    """Optimizer steps a FLOPs share buys (at least one when the share is positive)."""
    return 0 if flops <= 0 else max(1, math.ceil(flops / step_flops))
