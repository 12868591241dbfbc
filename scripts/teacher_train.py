"""Rule teacher_train: Stage 1, a tiny Qwen2 trained with fill-in-the-middle on the train split.
Stops before the job's time limit (or on SIGTERM/SIGUSR1) with resume state in
results/teachers/{t}/_resume/ and exit status 75; the retry resumes from it."""
import json
import os
import sys

import pandas as pd

from swejepa.corpus import read_files
from swejepa.runtime import pick_device, set_threads, setup_logging, write_text_atomic
from swejepa.settings import TeacherSpec
from swejepa.teachers.registry import load_tokenizer_from_dir
from swejepa.teachers.train import train_teacher, write_metrics
from swejepa.training import Interrupted

log = setup_logging(snakemake.log[0])
set_threads(snakemake.threads)
p = snakemake.params
teacher = TeacherSpec.from_dict(p.teacher)
tok = load_tokenizer_from_dir(snakemake.input.tokenizer)
train = [r for r in read_files(snakemake.input.files) if r["split"] == "train"]
regions = pd.read_csv(snakemake.input.regions, usecols=["file_id", "split", "body_start_char", "body_end_char"],
                      keep_default_na=False)
regions = regions[regions["split"] == "train"]
device = pick_device(teacher.training.device)
try:
    model, rows, info = train_teacher(teacher, train, regions, tok, seed=p.seed, device=device,
                                      out_dir=os.path.dirname(snakemake.output.model), resume_dir=p.resume_dir,
                                      time_budget_s=p.time_budget_s, log=log.info)
except Interrupted as e:
    log.warning("stopped early (%s); resume state in %s; exiting %d so the retry resumes", e, p.resume_dir,
                e.exit_code)
    sys.exit(e.exit_code)
write_metrics(rows, snakemake.output.metrics)
info["device"] = device
write_text_atomic(snakemake.output.info, json.dumps(info, indent=1, default=float) + "\n")
log.info("trained %s: %s", teacher.name, info)
