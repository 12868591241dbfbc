"""Epochs over targets of the students, cheaply enough for the Snakefile's parse
(:func:`swejepa.preflight.check_epochs`): the corpus and extraction sizes of the cost plan
(:mod:`swejepa.plan.sizes`, measured from ``results/`` when they exist), no job costed.

A student that sees each of its distinct target regions more than ``plan.max_epochs`` times
memorises them (issue 20). The full cost plan (``python -m swejepa.plan``) also reports the
Phase-2 students and the decoder."""

from __future__ import annotations

from ..dag import Plan
from ..settings import Settings
from .arch import teacher_arch
from .sizes import corpus_size, extract_size, extract_window, n_bench_items, student_regions


def student_epochs(settings: Settings, plan: Plan) -> list[dict]:
    """Per student of the student stage ``(teacher, variant)``: distinct train target regions,
    examples (steps x batch size) and epochs over them."""
    if not plan.students:
        return []
    lay = plan.layout
    cs = corpus_size(settings, lay)
    n_items, _ = n_bench_items(settings, lay, cs)
    ext = {}
    out = []
    for t, v in plan.students:
        if t not in ext:
            a = teacher_arch(settings, t)
            ext[t] = extract_size(settings, lay, cs, t, a, n_items, extract_window(settings, t, a))
        r = student_regions(settings, cs, ext[t])
        tr = plan.student_recipe(v).train
        examples = int(tr.max_steps) * int(tr.batch_size)
        out.append({"teacher": t, "variant": v, "targets": settings.student.targets, "regions": round(r["train"]),
                    "examples": examples, "epochs": examples / max(1.0, r["train"]),
                    "status": ext[t].status})
    return out


def epoch_warnings(settings: Settings, plan: Plan) -> list[str]:
    """One line per student whose planned epochs exceed ``plan.max_epochs``."""
    lim = settings.plan.max_epochs
    return [f"student {e['teacher']}/{e['variant']}: {e['epochs']:.1f} epochs over {e['regions']:,} distinct train "
            f"target regions ({e['examples']:,} examples, student.targets: {e['targets']}) > plan.max_epochs = {lim:g}"
            for e in student_epochs(settings, plan) if e["epochs"] > lim]
