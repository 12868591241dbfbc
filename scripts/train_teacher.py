"""Rules teacher_tokenizer, train_teacher, random_teacher (rules/teacher.smk)."""
import json
import os

import pandas as pd

from swejepa.corpus import read_files
from swejepa.runtime import pick_device, set_threads, setup_logging, write_text_atomic
from swejepa.teachers import train_tokenizer
from swejepa.teachers.registry import load_tokenizer_from_dir
from swejepa.teachers.train import arch_of, build_model, n_params, save_teacher, train_teacher, write_metrics

log = setup_logging(snakemake.log[0])
set_threads(snakemake.threads)
rule = snakemake.rule

if rule == "teacher_tokenizer":
    cfg = snakemake.params.tokenizer
    train = [r for r in read_files(snakemake.input.files) if r["split"] == "train"]
    tok = train_tokenizer(train, cfg.get("vocab_size", 8192), cfg.get("max_chars"), cfg.get("min_frequency", 2))
    from swejepa.runtime import atomic_path

    with atomic_path(snakemake.output.tokenizer) as tmp:
        tok.save_pretrained(tmp)
    log.info("tokenizer: %d tokens from %d training files", len(tok), len(train))

elif rule == "train_teacher":
    entry = snakemake.params.entry
    tok = load_tokenizer_from_dir(snakemake.input.tokenizer)
    train = [r for r in read_files(snakemake.input.files) if r["split"] == "train"]
    regions = pd.read_csv(snakemake.input.regions, usecols=["file_id", "split", "body_start_char", "body_end_char"],
                          keep_default_na=False)
    regions = regions[regions["split"] == "train"]
    device = pick_device(entry.get("training", {}).get("device", "auto"))
    model, rows, info = train_teacher(entry, train, regions, tok, seed=snakemake.params.seed, device=device,
                                      out_dir=os.path.dirname(snakemake.output.model), resume_dir=snakemake.params.resume_dir,
                                      log=log.info)
    write_metrics(rows, snakemake.output.metrics)
    info["device"] = device
    write_text_atomic(snakemake.output.info, json.dumps(info, indent=1, default=float) + "\n")
    log.info("trained %s: %s", entry["name"], info)

elif rule == "random_teacher":
    like = snakemake.params.like
    tok = load_tokenizer_from_dir(snakemake.input.tokenizer)
    # Same seed as the `like` teacher's initialisation: exactly its weights at step 0.
    model = build_model(arch_of(like), tok, snakemake.params.seed)
    save_teacher(model, tok, os.path.dirname(snakemake.output.model))
    info = {"like": like["name"], "seed": snakemake.params.seed, "n_params": n_params(model), "arch": arch_of(like)}
    write_text_atomic(snakemake.output.info, json.dumps(info, indent=1) + "\n")
    log.info("random teacher: %s", info)
else:
    raise ValueError(f"unexpected rule {rule}")
