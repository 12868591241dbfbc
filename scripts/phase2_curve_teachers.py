"""Experiment 2.2, undertrained-teacher curve (rules/phase2.smk: phase2_curve_teachers):
the compute teacher's run (Stage 1, or fine-tuning of a pretrained teacher) replayed up
to its snapshot steps."""
from pathlib import Path

from swejepa.phase2.run import curve_teachers, read_regions, read_train_records
from swejepa.runtime import set_threads, setup_logging
from swejepa.teachers.registry import load_tokenizer_from_dir

log = setup_logging(snakemake.log[0])
set_threads(snakemake.threads)
i, p = snakemake.input, snakemake.params
curve_teachers(entry=dict(p.entry), records=read_train_records(i.files, "train"), regions=read_regions(i.regions),
               val_records=read_train_records(i.files, "val"),
               tokenizer=load_tokenizer_from_dir(i.tokenizer) if i.get("tokenizer") else None,
               snapshot_steps=list(p.steps), seed=int(p.seed), out_dir=Path(snakemake.output.curve),
               final_model_dir=Path(i.final_model).parent if i.get("final_model") else None,
               device=(p.entry.get("training") or {}).get("device", "auto"),
               results_dir=p.results_dir, index=int(p.index))
