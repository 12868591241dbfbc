"""Rule phase2_teachers_train (Experiment 2.1): a student for a (teacher, seed) the student
stage does not train; the student stage's `main` recipe."""
from pathlib import Path

from swejepa.layout import Layout
from swejepa.phase2.teachers import seed_student
from swejepa.runtime import set_threads, setup_logging
from swejepa.settings import StudentSettings, TeacherSpec
from swejepa.student.targets import load_targets_data

log = setup_logging(snakemake.log[0])
set_threads(snakemake.threads)
p = snakemake.params
student = StudentSettings.from_dict(p.student)
data = load_targets_data(student, snakemake.input.latents, teacher=TeacherSpec.from_dict(p.teacher),
                         layout=Layout(**p.layout), index=int(p.index))
seed_student(data=data, student=student, seed=int(p.seed), out_dir=Path(snakemake.output.final).parent)
