"""Experiment 2.2, one sweep point (rules/phase2.smk: phase2_alloc): teacher trained (or a
pretrained one fine-tuned) with its share of the FLOPs budget, its targets for the
student's subset, student with the rest."""
from pathlib import Path

from swejepa.phase2.run import alloc_point, read_regions, read_train_records
from swejepa.runtime import set_threads, setup_logging
from swejepa.student.data import load_student_data
from swejepa.teachers.registry import load_tokenizer_from_dir

log = setup_logging(snakemake.log[0])
set_threads(snakemake.threads)
i, p = snakemake.input, snakemake.params
cfg = dict(p.cfg)
alloc_point(entry=dict(p.entry), records=read_train_records(i.files, "train"), regions=read_regions(i.regions),
            val_records=read_train_records(i.files, "val"),
            tokenizer=load_tokenizer_from_dir(i.tokenizer) if i.get("tokenizer") else None,
            ref=load_student_data(i.latents, cfg.get("mask", "ast"), cfg.get("target_layer", "last")),
            student_cfg=cfg, total_flops=float(p.total_flops), fraction=int(p.pct) / 100.0,
            target_layer=cfg.get("target_layer", "last"), seed=int(p.seed),
            out_dir=Path(snakemake.output.final).parent, max_regions=p.max_regions,
            teacher_device=(p.entry.get("training") or {}).get("device", "auto"),
            results_dir=p.results_dir, index=int(p.index))
