"""Success check and Experiment 1.2 per-checkpoint metrics of one student
(rules/student.smk: student_eval)."""
import json
from pathlib import Path

import numpy as np

from swejepa.runtime import set_threads, setup_logging
from swejepa.student.run import evaluate_student

log = setup_logging(snakemake.log[0])
set_threads(snakemake.threads)
i, o, p = snakemake.input, snakemake.output, snakemake.params
evaluate_student(cfg=dict(p.cfg), eval_cfg=dict(p.eval), probe_cfg=dict(p.probes), latents=list(i.latents),
                 final=i.final, ckpt_dir=i.ckpts, all_checkpoints=bool(p.all_checkpoints),
                 bench_items=i.bench_items, regions_csv=i.regions, properties_csv=i.properties,
                 teacher_entry=dict(p.teacher_entry), teacher_index=int(p.teacher_index),
                 results_dir=p.results_dir, seed=int(p.seed), out_success=o.success,
                 out_checkpoints=o.checkpoints, log=log)
