"""Experiment 2.2, a student on the targets of one teacher snapshot
(rules/phase2.smk: phase2_curve_student)."""
from pathlib import Path

from swejepa.phase2.run import curve_student
from swejepa.runtime import set_threads, setup_logging
from swejepa.student.data import load_student_data

log = setup_logging(snakemake.log[0])
set_threads(snakemake.threads)
i, p = snakemake.input, snakemake.params
cfg = dict(p.cfg)
curve_student(teacher_dir=Path(i.teachers) / f"step{snakemake.wildcards.step}",
              ref=load_student_data(i.latents, cfg.get("mask", "ast"), cfg.get("target_layer", "last")),
              student_cfg=cfg, target_layer=cfg.get("target_layer", "last"), seed=int(p.seed),
              out_dir=Path(snakemake.output.final).parent, max_regions=p.max_regions, device=p.device)
