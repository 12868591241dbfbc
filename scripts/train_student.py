"""Train one student (rules/student.smk: student_train). Under several GPUs (student.gpus > 1)
re-launches itself through torchrun (DDP, one process per GPU)."""
import json
import os
import subprocess
import sys
from pathlib import Path

from swejepa.runtime import set_threads, setup_logging
from swejepa.student.data import load_student_data
from swejepa.student.train import Interrupted, train_student

log = setup_logging(snakemake.log[0])
p = snakemake.params
out_dir = Path(snakemake.output.final).parent
resume_dir = out_dir / "_resume"
if int(p.gpus) > 1 and "WORLD_SIZE" not in os.environ:
    spec = out_dir / "_resume" / "torchrun_job.json"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(json.dumps({"cfg": dict(p.cfg), "latents": list(snakemake.input.latents),
                                "out_dir": str(out_dir), "resume_dir": str(resume_dir), "seed": p.seed,
                                "time_budget_s": p.time_budget_s}))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={int(p.gpus)}",
           "-m", "swejepa.student.train", str(spec)]
    log.info("launching DDP: %s", " ".join(cmd))
    sys.exit(subprocess.call(cmd))

set_threads(snakemake.threads)
cfg = dict(p.cfg)
data = load_student_data(snakemake.input.latents, cfg.get("mask", "ast"), cfg.get("target_layer", "last"))
try:
    train_student(cfg, data, out_dir, resume_dir=resume_dir, seed=p.seed, time_budget_s=p.time_budget_s, log=log)
except Interrupted as e:
    log.warning("stopped early (%s); resume state in %s; exiting %d so the retry resumes", e, resume_dir,
                e.exit_code)
    sys.exit(e.exit_code)
