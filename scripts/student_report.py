"""Experiment 1.1/1.2 tables, figures and macros (rules/student.smk: student_report)."""
from swejepa.runtime import setup_logging
from swejepa.student.report import build_report

log = setup_logging(snakemake.log[0])
i, o, p = snakemake.input, snakemake.output, snakemake.params
mac = build_report([tuple(s) for s in p.students], i.metrics, i.summaries, i.success, i.checkpoints,
                   dict(p.design), p.ablation_teacher,
                   {"summary": o.summary, "correlation": o.correlation, "points": o.points,
                    "table11": o.tables[0], "table12": o.tables[1], "figure11": o.figures[0],
                    "figure12": o.figures[1], "macros": o.macros[0]})
log.info("macros: %s", mac)
