"""Rule student_train: train one student. Under several GPUs (student.gpus > 1) it
re-launches itself through torchrun (DDP, one process per GPU)."""
import json
import os
import subprocess
import sys
from pathlib import Path

from swejepa.layout import Layout
from swejepa.runtime import set_threads, setup_logging
from swejepa.settings import StudentSettings, TeacherSpec
from swejepa.student.targets import load_targets_data
from swejepa.student.train import Interrupted, train_student

log = setup_logging(snakemake.log[0])
p = snakemake.params
out_dir = Path(snakemake.output.final).parent
resume_dir = Path(p.resume_dir)
if int(p.gpus) > 1 and "WORLD_SIZE" not in os.environ:
    spec = resume_dir / "torchrun_job.json"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(json.dumps({"cfg": dict(p.student), "latents": list(snakemake.input.latents),
                                "out_dir": str(out_dir), "resume_dir": str(resume_dir), "seed": p.seed,
                                "time_budget_s": p.time_budget_s, "teacher": dict(p.teacher),
                                "layout": dict(p.layout), "index": int(p.index)}))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={int(p.gpus)}",
           "-m", "swejepa.student.train", str(spec)]
    log.info("launching DDP: %s", " ".join(cmd))
    sys.exit(subprocess.call(cmd))

set_threads(snakemake.threads)
student = StudentSettings.from_dict(p.student)
data = load_targets_data(student, snakemake.input.latents, teacher=TeacherSpec.from_dict(p.teacher),
                         layout=Layout(**p.layout), index=int(p.index))
try:
    train_student(student, data, out_dir, resume_dir=resume_dir, seed=p.seed, time_budget_s=p.time_budget_s, log=log)
except Interrupted as e:
    log.warning("stopped early (%s); resume state in %s; exiting %d so the retry resumes", e, resume_dir,
                e.exit_code)
    sys.exit(e.exit_code)
