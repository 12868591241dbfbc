"""Phase-2 jobs, called by the thin scripts ``scripts/phase2_*.py``.

* :func:`alloc_point`   — one sweep point of Experiment 2.2: a tiny FIM teacher trained
  with ``fraction · budget`` FLOPs, its targets for the student's subset (one forward
  pass), a student trained with the rest of the budget.
* :func:`curve_teachers` — the Stage-1 recipe of the tiny teacher replayed up to its
  snapshot steps (same steps, data order, schedule), saving each snapshot.
* :func:`curve_student` — a student on the targets of one snapshot (the student
  settings of Experiment 2.1).
* :func:`train_seed_student` — a 2.1 student for a teacher and seed not trained by the
  student stage.
* :func:`eval_job`      — Phase-0 retrieval and probes on a student's representations.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import budget as bud
from .retarget import subset_positions, teacher_targets, with_targets

log = logging.getLogger("swejepa")

BIG_STEPS = 10 ** 9


def _write_json(obj, path) -> None:
    from swejepa.runtime import write_text_atomic

    write_text_atomic(path, json.dumps(obj, indent=1, sort_keys=True, default=float) + "\n")


def _device(requested: str = "auto") -> str:
    from swejepa.runtime import pick_device

    return pick_device(requested)


def read_train_records(files_jsonl, split: str = "train") -> list[dict]:
    recs = []
    with open(files_jsonl) as fh:
        for line in fh:
            r = json.loads(line)
            if r.get("split") == split and r.get("content"):
                recs.append({"file_id": int(r["file_id"]), "content": r["content"]})
    return recs


def read_regions(mask_csv) -> pd.DataFrame:
    return pd.read_csv(mask_csv, usecols=["file_id", "body_start_char", "body_end_char"])


def fim_eval_loss(model, data, tokenizer, training: dict, *, n_batches: int = 4, seed: int = 1234,
                  device: str = "cpu") -> float:
    """Mean FIM loss on fixed, seeded batches of held-out files (the x-axis of the curve)."""
    import torch

    from swejepa.teachers.tokenizer import sentinel_ids
    from swejepa.teachers.train import DEFAULT_TRAINING, make_batch

    tr = {**DEFAULT_TRAINING, **(training or {})}
    sent = sentinel_ids(tokenizer)
    was = model.training
    model.eval().to(device)
    tot = 0.0
    with torch.no_grad():
        for k in range(n_batches):
            x, att, lab = (t.to(device) for t in make_batch(data, k, int(tr["batch_size"]), int(tr["seq_len"]), sent,
                                                          seed, tr["fim_rate"], tr["region_fraction"]))
            tot += float(model(input_ids=x, attention_mask=att, labels=lab).loss)
    model.train(was)
    return tot / n_batches


def teacher_step_flops(n_params: int, training: dict) -> float:
    """Upper bound of one teacher optimizer step: 6 · params · batch · seq_len."""
    from swejepa.teachers.train import DEFAULT_TRAINING

    tr = {**DEFAULT_TRAINING, **(training or {})}
    return 6.0 * n_params * int(tr["batch_size"]) * int(tr["seq_len"])


def student_step_flops(metrics_csv) -> float:
    """Largest FLOPs of one student step (from the cumulative ``flops`` column)."""
    m = pd.read_csv(metrics_csv)
    f = m["flops"].to_numpy(dtype=float)
    return float(np.max(np.diff(np.concatenate([[0.0], f])))) if len(f) else 0.0


def _targets_for(model, ref, n_layers: int, target_layer: str, max_regions, seed: int, device: str):
    from swejepa.teachers.registry import layer_indices

    pos = subset_positions(ref, ("train", "val"), max_regions, seed)
    li = layer_indices(n_layers)[target_layer]
    t0 = time.time()
    tg, off, fl, ntok = teacher_targets(model, ref, pos, li, device=device)
    data = with_targets(ref, pos, tg, off, {"retargeted_layer_index": li})
    return data, {"extract_flops": fl, "extract_tokens": ntok, "extract_wall_s": time.time() - t0,
                  "n_regions": int(len(pos)), "layer_index": int(li)}


def _fresh_resume(resume_dir, fingerprint: dict) -> None:
    """Drop resume state left by a run with other settings (a rerun after a config change
    must start over; a retry of the same job resumes)."""
    import hashlib
    import shutil

    resume_dir = Path(resume_dir)
    fp = hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()
    mark = resume_dir / "phase2_fingerprint.txt"
    if resume_dir.exists() and (not mark.exists() or mark.read_text().strip() != fp):
        log.info("discarding resume state in %s (other settings)", resume_dir)
        shutil.rmtree(resume_dir, ignore_errors=True)
    resume_dir.mkdir(parents=True, exist_ok=True)
    mark.write_text(fp + "\n")


def _student(cfg: dict, data, out_dir, *, seed: int, max_steps=None, max_flops=None, fingerprint=None) -> dict:
    from swejepa.student.train import train_student

    _fresh_resume(Path(out_dir) / "_resume", {"cfg": cfg, "seed": seed, "max_steps": max_steps,
                                              "max_flops": max_flops, "n_regions": int(data.n_regions),
                                              "extra": fingerprint})
    t0 = time.time()
    summ = train_student(cfg, data, out_dir, max_steps=max_steps, max_flops=max_flops, seed=seed, log=log)
    summ = dict(summ)
    summ["wall_s_job"] = time.time() - t0
    summ["step_flops_max"] = student_step_flops(Path(out_dir) / "metrics.csv")
    return summ


FINETUNE_SOURCES = ("hf", "package")


def is_finetune(entry: dict) -> bool:
    """A compute teacher that starts from pretrained weights (FIM fine-tuning) rather than
    from a fresh initialisation (a Stage-1 ``train`` teacher)."""
    return entry.get("source") in FINETUNE_SOURCES


def start_teacher(entry: dict, tokenizer=None, *, seed: int = 0, results_dir="results", index=None,
                  key: str = "phase2.compute.teachers"):
    """The model a compute-teacher run starts from, and the tokenizer to train it with.

    ``train``: the Stage-1 architecture with its seeded initial weights (``tokenizer`` =
    the teacher's BPE). ``hf``/``package``: the pretrained causal LM in fp32 and its own
    tokenizer, FIM sentinels added where missing (Qwen2.5-Coder/Qwen3 already have them)."""
    if is_finetune(entry):
        from swejepa.teachers.registry import load_causal_lm

        model, tok, _ = load_causal_lm(entry, results_dir, index, key=key)
        return model, tok
    if entry.get("source") != "train":
        raise ValueError(f"{key}: teacher '{entry.get('name')}' has source {entry.get('source')!r}; "
                         "a compute teacher is a `train` (Stage 1 from scratch) or an `hf`/`package` "
                         "causal LM (FIM fine-tuning)")
    from swejepa.teachers.train import arch_of, build_model

    if tokenizer is None:
        raise ValueError("a `train` compute teacher needs its tokenizer")
    return build_model(arch_of(entry), tokenizer, seed), tokenizer


def alloc_point(*, entry: dict, records: list[dict], regions, val_records: list[dict], tokenizer, ref,
                student_cfg: dict, total_flops: float, fraction: float, target_layer: str, seed: int,
                out_dir, max_regions: int | None = None, teacher_device: str = "auto", results_dir="results",
                index: int | None = None) -> dict:
    """One point of the compute-allocation sweep; writes ``out_dir/run.json`` and the
    student (``final.pt``, ``metrics.csv``, ``summary.json``) under ``out_dir``.

    The teacher's share trains a ``train`` teacher from its initial weights (Stage 1) or
    fine-tunes a pretrained ``hf``/``package`` causal LM with the same FIM objective
    (``tokenizer`` is then the model's own; pass ``None``). At 0% the student learns from
    the initial weights (``train``) or the unchanged pretrained teacher (``hf``)."""
    from swejepa.teachers.train import n_params, prepare_fim_data, train_fim, training_of

    out_dir = Path(out_dir)
    dev = _device(teacher_device)
    tb, sb = bud.split_budget(total_flops, fraction)
    t0 = time.time()
    model, tokenizer = start_teacher(entry, tokenizer, seed=seed, results_dir=results_dir, index=index)
    fim = prepare_fim_data(records, tokenizer, regions)
    fim_val = prepare_fim_data(val_records, tokenizer, regions)
    P = n_params(model)
    tr = training_of(entry)
    tinfo = {"flops_spent": 0.0, "steps": 0, "tokens": 0, "elapsed_s": 0.0}
    if tb > 0:
        _, tinfo = train_fim(model, fim, tokenizer, tr, seed=seed, flops_budget=tb, device=dev,
                             resume_dir=out_dir / "_teacher_resume", log=log.info,
                             fingerprint={"phase2_alloc": fraction, "total": total_flops})
    teacher_wall = time.time() - t0
    fim_loss = fim_eval_loss(model, fim_val, tokenizer, tr, device=dev)
    log.info("alloc %.2f: teacher %d steps, %.3g/%.3g FLOPs, FIM val loss %.4f", fraction, tinfo["steps"],
             tinfo["flops_spent"], tb, fim_loss)
    data, ex = _targets_for(model, ref, model.config.num_hidden_layers, target_layer, max_regions, seed, dev)
    del model
    summ = _student(student_cfg, data, out_dir, seed=seed, max_steps=BIG_STEPS, max_flops=sb,
                    fingerprint={"alloc": fraction, "total": total_flops, "entry": entry})
    chk = bud.check_spent(total_flops, tinfo["flops_spent"], summ["flops"],
                          teacher_step_flops(P, tr) if tb > 0 else 0.0, summ["step_flops_max"])
    run = {"experiment": "alloc", "compute_teacher": entry["name"],
           "teacher_mode": "finetune" if is_finetune(entry) else "scratch", "fraction": fraction, "pct": bud.pct(fraction), "seed": seed,
           "total_flops": float(total_flops), "teacher_flops_budget": tb, "student_flops_budget": sb,
           "teacher_flops": float(tinfo["flops_spent"]), "teacher_steps": int(tinfo["steps"]),
           "teacher_tokens": int(tinfo["tokens"]), "teacher_params": P, "teacher_wall_s": teacher_wall,
           "teacher_fim_loss": fim_loss, "student_flops": float(summ["flops"]), "student_steps": int(summ["steps"]),
           "student_params": int(summ["n_params"]), "student_wall_s": float(summ["wall_s_job"]),
           "student_val_loss": float(summ["final_val_loss"]), **ex, **chk}
    _write_json(run, out_dir / "run.json")
    import shutil

    shutil.rmtree(out_dir / "_teacher_resume", ignore_errors=True)  # the teacher is not kept
    return run


def curve_teachers(*, entry: dict, records, regions, val_records, tokenizer, snapshot_steps, seed: int,
                   out_dir, final_model_dir=None, device: str = "auto", results_dir="results",
                   index: int | None = None) -> pd.DataFrame:
    """Replay the teacher run of ``entry`` (its own ``training.steps``, seed, schedule and
    data order) and save the model at each of ``snapshot_steps`` (``out_dir/step{N}/``),
    with the FIM validation loss of each snapshot and of the starting weights (step 0).

    ``train`` teachers: the Stage-1 run from the initial weights; the finished teacher is
    ``final_model_dir`` (evaluated, not re-saved). ``hf``/``package`` teachers: FIM
    fine-tuning from the pretrained weights (step 0 = the pretrained teacher), and the
    last step is saved too (``out_dir/step{training.steps}/``). Returns/writes ``curve.csv``."""
    import shutil

    import torch

    from swejepa.teachers.train import n_params, prepare_fim_data, save_teacher, train_fim, training_of

    out_dir = Path(out_dir)
    dev = _device(device)
    tr = dict(training_of(entry))
    if not tr.get("steps"):
        raise ValueError(f"teachers[{entry.get('name')}].training.steps must be set: the length of the run whose "
                         "snapshots the undertrained-teacher curve replays")
    total = int(tr["steps"])
    finetune = is_finetune(entry)
    snaps = sorted({int(s) for s in snapshot_steps if 0 < int(s) < total})
    if finetune:
        snaps.append(total)
    if snaps:
        tr["checkpoint_every"] = math.gcd(*snaps)
    model, tokenizer = start_teacher(entry, tokenizer, seed=seed, results_dir=results_dir, index=index)
    fim = prepare_fim_data(records, tokenizer, regions)
    fim_val = prepare_fim_data(val_records, tokenizer, regions)
    P = n_params(model)
    rows = [{"step": 0, "teacher_flops": 0.0, "teacher_fim_loss": fim_eval_loss(model, fim_val, tokenizer, tr,
                                                                                 device=dev),
             "source": "pretrained" if finetune else "init"}]
    resume = out_dir / "_resume"
    shutil.rmtree(resume, ignore_errors=True)  # snapshots need the run from step 0
    t0 = time.time()
    fp = {"entry": entry.get("name"), "vocab": len(tokenizer), "finetune": finetune}
    for s in snaps:
        if s < total:
            _, info = train_fim(model, fim, tokenizer, tr, seed=seed, steps=total, device=dev, resume_dir=resume,
                                log=log.info, fingerprint=fp, stop_after=s)
            if info.get("interrupted_at") != s:
                raise RuntimeError(f"snapshot at step {s} not reached: {info}")
            st = torch.load(resume / "state.pt", map_location="cpu", weights_only=False)
            if int(st["step"]) != s:
                raise RuntimeError(f"resume state at step {st['step']}, expected {s}")
            tokens = int(st["tokens"])
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
    from swejepa.analysis.run import write_csv

    write_csv(df, out_dir / "curve.csv")
    shutil.rmtree(resume, ignore_errors=True)
    return df


def curve_student(*, teacher_dir, ref, student_cfg: dict, target_layer: str, seed: int, out_dir,
                  max_regions: int | None = None, device: str = "auto") -> dict:
    """A student on the targets of one teacher snapshot (saved model directory)."""
    from transformers import AutoModel

    dev = _device(device)
    model = AutoModel.from_pretrained(str(teacher_dir)).eval()
    data, ex = _targets_for(model, ref, model.config.num_hidden_layers, target_layer, max_regions, seed, dev)
    del model
    summ = _student(student_cfg, data, out_dir, seed=seed,
                    fingerprint={"teacher": str(teacher_dir), "weights": _weights_id(teacher_dir)})
    run = {"experiment": "curve", "seed": seed, "student_flops": float(summ["flops"]),
           "student_steps": int(summ["steps"]), "student_wall_s": float(summ["wall_s_job"]),
           "student_val_loss": float(summ["final_val_loss"]), **ex}
    _write_json(run, Path(out_dir) / "run.json")
    return run


def _weights_id(model_dir) -> str:
    from swejepa.teachers.registry import weights_hash

    return weights_hash(model_dir)


def train_seed_student(*, data, student_cfg: dict, seed: int, out_dir) -> dict:
    summ = _student(student_cfg, data, out_dir, seed=seed)
    run = {"experiment": "teachers", "seed": seed, "student_flops": float(summ["flops"]),
           "student_steps": int(summ["steps"]), "student_wall_s": float(summ["wall_s_job"]),
           "student_val_loss": float(summ["final_val_loss"])}
    _write_json(run, Path(out_dir) / "run.json")
    return run


def untrained_student(data, student_cfg: dict, seed: int):
    """The floor: the student of :func:`swejepa.student.train.train_student` at step 0
    (same seed, same architecture) — no training."""
    import torch

    from swejepa.student.model import build_student
    from swejepa.student.train import merge_defaults

    cfg = merge_defaults(student_cfg)
    torch.manual_seed(seed)
    np.random.seed(seed)
    return build_student(cfg["model"], data.vocab_size, data.max_positions, data.hidden_size).eval()


def _student_info(final) -> dict:
    """Budget/loss numbers of a trained student from the files next to ``final.pt``."""
    d = Path(final).parent
    out: dict = {}
    if (d / "summary.json").exists():
        sm = json.loads((d / "summary.json").read_text())
        out.update({"student_steps": int(sm["steps"]), "student_flops": float(sm["flops"]),
                    "student_val_loss": float(sm["final_val_loss"]), "student_params": int(sm["n_params"]),
                    "student_wall_s": float(sm.get("wall_s", float("nan")))})
    if (d / "run.json").exists():
        out.update(json.loads((d / "run.json").read_text()))
    return out


def eval_job(*, final, latents, items_path, regions_csv, properties_csv, entry: dict, index: int, results_dir,
             student_cfg: dict, eval_cfg: dict, probe_cfg: dict, seed: int, ident: dict, out_json) -> dict:
    """Evaluate one Phase-2 student (``final`` = its ``final.pt``; ``None`` = the untrained
    student of ``seed``) on the Phase-0 tasks; write identity, budget and metrics to ``out_json``.
    The windows/tokenizer are those of teacher ``entry`` (the student's teacher)."""
    from contextlib import nullcontext

    from swejepa.analysis.retrieval import read_items
    from swejepa.student.checkpoint import load_weights
    from swejepa.student.data import load_student_data
    from swejepa.student.train import evaluate_loss, merge_defaults
    from swejepa.teachers.registry import load_tokenizer, resolve_source

    from .evaluate import evaluate_student
    from .report import count_params_safetensors

    t0 = time.time()
    cfg = merge_defaults(student_cfg)
    ev = {"representation": "encoder", "probe_max_samples": 600, **(eval_cfg or {})}
    data = load_student_data(latents, cfg.get("mask", "ast"), cfg["target_layer"])
    out = dict(ident)
    if final:
        model, _ = load_weights(final)
        info = _student_info(final)
        out.update({k: v for k, v in info.items() if k not in ident})
    else:
        model = untrained_student(data, cfg, seed)
        val = data.indices("val")
        val = val if len(val) else data.indices("train")
        val = np.sort(val)[: cfg["train"]["eval_batches"] * cfg["train"]["batch_size"]]
        out.update({"student_steps": 0, "student_flops": 0.0, "student_params": int(model.n_params()),
                    "student_val_loss": evaluate_loss(model, data, val, cfg, "cpu", nullcontext())["val_loss"]})
    if ident.get("teacher_source") not in (None, "none"):
        try:
            out["teacher_params"] = count_params_safetensors(resolve_source(entry, results_dir, index)["path"])
        except Exception as e:  # noqa: BLE001 - size is informative; the criterion may name teachers instead
            log.warning("teacher size unknown: %s", e)
            out["teacher_params"] = None
    tokenizer = load_tokenizer(entry, results_dir, index)
    items = read_items(items_path) if items_path else None
    r = evaluate_student(model, data, tokenizer, cfg, items=items, regions_csv=regions_csv,
                         properties_csv=properties_csv,
                         probe_cfg={**(probe_cfg or {}), "max_samples": int(ev["probe_max_samples"])},
                         representation=ev["representation"], seed=seed)
    out.update({f"m_{k}": v for k, v in r["flat"].items()})
    out.update(r["metrics"])
    out["eval_wall_s"] = time.time() - t0
    _write_json(out, out_json)
    log.info("eval %s: %s", ident, {k: round(v, 4) for k, v in r["metrics"].items()})
    return out
