"""Rule phase2_eval: Phase-0 retrieval and probes on one Phase-2 student's representations.
``input.final`` absent = the untrained student."""
from swejepa.layout import Layout
from swejepa.phase2.evaluate import evaluate_job
from swejepa.runtime import set_threads, setup_logging
from swejepa.settings import ProbeSettings, RetrievalSettings, StudentEval, StudentSettings, TeacherSpec

log = setup_logging(snakemake.log[0])
set_threads(snakemake.threads)
i, p = snakemake.input, snakemake.params
evaluate_job(final=i.get("final"), latents=list(i.latents), items_path=i.bench_items, regions_csv=i.regions,
             properties_csv=i.properties, teacher=TeacherSpec.from_dict(p.teacher), index=int(p.index),
             layout=Layout(**p.layout), student=StudentSettings.from_dict(p.student),
             evaluation=StudentEval.from_dict(p.eval), probes=ProbeSettings.from_dict(p.probes),
             retrieval=RetrievalSettings.from_dict(p.retrieval), seed=int(p.seed), ident=dict(p.ident),
             out_json=snakemake.output.json)
