"""Rule student_eval: the seed's success check and Experiment 1.2's per-checkpoint metrics of one student."""
from swejepa.layout import Layout
from swejepa.runtime import set_threads, setup_logging
from swejepa.settings import ProbeSettings, RetrievalSettings, StudentEval, StudentSettings, TeacherSpec, VerdictSettings
from swejepa.student.jobs import evaluate_student

log = setup_logging(snakemake.log[0])
set_threads(snakemake.threads)
i, o, p = snakemake.input, snakemake.output, snakemake.params
evaluate_student(student=StudentSettings.from_dict(p.student), evaluation=StudentEval.from_dict(p.eval),
                 probes=ProbeSettings.from_dict(p.probes), retrieval=RetrievalSettings.from_dict(p.retrieval),
                 latents=list(i.latents), final=i.final, ckpt_dir=i.ckpts, all_checkpoints=bool(p.all_checkpoints),
                 bench_items=i.bench_items, regions_csv=i.regions, properties_csv=i.properties,
                 teacher=TeacherSpec.from_dict(p.teacher), teacher_index=int(p.teacher_index),
                 layout=Layout(**p.layout), seed=int(p.seed), out_success=o.success,
                 out_checkpoints=o.checkpoints, log=log, ci=VerdictSettings.from_dict(p.ci))
