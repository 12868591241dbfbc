"""Experiment 2.2 ("compute"): the compute allocation between teacher and student.

* :func:`compute_point`     — one sweep point: the teacher trained (Stage 1) or a pretrained
  one fine-tuned with ``fraction · total_flops``, its targets for the student's subset
  (one forward pass), a student trained with the rest of the budget.
* :func:`compute_snapshots` — the teacher's run replayed up to its snapshot steps (same
  steps, data order, schedule), saving each snapshot (the undertrained-teacher curve).
* :func:`compute_curve`     — a student on the targets of one snapshot.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from pathlib import Path

import pandas as pd

from ..layout import Layout
from ..settings import ComputeSettings, StudentSettings, TeacherSpec, TrainingSpec
from . import budget as bud
from .common import device as _device, targets_for, train_student_job, write_json

log = logging.getLogger("swejepa")

BIG_STEPS = 10 ** 9


def fim_eval_loss(model, data, tokenizer, training: TrainingSpec, *, n_batches: int = 4, seed: int = 1234,
                  device: str = "cpu") -> float:
    """Mean FIM loss on fixed, seeded batches of held-out files (the x-axis of the curve)."""
    import torch

    from swejepa.teachers.tokenizer import sentinel_ids
    from swejepa.teachers.train import make_batch

    tr = training
    sent = sentinel_ids(tokenizer)
    was = model.training
    model.eval().to(device)
    tot = 0.0
    with torch.no_grad():
        for k in range(n_batches):
            x, att, lab = (t.to(device) for t in make_batch(data, k, int(tr.batch_size), int(tr.seq_len), sent,
                                                          seed, tr.fim_rate, tr.region_fraction))
            tot += float(model(input_ids=x, attention_mask=att, labels=lab).loss)
    model.train(was)
    return tot / n_batches


def teacher_step_flops(n_params: int, training: TrainingSpec) -> float:
    """Upper bound of one teacher optimizer step: 6 · params · batch · seq_len."""
    return 6.0 * n_params * int(training.batch_size) * int(training.seq_len)


def start_teacher(teacher: TeacherSpec, tokenizer=None, *, seed: int = 0, layout: Layout | str = "results",
                  index=None, key: str = "phase2.compute.teachers"):
    """The model a compute-teacher run starts from, and the tokenizer to train it with.

    ``train``: the Stage-1 architecture with its seeded initial weights (``tokenizer`` =
    the teacher's BPE). ``hf``/``package``: the pretrained causal LM in fp32 and its own
    tokenizer, FIM sentinels added where missing (Qwen2.5-Coder/Qwen3 already have them)."""
    if teacher.finetunes:
        from swejepa.teachers.registry import load_causal_lm

        model, tok, _ = load_causal_lm(teacher, layout, index, key=key)
        return model, tok
    if teacher.source != "train":
        raise ValueError(f"{key}: teacher '{teacher.name}' has source {teacher.source!r}; "
                         "a compute teacher is a `train` (Stage 1 from scratch) or an `hf`/`package` "
                         "causal LM (FIM fine-tuning)")
    from swejepa.teachers.train import build_model

    if tokenizer is None:
        raise ValueError("a `train` compute teacher needs its tokenizer")
    return build_model(teacher.arch, tokenizer, seed), tokenizer


def compute_point(*, teacher: TeacherSpec, records: list[dict], regions, val_records: list[dict], tokenizer, ref,
                  student: StudentSettings, compute: ComputeSettings, fraction: float, seed: int, out_dir,
                  layout: Layout | str = "results", index: int | None = None) -> dict:
    """One point of the compute-allocation sweep; writes ``out_dir/run.json`` and the
    student (``final.pt``, ``metrics.csv``, ``summary.json``) under ``out_dir``.

    The teacher's share trains a ``train`` teacher from its initial weights (Stage 1) or
    fine-tunes a pretrained ``hf``/``package`` causal LM with the same FIM objective
    (``tokenizer`` is then the model's own; pass ``None``). At 0% the student learns from
    the initial weights (``train``) or the unchanged pretrained teacher (``hf``)."""
    from swejepa.teachers.train import n_params, prepare_fim_data, train_fim

    out_dir = Path(out_dir)
    total_flops = float(compute.total_flops)
    tr = teacher.training
    dev = _device(tr.device)
    tb, sb = bud.split_budget(total_flops, fraction)
    t0 = time.time()
    model, tokenizer = start_teacher(teacher, tokenizer, seed=seed, layout=layout, index=index)
    fim = prepare_fim_data(records, tokenizer, regions)
    fim_val = prepare_fim_data(val_records, tokenizer, regions)
    P = n_params(model)
    tinfo = {"flops_spent": 0.0, "steps": 0, "tokens": 0, "elapsed_s": 0.0}
    if tb > 0:
        _, tinfo = train_fim(model, fim, tokenizer, tr, seed=seed, flops_budget=tb, device=dev,
                             resume_dir=out_dir / "_teacher_resume", log=log.info,
                             fingerprint={"phase2_compute": fraction, "total": total_flops})
    teacher_wall = time.time() - t0
    fim_loss = fim_eval_loss(model, fim_val, tokenizer, tr, device=dev)
    log.info("compute %.2f: teacher %d steps, %.3g/%.3g FLOPs, FIM val loss %.4f", fraction, tinfo["steps"],
             tinfo["flops_spent"], tb, fim_loss)
    data, ex = targets_for(model, ref, model.config.num_hidden_layers, student.target_layer, compute.max_regions,
                           seed, dev)
    del model
    summ = train_student_job(student, data, out_dir, seed=seed, max_steps=BIG_STEPS, max_flops=sb,
                             fingerprint={"compute": fraction, "total": total_flops, "entry": teacher.to_dict()})
    chk = bud.check_spent(total_flops, tinfo["flops_spent"], summ["flops"],
                          teacher_step_flops(P, tr) if tb > 0 else 0.0, summ["step_flops_max"])
    run = {"experiment": "compute", "compute_teacher": teacher.name,
           "teacher_mode": "finetune" if teacher.finetunes else "scratch", "fraction": fraction,
           "pct": bud.pct(fraction), "seed": seed,
           "total_flops": total_flops, "teacher_flops_budget": tb, "student_flops_budget": sb,
           "teacher_flops": float(tinfo["flops_spent"]), "teacher_steps": int(tinfo["steps"]),
           "teacher_tokens": int(tinfo["tokens"]), "teacher_params": P, "teacher_wall_s": teacher_wall,
           "teacher_fim_loss": fim_loss, "student_flops": float(summ["flops"]), "student_steps": int(summ["steps"]),
           "student_params": int(summ["n_params"]), "student_wall_s": float(summ["wall_s_job"]),
           "student_val_loss": float(summ["final_val_loss"]), **ex, **chk}
    write_json(run, out_dir / "run.json")
    shutil.rmtree(out_dir / "_teacher_resume", ignore_errors=True)  # the teacher is not kept
    return run


def compute_snapshots(*, teacher: TeacherSpec, records, regions, val_records, tokenizer, snapshot_steps, seed: int,
                      out_dir, final_model_dir=None, layout: Layout | str = "results",
                      index: int | None = None) -> pd.DataFrame:
    """Replay the run of ``teacher`` (its own ``training.steps``, seed, schedule and data
    order) and save the model at each of ``snapshot_steps`` (``out_dir/step{N}/``), with
    the FIM validation loss of each snapshot and of the starting weights (step 0).

    ``train`` teachers: the Stage-1 run from the initial weights; the finished teacher is
    ``final_model_dir`` (evaluated, not re-saved). ``hf``/``package`` teachers: FIM
    fine-tuning from the pretrained weights (step 0 = the pretrained teacher), and the
    last step is saved too (``out_dir/step{training.steps}/``). Returns/writes ``curve.csv``."""
    import torch

    from swejepa.teachers.train import n_params, prepare_fim_data, save_teacher, train_fim

    out_dir = Path(out_dir)
    tr = teacher.training
    dev = _device(tr.device)
    if not tr.steps:
        raise ValueError(f"teachers[{teacher.name}].training.steps must be set: the length of the run whose "
                         "snapshots the undertrained-teacher curve replays")
    total = int(tr.steps)
    finetune = teacher.finetunes
    snaps = sorted({int(s) for s in snapshot_steps if 0 < int(s) < total})
    if finetune:
        snaps.append(total)
    if snaps:
        tr = tr.replace(checkpoint_every=math.gcd(*snaps))
    model, tokenizer = start_teacher(teacher, tokenizer, seed=seed, layout=layout, index=index)
    fim = prepare_fim_data(records, tokenizer, regions)
    fim_val = prepare_fim_data(val_records, tokenizer, regions)
    P = n_params(model)
    rows = [{"step": 0, "teacher_flops": 0.0, "teacher_fim_loss": fim_eval_loss(model, fim_val, tokenizer, tr,
                                                                                 device=dev),
             "source": "pretrained" if finetune else "init"}]
    resume = out_dir / "_resume"
    shutil.rmtree(resume, ignore_errors=True)  # snapshots need the run from step 0
    t0 = time.time()
    fp = {"entry": teacher.name, "vocab": len(tokenizer), "finetune": finetune}
    for s in snaps:
        if s < total:
            _, info = train_fim(model, fim, tokenizer, tr, seed=seed, steps=total, device=dev, resume_dir=resume,
                                log=log.info, fingerprint=fp, stop_after=s)
            if info.get("interrupted_at") != s:
                raise RuntimeError(f"snapshot at step {s} not reached: {info}")
            st = torch.load(resume / "state.pt", map_location="cpu", weights_only=False)
            if int(st["step"]) != s:
                raise RuntimeError(f"resume state at step {st['step']}, expected {s}")
            tokens = int(info["tokens"])
        else:  # the end of a fine-tuning run
            _, info = train_fim(model, fim, tokenizer, tr, seed=seed, steps=total, device=dev, resume_dir=resume,
                                log=log.info, fingerprint=fp)
            if int(info["steps"]) != total:
                raise RuntimeError(f"fine-tuning ended at step {info['steps']}, expected {total}")
            tokens = int(info["tokens"])
        shutil.rmtree(out_dir / f"step{s}", ignore_errors=True)
        save_teacher(model.cpu(), tokenizer, out_dir / f"step{s}")
        model.to(dev)
        rows.append({"step": s, "teacher_flops": 6.0 * P * tokens,
                     "teacher_fim_loss": fim_eval_loss(model, fim_val, tokenizer, tr, device=dev),
                     "source": "final" if s == total else "snapshot", "wall_s": time.time() - t0})
        log.info("snapshot step %d: FIM val loss %.4f", s, rows[-1]["teacher_fim_loss"])
    if final_model_dir is not None and not finetune:
        from transformers import AutoModelForCausalLM

        fm = AutoModelForCausalLM.from_pretrained(str(final_model_dir))
        rows.append({"step": total, "teacher_flops": float("nan"),
                     "teacher_fim_loss": fim_eval_loss(fm, fim_val, tokenizer, tr, device=dev), "source": "final"})
    df = pd.DataFrame(rows)
    from swejepa.phase0.jobs import write_csv

    write_csv(df, out_dir / "curve.csv")
    shutil.rmtree(resume, ignore_errors=True)
    return df


def compute_curve(*, teacher_dir, ref, student: StudentSettings, seed: int, out_dir, max_regions: int | None,
                  device: str) -> dict:
    """A student on the targets of one teacher snapshot (saved model directory)."""
    from transformers import AutoModel

    from swejepa.teachers.registry import weights_hash

    dev = _device(device)
    model = AutoModel.from_pretrained(str(teacher_dir)).eval()
    data, ex = targets_for(model, ref, model.config.num_hidden_layers, student.target_layer, max_regions, seed, dev)
    del model
    summ = train_student_job(student, data, out_dir, seed=seed,
                             fingerprint={"teacher": str(teacher_dir), "weights": weights_hash(teacher_dir)})
    run = {"experiment": "curve", "seed": seed, "student_flops": float(summ["flops"]),
           "student_steps": int(summ["steps"]), "student_wall_s": float(summ["wall_s_job"]),
           "student_val_loss": float(summ["final_val_loss"]), **ex}
    write_json(run, Path(out_dir) / "run.json")
    return run
