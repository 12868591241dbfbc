"""Rule phase2_compute_point (Experiment 2.2, one sweep point): the teacher trained (or a
pretrained one fine-tuned) with its share of the FLOPs budget, its targets for the
student's subset, the student with the rest."""
from pathlib import Path

from swejepa.layout import Layout
from swejepa.phase2.common import read_regions, read_train_records
from swejepa.phase2.compute import compute_point
from swejepa.runtime import set_threads, setup_logging
from swejepa.settings import ComputeSettings, StudentSettings, TeacherSpec
from swejepa.student.targets import load_targets_data
from swejepa.teachers.registry import load_tokenizer_from_dir

log = setup_logging(snakemake.log[0])
set_threads(snakemake.threads)
i, p = snakemake.input, snakemake.params
student = StudentSettings.from_dict(p.student)
compute_point(teacher=TeacherSpec.from_dict(p.teacher), records=read_train_records(i.files, "train"),
              regions=read_regions(i.regions), val_records=read_train_records(i.files, "val"),
              tokenizer=load_tokenizer_from_dir(i.tokenizer) if i.get("tokenizer") else None,
              ref=load_targets_data(student, i.latents, attach=False), student=student,
              compute=ComputeSettings.from_dict(p.compute), fraction=int(p.pct) / 100.0, seed=int(p.seed),
              out_dir=Path(snakemake.output.final).parent, layout=Layout(**p.layout), index=int(p.index))
