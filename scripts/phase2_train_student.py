"""Experiment 2.1: a student for (teacher, seed) not trained by the student stage
(rules/phase2.smk: phase2_train_student). Same config as the student stage's `main`."""
from pathlib import Path

from swejepa.phase2.run import train_seed_student
from swejepa.runtime import set_threads, setup_logging
from swejepa.student.data import load_student_data

log = setup_logging(snakemake.log[0])
set_threads(snakemake.threads)
p = snakemake.params
cfg = dict(p.cfg)
data = load_student_data(snakemake.input.latents, cfg.get("mask", "ast"), cfg.get("target_layer", "last"))
train_seed_student(data=data, student_cfg=cfg, seed=int(p.seed), out_dir=Path(snakemake.output.final).parent)
