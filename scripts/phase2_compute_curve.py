"""Rule phase2_compute_curve (Experiment 2.2): a student on the targets of one teacher snapshot."""
from pathlib import Path

from swejepa.phase2.compute import compute_curve
from swejepa.runtime import set_threads, setup_logging
from swejepa.settings import StudentSettings
from swejepa.student.targets import load_targets_data

log = setup_logging(snakemake.log[0])
set_threads(snakemake.threads)
i, p = snakemake.input, snakemake.params
student = StudentSettings.from_dict(p.student)
compute_curve(teacher_dir=Path(i.teachers) / f"step{snakemake.wildcards.step}",
              ref=load_targets_data(student, i.latents, attach=False), student=student,
              seed=int(p.seed), out_dir=Path(snakemake.output.final).parent, max_regions=p.max_regions,
              device=p.device)
