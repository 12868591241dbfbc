"""Rule student_report: Experiment 1.1/1.2 tables, figures and macros."""
from swejepa.runtime import setup_logging
from swejepa.settings import VerdictSettings
from swejepa.student.report import build_report

log = setup_logging(snakemake.log[0])
i, o, p = snakemake.input, snakemake.output, snakemake.params
mac = build_report([tuple(s) for s in p.students], i.metrics, i.summaries, i.success, i.checkpoints,
                   dict(p.design), p.ablation_teacher,
                   {"summary": o.summary, "correlation": o.correlation, "points": o.points,
                    "table11": o.table11, "table11_ablation": o.table11_ablation,
                    "table11_grid": o.table11_grid, "table12": o.table12, "figure11": o.figure11[0],
                    "figure12": o.figure12[0], "macros": o.macros, "criterion": o.criterion,
                    "verdicts": o.verdicts},
                   verdicts=VerdictSettings.from_dict(p.verdicts), seed=int(p.seed),
                   random_teachers=list(p.random_teachers), variant_kinds=dict(p.variant_kinds))
log.info("macros: %s", mac)
